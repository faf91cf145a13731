"""The tokens of the blind full-text index: SQLite FTS5's 'porter unicode61' tokenizer, in Python.

The index holds keyed hashes of tokens (Keyring.blind), so the database tokenizes nothing: lextune does,
the same way FTS5 did (unicode61 folding from its own table, then FTS5's Porter stemmer), so BM25 sees
the same terms and rankings stay what they were. Why not snowballstemmer's 'porter': FTS5 follows
Porter's own C version (step 2 has logi -> log and bli -> ble; 3-letter words keep their 'ies'), and
snowball's differs on words such as "technology" and "possibly" (48 of the 27k CUAD words).
"""

from __future__ import annotations

import re
import threading
import weakref
from collections.abc import Callable
from functools import lru_cache

from lextune.core import fts_unicode61 as table

_MAX_STEM_BYTES = 64  # FTS5 passes longer (and under 3-byte) tokens through unstemmed
_CACHE_LIMIT = 1_000_000  # a vault's vocabulary is far smaller; the bound only stops a runaway


def _ranges(spec: str) -> list[tuple[int, int]]:
    out = []
    for part in spec.split():
        a, _, b = part.partition("-")
        out.append((int(a, 16), int(b or a, 16)))
    return out


def _token_pattern() -> re.Pattern[str]:
    spans = sorted(_ranges(table.TOKEN_CHARS) + _ranges(table.DROPPED))
    cls = "".join(re.escape(chr(a)) if a == b else f"{re.escape(chr(a))}-{re.escape(chr(b))}" for a, b in spans)
    return re.compile(f"[{cls}]+")


def _fold_table() -> dict[int, int | None]:
    fold: dict[int, int | None] = {}
    for pair in table.FOLD.split():
        a, _, b = pair.partition(":")
        fold[int(a, 16)] = int(b, 16)
    for a, b in _ranges(table.DROPPED):
        fold.update(dict.fromkeys(range(a, b + 1)))
    return fold


_TOKEN = _token_pattern()
_ASCII_TOKEN = re.compile(r"[A-Za-z0-9]+")  # the same cut for ASCII text (most chunks), three times faster
_FOLD = _fold_table()


def fold(token: str) -> str:
    """unicode61's folding of one token: lower case, diacritics removed (as its table does)."""
    return token.lower() if token.isascii() else token.translate(_FOLD)


# ---------------------------------------------------------------- FTS5's Porter stemmer, on UTF-8 bytes
# FTS5 stems bytes: a non-ASCII byte is a consonant, lengths are in bytes. Kept so here.

def _vowel(c: int, y_is_vowel: bool) -> bool:
    return c in b"aeiou" or (y_is_vowel and c == 0x79)


def _gobble_vc(z: bytes, cons: bool) -> int:
    """Past the first vowel-consonant sequence of z: its end (1-based), or 0 when there is none."""
    i, n = 0, len(z)
    while i < n:
        cons = not _vowel(z[i], cons)
        if not cons:
            break
        i += 1
    i += 1
    while i < n:
        cons = not _vowel(z[i], cons)
        if cons:
            return i + 1
        i += 1
    return 0


def _m_gt0(z: bytes) -> bool:
    return _gobble_vc(z, False) != 0


def _m_gt1(z: bytes) -> bool:
    n = _gobble_vc(z, False)
    return bool(n) and _gobble_vc(z[n:], True) != 0


def _m_eq1(z: bytes) -> bool:
    n = _gobble_vc(z, False)
    return bool(n) and _gobble_vc(z[n:], True) == 0


def _o_star(z: bytes) -> bool:
    if not z or z[-1] in b"wxy":
        return False
    mask, cons = 0, False
    for c in z:
        cons = not _vowel(c, cons)
        mask = (mask << 1) | cons
    return mask & 7 == 5


def _has_vowel(z: bytes) -> bool:
    return any(_vowel(c, i > 0) for i, c in enumerate(z))


def _m_gt1_s_or_t(z: bytes) -> bool:
    return z[-1:] in (b"s", b"t") and _m_gt1(z)


Rule = tuple[bytes, Callable[[bytes], bool], bytes]


def _rules(cond: Callable[[bytes], bool], spec: str) -> list[Rule]:
    """'suffix>replacement ...' in FTS5's order; a suffix that matches ends the step, applied or not."""
    return [(s.encode(), cond, r.encode()) for s, _, r in (x.partition(">") for x in spec.split())]


_STEP2 = _rules(_m_gt0, "ational>ate tional>tion enci>ence anci>ance izer>ize logi>log bli>ble alli>al "
                        "entli>ent eli>e ousli>ous ization>ize ation>ate ator>ate alism>al iveness>ive "
                        "fulness>ful ousness>ous aliti>al iviti>ive biliti>ble")
