"""Exact and near-duplicate detection for chunks and documents: normalization, MinHash, LSH clusters.

A boilerplate clause repeated in 300 contracts, or one contract ingested as PDF and as DOCX, differs
only in case, whitespace, line wrapping, quote style, numbering and page furniture. Normalizing those
away gives an exact key (sha256); MinHash over word 5-shingles of the normalized text estimates the
Jaccard similarity of what is left, and datasketch's MinHashLSH finds the pairs above a threshold
without comparing every pair.

Signatures are stored in the database, so their bytes must mean the same thing in every process and
across releases: word hashes are CRC-32 (Python's `hash` is salted per process), the permutations
come from a fixed seed owned here rather than from datasketch's generator, and the byte format
carries a version that changes whenever normalization or hashing does.
"""

from __future__ import annotations

import hashlib
import re
import struct
import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from datasketch import MinHash, MinHashLSH

# datasketch is imported only where a MinHash object or an LSH index is needed: it pulls in scipy
# (0.4 s and 56 MiB per ingest worker), while signatures for the store need only numpy.

NUM_PERM = 128
SHINGLE_WORDS = 5
# Under this many words a text has at most a handful of 5-shingles: one edited word changes most of
# them (near-duplicates are missed) and the estimate over so few elements is noisy enough to merge
# unrelated short lines ("Governing law." vs "Notices."). Such texts match on their exact key only.
MIN_WORDS = 10
DEFAULT_THRESHOLD = 0.8
SCHEME_VERSION = 2  # bump when normalization, word hashing or permutations change (2: numbers dropped)

_SCHEME = "affine32"
_SEED = 7_353_101  # names this module's permutations; datasketch compares it before estimating Jaccard
_MAGIC = b"LXMH"
_HEADER = struct.Struct("<4sBH")  # magic, scheme version, num_perm
_BLOCK = 8192  # shingles per (block x num_perm) matrix: bounds memory on book-length documents


def _permutations() -> np.ndarray:
    rng = np.random.default_rng(20_240_607)
    # An odd multiplier makes h -> a*h + b (mod 2^32) a bijection (datasketch's affine32 scheme).
    a = (rng.integers(0, 1 << 31, NUM_PERM, dtype=np.uint64) * 2 + 1).astype(np.uint32)
    b = rng.integers(0, 1 << 32, NUM_PERM, dtype=np.uint64).astype(np.uint32)
    return np.array([a, b])


_PERMS = _permutations()
_A, _B = _PERMS[0], _PERMS[1]
_EMPTY = np.full(NUM_PERM, np.iinfo(np.uint32).max, dtype=np.uint32)
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_SHINGLE_MUL = np.uint64(0x9E3779B97F4A7C15)
_S33, _S32 = np.uint64(33), np.uint64(32)

# Typographic variants that survive NFKC; apostrophes matter because "party's" and "party’s" must
# become the same word.
_CHAR_MAP = str.maketrans({
    "\u2018": "'", "\u2019": "'", "\u201a": "'", "\u201b": "'", "\u2032": "'", "`": "'", "\u00b4": "'",
    "\u201c": '"', "\u201d": '"', "\u201e": '"', "\u201f": '"', "\u2033": '"', "\u00ab": '"', "\u00bb": '"',
    "\u2010": "-", "\u2011": "-", "\u2012": "-", "\u2013": "-", "\u2014": "-", "\u2015": "-", "\u2212": "-",
    "\u00ad": None,  # soft hyphen: invisible in one rendering, absent in the other
})
# Hyphenated words and words split at a PDF line end ("indemni-\nfication") become one word either way.
# No look-behind for a word character: a hyphen after a space is a separator that the space already
# provides, and starting the pattern with a literal lets the regex engine skip ahead fast.
_HYPHEN = re.compile(r"-(?:[ \t]*\r?\n[ \t]*)?(?=\w)")
# Page furniture that one rendering has and another has not: "3", "- 3 -", "Page 3 of 12", "3/12".
_PAGE_LINE = re.compile(
    r"^[ \t]*(?:page[ \t]*)?-?[ \t]*\d{1,4}[ \t]*(?:(?:of|/)[ \t]*\d{1,4})?[ \t]*-?[ \t]*$", re.MULTILINE
)
# Numbering differs between renderings and template versions ("12.3", "(a)", "iv.", "Section 5"); the
# words after it carry the content.
_ENUM_LINE = re.compile(
    r"^[ \t]*(?:(?:article|section|clause|schedule|exhibit|annex|§)[ \t]*)?"
    r"(?:\((?:\d{1,3}|[ivxlc]{1,5}|[a-z])\)|\d{1,3}(?:\.\d{1,3})*\.?|(?:[ivxlc]{1,5}|[a-z])[.)])(?=\s|$)",
    re.MULTILINE,
)
_ENUM_INLINE = re.compile(r"\((?:\d{1,3}|[ivxlc]{1,5}|[a-z])\)")
_NON_WORD = re.compile(r"[\W_]+")
# The same for ASCII text through bytes.translate, several times faster than the regex: letters and
# digits stay, everything else becomes a space.
_ASCII_WORDS = bytes(b if chr(b).isalnum() else 32 for b in range(256))


