"""A store's keyring: its data keys, unwrapped by the master key, and sealing with AES-256-GCM.

Envelope encryption: each store (one per tenant) has its own random data keys; only wrapped copies are
stored (data_keys table). A sealed value names the data key that sealed it, so rotation adds a key
without re-encrypting first, and records sealed with older keys stay readable until re-encrypted.
The associated data binds a ciphertext to its place (table.column or file kind): a ciphertext moved
to another column or file fails to open instead of being read as that column's value.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import threading
from collections.abc import Callable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from lextune.core.errors import LextuneError

TEXT_PREFIX = "lxe1:"  # a sealed text column value: prefix + urlsafe base64(key id, nonce, ciphertext)
FILE_MAGIC = b"LXENC1\n"  # a sealed file: magic + key id + nonce + ciphertext
_KEY_ID_BYTES = 8


class CiphertextError(LextuneError):
    """A sealed record failed to open: corrupted, tampered with, or sealed by an unknown key."""


class Keyring:
    """Data keys by id; `active` seals new records. `reload` is called once on an unknown key id
    (another process rotated keys while this one ran)."""

    def __init__(self, keys: dict[str, bytes], active: str, index_key: bytes,
                 reload: Callable[[], Keyring] | None = None):
        self._aeads = {kid: AESGCM(k) for kid, k in keys.items()}
        self.active = active
        # Blind indexes (FTS tokens, lookup hashes) use their own key, never rotated with the data keys:
        # rotating it would mean re-indexing every chunk.
        self.index_key = index_key
        self._reload = reload
        self._lock = threading.Lock()

    @property
    def key_ids(self) -> list[str]:
        return list(self._aeads)

    def _aead(self, kid: str, where: str) -> AESGCM:
        aead = self._aeads.get(kid)
        if aead is None and self._reload is not None:
            self.refresh()
            aead = self._aeads.get(kid)
        if aead is None:
            raise CiphertextError(f"{where}: sealed with data key {kid}, which this store does not have")
        return aead

    def refresh(self) -> None:
        """Adopt the store's keys as they are now: keys added by a rotation, and its active key (so this
        process seals with the new key from then on). Older keys stay: what they sealed still opens."""
        if self._reload is None:
            return
        with self._lock:
            fresh = self._reload()
            self._aeads.update(fresh._aeads)
            self.active = fresh.active

    def seal(self, data: bytes, aad: str) -> bytes:
        nonce = os.urandom(12)
        kid = bytes.fromhex(self.active)
        return kid + nonce + self._aeads[self.active].encrypt(nonce, data, aad.encode())

    def open(self, blob: bytes, aad: str, where: str | None = None) -> bytes:
        where = where or aad
        if len(blob) < _KEY_ID_BYTES + 12 + 16:
            raise CiphertextError(f"{where}: sealed value is truncated ({len(blob)} bytes)")
        kid = blob[:_KEY_ID_BYTES].hex()
        try:
            return self._aead(kid, where).decrypt(blob[_KEY_ID_BYTES:_KEY_ID_BYTES + 12],
                                                  blob[_KEY_ID_BYTES + 12:], aad.encode())
        except InvalidTag:
            raise CiphertextError(f"{where}: ciphertext failed authentication (corrupted or tampered with)") from None

    def key_of(self, blob: bytes) -> str:
        return blob[:_KEY_ID_BYTES].hex()

    def seal_text(self, value: str, aad: str) -> str:
        return TEXT_PREFIX + base64.urlsafe_b64encode(self.seal(value.encode("utf-8"), aad)).decode("ascii")

    def open_text(self, value: str, aad: str, where: str | None = None) -> str:
        if not value.startswith(TEXT_PREFIX):
            raise CiphertextError(f"{where or aad}: value is not sealed (plaintext where ciphertext belongs)")
        try:
            blob = base64.urlsafe_b64decode(value[len(TEXT_PREFIX):].encode("ascii"))
        except (ValueError, UnicodeEncodeError):
            raise CiphertextError(f"{where or aad}: sealed value is not valid base64 (corrupted)") from None
        return self.open(blob, aad, where).decode("utf-8")

    def text_key_of(self, value: str) -> str | None:
        if not value.startswith(TEXT_PREFIX):
            return None
        return base64.urlsafe_b64decode(value[len(TEXT_PREFIX):len(TEXT_PREFIX) + 12].encode("ascii"))[:_KEY_ID_BYTES].hex()

    def seal_file_bytes(self, data: bytes, aad: str) -> bytes:
        return FILE_MAGIC + self.seal(data, aad)

    def open_file_bytes(self, blob: bytes, aad: str, where: str) -> bytes:
        if not blob.startswith(FILE_MAGIC):
            raise CiphertextError(f"{where}: not a sealed lextune file")
        return self.open(blob[len(FILE_MAGIC):], aad, where)

    def blind(self, token: str) -> str:
        """A keyed, deterministic stand-in for `token` (equality survives, the text does not)."""
        digest = hmac.new(self.index_key, token.encode("utf-8"), hashlib.sha256).digest()[:10]
        return base64.b32encode(digest).decode("ascii").lower()


def new_key_id() -> str:
    return os.urandom(_KEY_ID_BYTES).hex()