_STEP3 = _rules(_m_gt0, "ical>ic ness> icate>ic iciti>ic ful> ative> alize>al")
_STEP4 = (_rules(_m_gt1, "al> ance> ence> er> ic> able> ible> ant> ement> ment> ent>")
          + [(b"ion", _m_gt1_s_or_t, b"")] + _rules(_m_gt1, "ou> ism> ate> iti> ous> ive> ize>"))


def _apply(z: bytes, rules: list[Rule]) -> bytes:
    for suffix, cond, out in rules:
        # FTS5 switches on the next-to-last byte first: only suffixes sharing it are candidates, in order.
        if len(z) > len(suffix) and z.endswith(suffix):
            stem = z[: -len(suffix)]
            return stem + out if cond(stem) else z
    return z


def _step1a(z: bytes) -> bytes:
    if z.endswith(b"s"):
        if z[-2:-1] == b"e":
            if (len(z) > 4 and z[-4:-2] == b"ss") or (len(z) > 3 and z[-3:-2] == b"i"):
                return z[:-2]
            return z[:-1]
        if z[-2:-1] != b"s":
            return z[:-1]
    return z


def _step1b(z: bytes) -> tuple[bytes, bool]:
    if len(z) > 3 and z.endswith(b"eed"):
        return (z[:-1], False) if _m_gt0(z[:-3]) else (z, False)
    if len(z) > 2 and z.endswith(b"ed"):
        return (z[:-2], True) if _has_vowel(z[:-2]) else (z, False)
    if len(z) > 3 and z.endswith(b"ing"):
        return (z[:-3], True) if _has_vowel(z[:-3]) else (z, False)
    return z, False


def porter(word: bytes) -> bytes:
    """FTS5's stem of one folded token (its fts5PorterCb, step by step)."""
    if len(word) > _MAX_STEM_BYTES or len(word) < 3:
        return word
    z = _step1a(word)
    z, removed = _step1b(z)
    if removed:
        if len(z) > 2 and z[-2:] in (b"at", b"bl", b"iz"):
            z += b"e"
        elif len(z) >= 2 and not _vowel(z[-1], False) and z[-1] not in b"lsz" and z[-1] == z[-2]:
            z = z[:-1]
        elif _m_eq1(z) and _o_star(z):
            z += b"e"
    if z.endswith(b"y") and _has_vowel(z[:-1]):
        z = z[:-1] + b"i"
    z = _apply(_apply(_apply(z, _STEP2), _STEP3), _STEP4)
    if z.endswith(b"e") and (_m_gt1(z[:-1]) or (_m_eq1(z[:-1]) and not _o_star(z[:-1]))):
        z = z[:-1]
    if len(z) > 1 and z.endswith(b"ll") and _m_gt1(z[:-1]):
        z = z[:-1]
    return z


@lru_cache(maxsize=1 << 18)  # shared by every keyring (tenant): stemming is most of a new term's cost
def stem(token: str) -> str:
    """The term FTS5 'porter unicode61' indexes for one raw token ("" when it folds to nothing)."""
    folded = fold(token)
    if not folded:
        return ""
    # A byte cut can split a multi-byte character (FTS5 would index that partial byte): replace it.
    return porter(folded.encode("utf-8")).decode("utf-8", "replace")


def raw_tokens(text: str) -> list[str]:
    """The tokens of text as unicode61 cuts them, before folding."""
    return (_ASCII_TOKEN if text.isascii() else _TOKEN).findall(text)


def terms(text: str) -> list[str]:
    """What a plain 'porter unicode61' FTS5 index would hold for text, in order."""
    return [t for t in map(stem, raw_tokens(text)) if t]


class Blinder:
    """Raw token -> blinded term for one keyring; cached, since a vault's vocabulary is small."""

    def __init__(self, blind: Callable[[str], str]):
        self._blind = blind
        self._cache: dict[str, str] = {}

    def term(self, token: str) -> str:
        out = self._cache.get(token)
        if out is None:
            stemmed = stem(token)
            out = self._blind(stemmed) if stemmed else ""
            if len(self._cache) >= _CACHE_LIMIT:
                self._cache.clear()
            self._cache[token] = out
        return out

    def terms(self, text: str) -> list[str]:
        term = self.term
        return [b for b in map(term, raw_tokens(text)) if b]


_BLINDERS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()


def blinder(keyring) -> Blinder:
    """The (cached) Blinder of a keyring: its blind() over its index key."""
    with _LOCK:
        b = _BLINDERS.get(keyring)
        if b is None:
            b = _BLINDERS[keyring] = Blinder(keyring.blind)
        return b
