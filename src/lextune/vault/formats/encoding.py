"""Decode text in any common encoding, refuse binary data, and warn about every fallback.

Order: a BOM, then strict UTF-8 (valid UTF-8 with non-ASCII text is never an accident, whatever a page
declares), then the encoding a document declares (HTML, e-mail), then line-by-line UTF-8 with a detected
legacy encoding for the bad lines (mixed files), then whole-file detection with charset-normalizer.
Nothing is replaced by U+FFFD without a warning.
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lextune.core.errors import IngestError

BINARY = "binary data, not text"
# Tab, line feed, vertical tab, form feed (page breaks in exported text), carriage return, DOS end-of-file.
_ALLOWED_CONTROLS = b"\t\n\v\f\r\x1a"
_CONTROL_BYTES = bytes(b for b in [*range(0x20), 0x7F] if b not in _ALLOWED_CONTROLS)
_MAX_CONTROL_SHARE = 0.05
# UTF-32 first: its little-endian BOM starts with UTF-16's.
_BOMS = (
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
# Detection looks at this much (cut at a line end); the chosen encoding then decodes the whole file.
_DETECT_BYTES = 256 * 1024
_SCORE_CHARS = 20_000
# charset-normalizer's chaos score is noisy (mac_roman 0.0 vs cp1252 0.07 on plain cp1252 prose), so every
# candidate this close to the best is re-ranked.
_CHAOS_SLACK = 0.15
_NON_ASCII_TOKEN = re.compile(r"\S*[^\x00-\x7f]\S*")
_ASCII_PUNCTUATION = "!\"#%&'()*+,-./:;<=>?@[\\]^_`{|}~"
_SYMBOLS = ("So", "Sm", "Sc", "Sk", "No", "Po")
_EAST_ASIAN = {"CJK", "HIRAGANA", "KATAKANA", "HANGUL", "HALFWIDTH", "FULLWIDTH", "IDEOGRAPHIC", "BOPOMOFO"}
_MAX_LINES_SHOWN = 5
# The Windows code page office files in a language were saved in, where it is not cp1252 ('ř' in cp1250 is
# 'ø' in cp1252: both are letters, so only the language tells them apart).
_LANGUAGE_CODE_PAGE = {
    **dict.fromkeys(("Czech", "Slovak", "Polish", "Hungarian", "Croatian", "Slovene", "Romanian"), "cp1250"),
    **dict.fromkeys(("Russian", "Ukrainian", "Bulgarian", "Serbian", "Belarusian"), "cp1251"),
    "Greek": "cp1253", "Turkish": "cp1254", "Hebrew": "cp1255", "Arabic": "cp1256", "Farsi": "cp1256",
    **dict.fromkeys(("Lithuanian", "Latvian", "Estonian"), "cp1257"), "Vietnamese": "cp1258",
}


@dataclass
class Decoded:
    """Decoded text, the encoding that produced it, and warnings about any fallback."""

    text: str
    encoding: str
    warnings: list[str] = field(default_factory=list)
    # Set for mixed files: the legacy encoding used for lines that were not valid UTF-8, and how many.
    fallback_encoding: str | None = None
    fallback_lines: int = 0

    def metadata(self) -> dict[str, object]:
        """What a document records about how its bytes became text."""
        meta: dict[str, object] = {"encoding": self.encoding}
        if self.fallback_encoding:
            meta["fallback_encoding"] = self.fallback_encoding
            meta["fallback_lines"] = self.fallback_lines
        return meta


def decode_text(path: Path | str, raw: bytes, declared: str | None = None) -> Decoded:
    """Decode `raw` (see the module docstring); raise IngestError for binary data or broken UTF-16/32."""
    for bom, encoding in _BOMS:
        if raw.startswith(bom):
            if encoding == "utf-8-sig":
                return _decode_8bit(path, raw[len(bom) :], None, bom=True)
            return _strict(path, raw, encoding)
    nul = raw.find(b"\x00")
    if nul >= 0:
        utf16 = _bomless_utf16(raw)
        if utf16 is None:
            raise IngestError(path, f"{BINARY} (NUL byte at offset {nul})")
        return _strict(path, raw, utf16)
    return _decode_8bit(path, raw, declared, bom=False)


def charset_codec(label: str | None) -> str | None:
    """A declared charset label as a Python codec name; None if unknown or not usable as a declaration."""
    if not label:
        return None
    try:
        name = codecs.lookup(label.strip()).name
    except LookupError:
        return None
    # Latin-1 and ASCII labels are read as windows-1252, as browsers and mail clients do: the bytes
    # 0x80-0x9F in such files are cp1252 punctuation ("€", curly quotes), not control characters.
    if name in ("latin-1", "iso8859-1", "ascii"):
        return "cp1252"
    # A UTF-16/32 label on bytes without a BOM or NULs is wrong; those encodings are recognised from the bytes.
    return None if name.startswith(("utf-16", "utf-32")) else name


def _strict(path: Path | str, raw: bytes, encoding: str) -> Decoded:
    try:
        return Decoded(raw.decode(encoding), encoding)
    except UnicodeDecodeError as exc:
        raise IngestError(path, f"not valid {encoding.upper()} text (byte {exc.start}): {exc.reason}") from exc


def _bomless_utf16(raw: bytes) -> str | None:
    """'utf-16-le'/'-be' when every other byte is mostly NUL, as in UTF-16 of Latin text without a BOM."""
    half = len(raw) // 2
    if len(raw) % 2 or half == 0:
        return None
    even_nul, odd_nul = raw[0::2].count(0), raw[1::2].count(0)
    if odd_nul >= 0.4 * half and even_nul <= 0.05 * half:
        return "utf-16-le"
    if even_nul >= 0.4 * half and odd_nul <= 0.05 * half:
        return "utf-16-be"
    return None


def _decode_8bit(path: Path | str, raw: bytes, declared: str | None, bom: bool) -> Decoded:
    controls = len(raw) - len(raw.translate(None, _CONTROL_BYTES))
    if controls > _MAX_CONTROL_SHARE * len(raw):
        raise IngestError(path, f"{BINARY} ({controls} control bytes in {len(raw)})")
    try:
        return Decoded(raw.decode("utf-8"), "utf-8-sig" if bom else "utf-8")
    except UnicodeDecodeError:
        pass
    warnings: list[str] = []
    if declared and not bom and declared != "utf-8":
        try:
            return Decoded(raw.decode(declared), declared)
        except UnicodeDecodeError as exc:
            warnings.append(f"{path}: declared charset {declared} does not fit byte {exc.start}; detected instead")
    decoded = _decode_mixed_or_legacy(path, raw)
    decoded.warnings[:0] = warnings
    return decoded


def _decode_mixed_or_legacy(path: Path | str, raw: bytes) -> Decoded:
    """Mostly-UTF-8 files keep UTF-8 where it is valid; other files are decoded as one detected encoding."""
    lines = raw.split(b"\n")
    texts: list[str | None] = []
    bad: list[int] = []
    utf8_non_ascii = 0
    for number, line in enumerate(lines):
        try:
            texts.append(line.decode("utf-8"))
        except UnicodeDecodeError:
            texts.append(None)
            bad.append(number)
            continue
        if not line.isascii():
            utf8_non_ascii += 1

    if utf8_non_ascii and utf8_non_ascii >= len(bad):
        legacy = detect_encoding(b"\n".join(lines[i] for i in bad)) or "cp1252"
        replaced = 0
        for i in bad:
            try:
                texts[i] = lines[i].decode(legacy)
            except UnicodeDecodeError:
                texts[i] = lines[i].decode(legacy, "replace")
                replaced += 1
        warning = f"{path}: {len(bad)} line(s) not valid UTF-8 ({_line_list(bad)}); decoded them as {legacy}"
        if replaced:
            warning += f"; {replaced} of them had bytes no encoding fits, replaced by U+FFFD"
        text = "\n".join(t for t in texts if t is not None)
        return Decoded(text, "utf-8", [warning], fallback_encoding=legacy, fallback_lines=len(bad))

    encoding = detect_encoding(raw)
    if encoding is None:
        raise IngestError(path, f"{BINARY} (neither UTF-8 nor any known text encoding fits the bytes)")
    warnings: list[str] = []
    try:
        text = raw.decode(encoding)
    except UnicodeDecodeError:
        text = raw.decode(encoding, "replace")
        broken = [i for i, line in enumerate(text.split("\n")) if "\ufffd" in line]
        warnings.append(
            f"{path}: {len(broken)} line(s) not valid {encoding} ({_line_list(broken)}); "
            "undecodable bytes replaced by U+FFFD"
        )
    if utf8_non_ascii:
        warnings.append(
            f"{path}: {utf8_non_ascii} line(s) are valid UTF-8 but most of the file is {encoding}; "
            f"decoded the whole file as {encoding}"
        )
    return Decoded(text, encoding, warnings)


def _line_list(indexes: list[int]) -> str:
    shown = ", ".join(str(i + 1) for i in indexes[:_MAX_LINES_SHOWN])
    more = f", ... ({len(indexes)} in all)" if len(indexes) > _MAX_LINES_SHOWN else ""
    return f"line{'s' if len(indexes) > 1 else ''} {shown}{more}"


def detect_encoding(raw: bytes) -> str | None:
    """The legacy encoding that best fits `raw` (a Python codec name), or None when none does.

    charset-normalizer alone often names a wrong Western code page for short text (cp1250 or
    iso8859_10 for cp1252 prose, even UTF-16 for 'café'), so its near-best candidates are re-ranked:
    fewest implausible words first, then the usual Windows code page for the detected language.
    """
    from charset_normalizer import from_bytes  # imported on use: only non-UTF-8 files pay for it

    sample = raw
    if len(raw) > _DETECT_BYTES:
        cut = raw.rfind(b"\n", 0, _DETECT_BYTES)
        sample = raw[: cut if cut > 0 else _DETECT_BYTES]
    # Without a BOM or NUL bytes (handled before), a UTF-16/32 guess is noise.
    matches = [m for m in from_bytes(sample) if not m.encoding.startswith(("utf_16", "utf_32"))]
    if not matches:
        return None
    floor = min(m.chaos for m in matches)
    close = [m for m in matches if m.chaos <= floor + _CHAOS_SLACK][:10]

    def rank(item: tuple[int, Any]) -> tuple[int, int, int]:
        order, match = item
        return (_oddness(str(match)[:_SCORE_CHARS]), 0 if _usual_code_page(match) else 1, order)

    best = min(enumerate(close), key=rank)[1]
    return _usual_code_page(best) or codecs.lookup(best.encoding).name


def _usual_code_page(match: Any) -> str | None:
    """The Windows code page usual for the match's language (else cp1252), if the match decodes as it."""
    pages = match.could_be_from_charset  # encodings that give this very same text
    if "cp1252" in pages:  # the same text either way: name the commonest code page
        return "cp1252"
    usual = _LANGUAGE_CODE_PAGE.get(match.language)
    return usual if usual in pages else None


def _oddness(text: str) -> int:
    """Signs of a wrong code page: words mixing scripts, symbols inside words ('Sp³ka', 'Gr√∂√üe')."""
    odd = 0
    for token in _NON_ASCII_TOKEN.findall(text):
        token = token.strip(_ASCII_PUNCTUATION)
        scripts: set[str] = set()
        last = len(token) - 1
        for i, ch in enumerate(token):
            if ch.isalpha():
                scripts.add("LATIN" if ch.isascii() else _script(ch))
            elif (
                0 < i < last
                and "\x7f" < ch < "\u3000"  # East Asian punctuation sits inside "words" legitimately
                and unicodedata.category(ch) in _SYMBOLS
            ):
                odd += 1
        if len(scripts) > 1:
            odd += 1
    return odd


def _script(ch: str) -> str:
    first = unicodedata.name(ch, "UNKNOWN").split(" ", 1)[0]
    return "CJK" if first in _EAST_ASIAN else first
