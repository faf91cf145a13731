"""Column types that seal their value on the way into the database and open it on the way out.

The store puts its keyring on its engine's dialect (one engine per store, so per tenant); these types
find it there, so ORM code reads and writes plain strings while the database holds only ciphertext.
There is no plaintext fallback: an engine without a keyring refuses to write or read a sealed column.
Sealing is randomised (a fresh nonce each time): sealed columns cannot be compared in SQL; lookups
use blind indexes (Keyring.blind) beside them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Text
from sqlalchemy.types import TypeDecorator

from lextune.security.keyring import CiphertextError, Keyring

KEYRING_ATTR = "lextune_keyring"


def keyring_of(dialect: Any) -> Keyring:
    keyring = getattr(dialect, KEYRING_ATTR, None)
    if keyring is None:
        raise CiphertextError("this database engine has no keyring: open it through lextune.core.store.Store")
    return keyring


class SealedText(TypeDecorator):
    """Text sealed with AES-GCM; `place` ("table.column") is the associated data and names errors."""

    impl = Text
    cache_ok = True

    def __init__(self, place: str):
        super().__init__()
        self.place = place

    def process_bind_param(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).seal_text(value, self.place)

    def process_result_value(self, value: str | None, dialect: Any) -> str | None:
        if value is None:
            return None
        return keyring_of(dialect).open_text(value, self.place)


class SealedJSON(TypeDecorator):
    """A JSON value sealed as text (same as SealedText, for dict/list columns)."""

    impl = Text
    cache_ok = True

    def __init__(self, place: str):
        super().__init__()
        self.place = place

    def process_bind_param(self, value: Any, dialect: Any) -> str | None:
        if value is None:
            return None
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)
        return keyring_of(dialect).seal_text(text, self.place)

    def process_result_value(self, value: str | None, dialect: Any) -> Any:
        if value is None:
            return None
        return json.loads(keyring_of(dialect).open_text(value, self.place))
