"""The anonymizer runs with no network: sockets fail, the e-mail recognizer still validates domains
from tldextract's bundled suffix list, and spaCy is loaded from the installed package."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from lextune.vault.pii import engine

_SCRIPT = textwrap.dedent("""
    import json, socket, sys

    attempts = []

    def refuse(*args, **kwargs):
        attempts.append(repr(args[:2]))
        raise OSError("network disabled in this test")

    socket.socket.connect = refuse
    socket.socket.connect_ex = refuse
    socket.create_connection = refuse
    socket.getaddrinfo = refuse

    from lextune.vault.pii import Anonymizer

    text = "Notices to Zorblax Holdings LLC, attention Jane Roe, at jane.roe@zorblax.co.uk or www.zorblax.com."
    reds = Anonymizer().redactions(text)
    print(json.dumps({"attempts": attempts, "found": {r.original: r.entity_type for r in reds}}))
""")


def test_no_network_is_attempted(tmp_path):
    # A fresh process with an empty HOME: nothing cached by tldextract, every socket call fails.
    env = {"HOME": str(tmp_path), "PATH": "/usr/bin:/bin", "TLDEXTRACT_CACHE": str(tmp_path / "tld")}
    proc = subprocess.run([sys.executable, "-c", _SCRIPT], check=False, capture_output=True, text=True, env=env,
                          timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["attempts"] == []
    assert result["found"]["jane.roe@zorblax.co.uk"] == "EMAIL_ADDRESS"
    assert result["found"]["Zorblax Holdings LLC"] == "PARTY"
    assert not (tmp_path / "tld").exists()  # and nothing written to a cache


def test_email_validation_uses_the_bundled_suffix_list(monkeypatch):
    import socket

    def refuse(*args, **kwargs):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    rec = engine.OfflineEmailRecognizer()
    assert rec.validate_result("a.b@example.co.uk") is True
    assert rec.validate_result("someone@localhost") is False