def normalize_text(text: str) -> str:
    """Lower-cased words separated by single spaces, without punctuation, numbering or page numbers."""
    if not text.isascii():  # ASCII text is NFKC-normal and has no typographic variants: skip both
        text = unicodedata.normalize("NFKC", text).translate(_CHAR_MAP)
    text = text.casefold()
    # Line rules first: joining hyphenated line breaks could glue "- 4 -" to the next line.
    text = _PAGE_LINE.sub("", text)
    text = _ENUM_LINE.sub(" ", text)
    text = _HYPHEN.sub("", text)
    text = _ENUM_INLINE.sub(" ", text)
    if text.isascii():
        text = text.encode().translate(_ASCII_WORDS, b"'`").decode()
    else:
        text = _NON_WORD.sub(" ", text.replace("'", ""))
    # Numbers and one-letter tokens are mostly numbering, which moves between line starts and
    # mid-line when another tool re-wraps the same text: leaving them out keeps renderings alike.
    return " ".join(t for t in text.split() if len(t) > 1 and not t.isdigit())


def exact_key(text: str) -> str:
    """sha256 (hex) of the normalized text: equal for texts that differ only in formatting."""
    return hashlib.sha256(normalize_text(text).encode()).hexdigest()


def _fmix64(h: np.ndarray) -> np.ndarray:
    # MurmurHash3's finalizer: CRC-32 word hashes combined linearly are far from uniform, and the
    # affine permutations below need uniform inputs to act like independent hash functions.
    h = h ^ (h >> _S33)
    h = h * _M1
    h = h ^ (h >> _S33)
    h = h * _M2
    return h ^ (h >> _S33)


def shingle_hashes(normalized: str) -> np.ndarray:
    """32-bit hashes of the word 5-shingles of an already normalized text (empty under MIN_WORDS words)."""
    words = normalized.split()
    n = len(words) - SHINGLE_WORDS + 1
    if len(words) < MIN_WORDS:
        return np.empty(0, dtype=np.uint32)
    w = np.fromiter((zlib.crc32(x.encode()) for x in words), dtype=np.uint64, count=len(words))
    h = w[:n].copy()
    for j in range(1, SHINGLE_WORDS):  # order-sensitive: "a b" and "b a" are different shingles
        h = h * _SHINGLE_MUL + w[j:j + n]
    return (_fmix64(h) >> _S32).astype(np.uint32)


def _make(hashvalues: np.ndarray) -> MinHash:
    from datasketch import MinHash

    return MinHash(seed=_SEED, hashvalues=hashvalues, permutations=_PERMS, scheme=_SCHEME)


def _values_from_hashes(hashes: np.ndarray, fallback_key: str = "") -> np.ndarray:
    if hashes.size == 0:
        # Pseudo-random values from the exact key: identical texts get identical signatures (Jaccard
        # 1.0) and different ones share a value with chance 2^-32 per slot, i.e. match on exact key only.
        digest = hashlib.shake_256(b"exact:" + fallback_key.encode()).digest(4 * NUM_PERM)
        return np.frombuffer(digest, dtype="<u4").astype(np.uint32)
    mins = _EMPTY
    for i in range(0, hashes.size, _BLOCK):
        block = hashes[i:i + _BLOCK, None]
        mins = np.minimum(mins, (block * _A + _B).min(axis=0))  # uint32 arithmetic wraps mod 2^32
    return mins


def _text_values(text: str) -> np.ndarray:
    normalized = normalize_text(text)
    hashes = shingle_hashes(normalized)
    key = hashlib.sha256(normalized.encode()).hexdigest() if hashes.size == 0 else ""
    return _values_from_hashes(hashes, key)


