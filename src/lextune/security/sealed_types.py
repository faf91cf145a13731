"""Column types that seal their value on the way into the database and open it on the way out.

The store puts its keyring on its engine's dialect (one engine per store, so per tenant); these types
find it there, so ORM code reads and writes plain strings while the database holds only ciphertext.
There is no plaintext fallback: an engine without a keyring refuses to write or read a sealed column.
Sealing is randomised (a fresh nonce each time): sealed columns cannot be compared in SQL; lookups
use blind indexes (Keyring.blind) beside them.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from sqlalchemy import JSON, LargeBinary, Text
from sqlalchemy.types import TypeDecorator

from lextune.security.keyring import TEXT_PREFIX, CiphertextError, Keyring

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



def _raw(dialect: Any) -> bool:
    """Whether the database stores any value in any column (SQLite): then a sealed value is stored as the
    same "lxe1:..." text as SealedText's whatever the declared type, so key rotation reads every sealed
    column alike."""
    return dialect.name == "sqlite"


class SealedJSONColumn(SealedJSON):
    """SealedJSON in a column declared JSON (documents.metadata, chunks.heading_path...), which keeps its
    type, so the migrations stand as they are: PostgreSQL stores the ciphertext as a JSON string (its json
    type checks values), SQLite as SealedText's plain text."""

    impl = JSON
    cache_ok = True

    def bind_processor(self, dialect: Any):
        if not _raw(dialect):
            return super().bind_processor(dialect)
        return lambda value: self.process_bind_param(value, dialect)

    def result_processor(self, dialect: Any, coltype: Any):
        if not _raw(dialect):
            return super().result_processor(dialect, coltype)
        return lambda value: self.process_result_value(value, dialect)


class SealedBytes(SealedText):
    """Bytes sealed with AES-GCM (embeddings: a vector can be inverted to approximate its text).

    A SealedText underneath (the "lxe1:..." text: in the BLOB column itself on SQLite, as its ASCII bytes
    in bytea on PostgreSQL), so key rotation finds, counts and re-seals it with the other sealed columns."""

    impl = LargeBinary
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Any) -> Any:
        if value is None:
            return None
        sealed = TEXT_PREFIX + base64.urlsafe_b64encode(keyring_of(dialect).seal(bytes(value), self.place)).decode()
        return sealed if _raw(dialect) else sealed.encode("ascii")

    def process_result_value(self, value: Any, dialect: Any) -> bytes | None:
        if value is None:
            return None
        sealed = bytes(value).decode("ascii", "replace") if isinstance(value, bytes | memoryview) else value
        if not sealed.startswith(TEXT_PREFIX):
            raise CiphertextError(f"{self.place}: value is not sealed (plaintext where ciphertext belongs)")
        try:
            blob = base64.urlsafe_b64decode(sealed[len(TEXT_PREFIX):])
        except ValueError:
            raise CiphertextError(f"{self.place}: sealed value is not valid base64 (corrupted)") from None
        return keyring_of(dialect).open(blob, self.place)

    def bind_processor(self, dialect: Any):
        if not _raw(dialect):
            return super().bind_processor(dialect)
        return lambda value: self.process_bind_param(value, dialect)

    def result_processor(self, dialect: Any, coltype: Any):
        if not _raw(dialect):
            return super().result_processor(dialect, coltype)
        return lambda value: self.process_result_value(value, dialect)
