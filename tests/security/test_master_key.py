"""Where the master key comes from: a KMS hook, the environment, a file; a wrong key is refused."""

from __future__ import annotations

import sys
import textwrap

import pytest

from lextune.core.config import Settings
from lextune.core.store import Store
from lextune.security.master_key import MasterKeyError

# A stand-in KMS: the key never reaches lextune, only wrap/unwrap calls do (counted, to see them used).
KMS = textwrap.dedent("""
    import os
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    CALLS = {"wrap": 0, "unwrap": 0}
    _KEY = bytes(range(32))

    class ToyKms:
        key_id = "toy-kms-key-1"

        def wrap(self, data_key):
            CALLS["wrap"] += 1
            nonce = os.urandom(12)
            return nonce + AESGCM(_KEY).encrypt(nonce, data_key, b"toy")

        def unwrap(self, blob):
            CALLS["unwrap"] += 1
            return AESGCM(_KEY).decrypt(blob[:12], blob[12:], b"toy")

    def provider(settings):
        return ToyKms()
""")


def test_a_kms_hook_wraps_the_data_keys(tmp_path, monkeypatch):
    (tmp_path / "toy_kms.py").write_text(KMS, encoding="utf-8")
    monkeypatch.syspath_prepend(str(tmp_path))
    settings = Settings(home=tmp_path / "home", key_provider="toy_kms:provider")
    store = Store(settings)
    with store.session():
        pass
    kms = sys.modules["toy_kms"]
    assert kms.CALLS["wrap"] == 2  # the index key and the first data key, wrapped by the KMS
    assert not (tmp_path / "home" / "keys" / "master.key").exists()  # no local master key was made
    store.close()
    reopened = Store(settings)
    assert kms.CALLS["unwrap"] >= 2 and reopened.keyring.active == store.keyring.active
    reopened.close()
    with pytest.raises(MasterKeyError, match="cannot import"):
        Store(Settings(home=tmp_path / "other", key_provider="no_such_module:provider"))


def test_a_master_key_from_the_environment_and_a_wrong_one(tmp_path):
    right, wrong = "11" * 32, "22" * 32
    Store(Settings(home=tmp_path / "home", master_key=right)).close()
    assert not (tmp_path / "home" / "keys" / "master.key").exists()
    with pytest.raises(MasterKeyError, match="wrapped by master key") as err:
        Store(Settings(home=tmp_path / "home", master_key=wrong))
    assert right not in str(err.value) and wrong not in str(err.value)  # errors never echo key material
    with pytest.raises(MasterKeyError, match="needs 32"):
        Store(Settings(home=tmp_path / "short", master_key="33" * 16))