def minhash_from_hashes(hashes: np.ndarray, fallback_key: str = "") -> MinHash:
    """A MinHash over given shingle hashes; with none, an exact-only signature of `fallback_key`."""
    return _make(_values_from_hashes(hashes, fallback_key))


def minhash(text: str) -> MinHash:
    """The MinHash of a text's word 5-shingles after normalization (exact-key only under MIN_WORDS words)."""
    return _make(_text_values(text))


def minhashes_without_common_shingles(
    texts: Sequence[str], max_share: float = 0.5, min_texts: int = 20
) -> list[MinHash]:
    """MinHashes of texts after dropping shingles that occur in more than `max_share` of them.

    Rows of one task share their prompt template; with a short passage the template's shingles
    outweigh the passage's and every pair of rows looks like a near-duplicate. Shingles common to
    most texts are the template, so they are left out (only with at least `min_texts` texts, where
    "most" means something). What remains under MIN_WORDS' worth of shingles matches on exact key.
    """
    normalized = [normalize_text(t) for t in texts]
    hashes = [shingle_hashes(n) for n in normalized]
    if len(texts) >= min_texts:
        uniques = [np.unique(h) for h in hashes]
        values, counts = np.unique(np.concatenate(uniques), return_counts=True)
        common = values[counts > max_share * len(texts)]
        if common.size:
            hashes = [h[~np.isin(h, common)] for h in hashes]
    out = []
    for n, h in zip(normalized, hashes):
        if h.size < MIN_WORDS - SHINGLE_WORDS + 1:
            h = h[:0]
        out.append(minhash_from_hashes(h, "" if h.size else hashlib.sha256(n.encode()).hexdigest()))
    return out


def signature_bytes(text_or_minhash: str | MinHash) -> bytes:
    """The signature as bytes for the database: a small versioned header and num_perm uint32 values."""
    if isinstance(text_or_minhash, str):
        values = np.asarray(_text_values(text_or_minhash), dtype="<u4")  # no MinHash object needed
    else:
        m = text_or_minhash
        if m.seed != _SEED or len(m) != NUM_PERM:
            raise ValueError("not a signature made by lextune.vault.dedup (other seed or size): values from "
                             "other permutations are not comparable")
        values = np.asarray(m.hashvalues, dtype="<u4")
    return _HEADER.pack(_MAGIC, SCHEME_VERSION, len(values)) + values.tobytes()


def is_current(data: bytes | None) -> bool:
    """Whether stored signature bytes were made by this scheme (else: recompute them from the text)."""
    if not data or len(data) < _HEADER.size:
        return False
    magic, version, num_perm = _HEADER.unpack_from(data)
    return magic == _MAGIC and version == SCHEME_VERSION and num_perm == NUM_PERM


def signature_from_bytes(data: bytes) -> MinHash:
    """A MinHash from `signature_bytes`; a foreign or outdated signature is a ValueError."""
    if len(data) < _HEADER.size:
        raise ValueError(f"not a lextune MinHash signature ({len(data)} bytes)")
    magic, version, num_perm = _HEADER.unpack_from(data)
    if magic != _MAGIC:
        raise ValueError("not a lextune MinHash signature (bad magic)")
    if version != SCHEME_VERSION or num_perm != NUM_PERM:
        raise ValueError(f"signature of scheme v{version}/{num_perm} perms; this lextune uses "
                         f"v{SCHEME_VERSION}/{NUM_PERM}: recompute signatures from the texts")
    if len(data) != _HEADER.size + 4 * num_perm:
        raise ValueError(f"truncated MinHash signature ({len(data)} bytes)")
    return _make(np.frombuffer(data, dtype="<u4", offset=_HEADER.size).astype(np.uint32))


if TYPE_CHECKING:
    Signature = str | bytes | MinHash  # a text, stored signature bytes, or a MinHash made here
else:
    Signature = object


def as_minhash(sig: Signature) -> MinHash:
    """Coerce a text, signature bytes or MinHash to a MinHash."""
    from datasketch import MinHash

    if isinstance(sig, MinHash):
        return sig
    if isinstance(sig, bytes | bytearray | memoryview):
        return signature_from_bytes(bytes(sig))
    if isinstance(sig, str):
        return minhash(sig)
    raise TypeError(f"expected text, signature bytes or MinHash, got {type(sig).__name__}")


def jaccard(a: Signature, b: Signature) -> float:
    """Estimated Jaccard similarity of two signatures (or texts)."""
    return as_minhash(a).jaccard(as_minhash(b))


