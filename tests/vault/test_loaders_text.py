"""Plain text in any common encoding; binary files with a text extension; mixed encodings."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from lextune.core.errors import IngestError
from lextune.vault.loaders import load_path

CP1252_TEXT = (
    "SECTION 4. FEES\n\nThe Licensee’s fee is €1,200 per year – payable “in advance” under § 4.2.\n"
    "Déjà-vu clauses are void.\n"
)
LATIN1_TEXT = "§ 3 Übergabe\n\nDie Größe der Fläche beträgt 120 m²; der Käufer zahlt 5 £ pro Jahr.\n"
SJIS_TEXT = "第一条（目的）\n本契約は、甲と乙の間の業務委託に関する基本的事項を定めるものとする。\n"
GB18030_TEXT = "第一条 合同目的\n本合同由甲乙双方在平等自愿的基础上签订，双方应当遵守。\n"


def _load(tmp_path: Path, name: str, raw: bytes):
    path = tmp_path / name
    path.write_bytes(raw)
    return path, load_path(path)


@pytest.mark.parametrize(
    ("text", "codec", "expected_encoding"),
    [
        (CP1252_TEXT, "cp1252", "cp1252"),
        # Latin-1 bytes are read as cp1252, their superset for printable text (what browsers do too).
        (LATIN1_TEXT, "latin-1", "cp1252"),
        (SJIS_TEXT, "shift_jis", "cp932"),
        (GB18030_TEXT, "gb18030", "gb18030"),
        ("Umowa zawarta między Spółką a Zleceniobiorcą, zwanym dalej Wykonawcą.\n", "cp1250", "cp1250"),
    ],
)
def test_legacy_encodings_are_detected(tmp_path: Path, text: str, codec: str, expected_encoding: str) -> None:
    _, result = _load(tmp_path, "contract.txt", text.encode(codec))
    [doc] = result.documents
    assert doc.text == text
    assert doc.metadata == {"encoding": expected_encoding}
    assert result.warnings == []


@pytest.mark.parametrize(
    ("prefix", "codec", "expected"),
    [
        (codecs.BOM_UTF16_LE, "utf-16-le", "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16-be", "utf-16"),
        (codecs.BOM_UTF32_LE, "utf-32-le", "utf-32"),
        (b"", "utf-16-le", "utf-16-le"),  # no BOM: every other byte NUL gives it away
    ],
)
def test_utf16_and_utf32(tmp_path: Path, prefix: bytes, codec: str, expected: str) -> None:
    _, result = _load(tmp_path, "memo.txt", prefix + LATIN1_TEXT.encode(codec))
    [doc] = result.documents
    assert (doc.text, doc.metadata["encoding"]) == (LATIN1_TEXT, expected)


def test_broken_utf16_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "odd.txt"
    path.write_bytes(codecs.BOM_UTF16_LE + "Clause".encode("utf-16-le") + b"\x00")  # odd byte count
    with pytest.raises(IngestError, match=r"not valid UTF-16 text \(byte 14\)"):
        load_path(path)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x01", "(NUL byte at offset 8)"),
        (bytes(range(1, 32)) * 4 + b"some text", "control bytes in"),
    ],
)
def test_binary_file_with_text_extension(tmp_path: Path, raw: bytes, detail: str) -> None:
    path = tmp_path / "image.txt"
    path.write_bytes(raw)
    with pytest.raises(IngestError) as info:
        load_path(path)
    assert info.value.reason.startswith("binary data, not text")
    assert detail in info.value.reason


def test_mixed_utf8_and_cp1252_lines(tmp_path: Path) -> None:
    lines = [
        "§ 1 Gegenstand",
        "Die Größe der Fläche beträgt 120 m².",
        "Der Preis beträgt 5 € – zahlbar „sofort“.",  # saved as cp1252 by another editor
        "Übergabe am 1. März.",
        "Kosten trägt der Käufer.",
        "Nebenkosten: 30 € monatlich.",  # cp1252 again
        "Gerichtsstand ist München.",
    ]
    raw = b"\n".join(
        line.encode("cp1252") if number in (2, 5) else line.encode("utf-8") for number, line in enumerate(lines)
    )
    path, result = _load(tmp_path, "mixed.txt", raw)
    [doc] = result.documents
    assert doc.text == "\n".join(lines)
    assert doc.metadata == {"encoding": "utf-8", "fallback_encoding": "cp1252", "fallback_lines": 2}
    assert result.warnings == [f"{path}: 2 line(s) not valid UTF-8 (lines 3, 6); decoded them as cp1252"]
    assert "\ufffd" not in doc.text


def test_mostly_cp1252_with_a_utf8_line_is_warned(tmp_path: Path) -> None:
    raw = CP1252_TEXT.encode("cp1252") + "Größe: 120 m².\n".encode()
    path, result = _load(tmp_path, "legacy.txt", raw)
    [doc] = result.documents
    assert doc.metadata == {"encoding": "cp1252"}
    assert doc.text.startswith(CP1252_TEXT)
    assert result.warnings == [
        f"{path}: 1 line(s) are valid UTF-8 but most of the file is cp1252; decoded the whole file as cp1252"
    ]


@pytest.mark.parametrize("name", ["notes.text", "NOTES.TXT"])
def test_text_suffixes(tmp_path: Path, name: str) -> None:
    _, result = _load(tmp_path, name, b"Plain ASCII.\n")
    [doc] = result.documents
    assert (doc.format, doc.metadata) == ("txt", {"encoding": "utf-8"})


def test_form_feeds_and_tabs_are_text(tmp_path: Path) -> None:
    text = "ARTICLE 1\tDEFINITIONS\n" * 5 + "\f" + "ARTICLE 2\tTERM\n" * 5
    _, result = _load(tmp_path, "export.txt", text.encode())
    assert result.documents[0].text == text