def new_lsh(threshold: float) -> MinHashLSH:
    """An empty MinHashLSH for this module's signatures, tuned to miss few pairs above `threshold`."""
    if not 0.0 < threshold <= 1.0:
        raise ValueError(f"threshold must be in (0, 1], got {threshold}")
    # Candidates are verified against the threshold afterwards, so a false positive costs one
    # comparison while a false negative is a duplicate never seen: weigh misses more.
    # Banding tuned at the threshold itself still misses a good share of pairs just above it (a pair
    # at 0.85 went unseen at 0.8), so bands are tuned lower and every candidate is verified.
    from datasketch import MinHashLSH

    return MinHashLSH(threshold=max(0.3, threshold - 0.2), num_perm=NUM_PERM, weights=(0.3, 0.7))


class NearDupIndex:
    """An incremental near-duplicate index: insert signatures one by one, query before inserting.

    At ingest, a new document joins the family of the first (most similar) hit, or starts one:
    `hits = index.query(sig); family = family_of[hits[0]] if hits else doc_id; index.insert(doc_id, sig)`.
    """

    def __init__(self, threshold: float = DEFAULT_THRESHOLD):
        self.threshold = threshold
        self._lsh = new_lsh(threshold)
        self._sigs: dict[str, MinHash] = {}

    def __len__(self) -> int:
        return len(self._sigs)

    def __contains__(self, key: object) -> bool:
        return key in self._sigs

    def insert(self, key: str, sig: Signature) -> None:
        """Add a key. Re-adding it with the same signature is a no-op (an index loaded from the store
        may already hold a just-stored document); with another signature it is a ValueError."""
        m = as_minhash(sig)
        if key in self._sigs:
            if np.array_equal(self._sigs[key].hashvalues, m.hashvalues):
                return
            raise ValueError(f"key {key!r} is already in the index with another signature")
        self._lsh.insert(key, m, check_duplication=False)
        self._sigs[key] = m

    def query_scored(self, sig: Signature) -> list[tuple[str, float]]:
        """(key, estimated Jaccard) of indexed near-duplicates at or above the threshold, best first."""
        m = as_minhash(sig)
        scored = [(k, m.jaccard(self._sigs[k])) for k in self._lsh.query(m)]
        return sorted((ks for ks in scored if ks[1] >= self.threshold), key=lambda ks: (-ks[1], ks[0]))

    def query(self, sig: Signature) -> list[str]:
        """Keys of indexed near-duplicates of `sig`, most similar first."""
        return [k for k, _ in self.query_scored(sig)]


class _UnionFind:
    """Union-find over indices whose root is always the smallest index: the first item seen."""

    def __init__(self) -> None:
        self.parent: list[int] = []

    def add(self) -> int:
        self.parent.append(len(self.parent))
        return len(self.parent) - 1

    def find(self, i: int) -> int:
        root = i
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[i] != root:  # path compression keeps later finds O(1)
            self.parent[i], i = root, self.parent[i]
        return root

    def union(self, i: int, j: int) -> None:
        ri, rj = self.find(i), self.find(j)
        if ri != rj:
            self.parent[max(ri, rj)] = min(ri, rj)


def cluster_near_duplicates(
    items: Iterable[tuple[str, Signature]], threshold: float = DEFAULT_THRESHOLD
) -> dict[str, str]:
    """Map every key to its cluster's representative (the cluster's first key in input order).

    Pairs at or above `threshold` (estimated Jaccard) join one cluster, transitively; exact duplicates
    (identical signatures) always do. Each key maps to itself when it has no near-duplicate.
    """
    lsh = new_lsh(threshold)
    uf = _UnionFind()
    keys: list[str] = []
    sigs: list[MinHash] = []
    first_of_values: dict[bytes, int] = {}
    seen: set[str] = set()
    for key, sig in items:
        if key in seen:
            raise ValueError(f"duplicate key {key!r}")
        seen.add(key)
        m = as_minhash(sig)
        i = uf.add()
        keys.append(key)
        sigs.append(m)
        values = m.hashvalues.tobytes()
        # Identical signatures (the 300 copies of one boilerplate clause) join without an LSH lookup,
        # and only one of them is indexed, so buckets stay small.
        if values in first_of_values:
            uf.union(first_of_values[values], i)
            continue
        first_of_values[values] = i
        for j in lsh.query(m):
            if m.jaccard(sigs[j]) >= threshold:
                uf.union(i, j)
        lsh.insert(i, m, check_duplication=False)
    return {key: keys[uf.find(i)] for i, key in enumerate(keys)}
