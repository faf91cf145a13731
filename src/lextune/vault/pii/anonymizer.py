"""The anonymizer the dataset build calls: text in, redactions out, and `anonymize` to apply them."""

from __future__ import annotations

from collections.abc import Iterable

from presidio_analyzer import AnalyzerEngine, RecognizerResult

from lextune.core.records import DefinedTerm, Redaction
from lextune.vault.pii import engine
from lextune.vault.pii.policy import ENTITY_TYPES, PiiPolicy
from lextune.vault.pii.resolve import NAME_TYPES, Mention, Resolver, norm, resolve_overlaps

# Below this Presidio score a candidate is noise (its unlabelled 9-digit "SSN" scores 0.05).
SCORE_THRESHOLD = 0.35
# Stronger evidence is linked first, so its aliases exist when weaker mentions are matched to entities.
_SOURCE_ORDER = {"definition": 0, "suffix": 1, "signature": 2, "conformed": 2, "titled": 2, "honorific": 2, "behalf": 3, "institution": 3,
                 "preamble": 3}


class Anonymizer:
    """Finds personal data in one document at a time and decides each span's replacement."""

    def __init__(self, policy: PiiPolicy | None = None):
        self.policy = policy or PiiPolicy()
        self._analyzer: AnalyzerEngine | None = None

    @property
    def analyzer(self) -> AnalyzerEngine:
        # Loaded on first use and shared by the process: building it loads spaCy (about a second).
        if self._analyzer is None:
            self._analyzer = engine.analyzer()
        return self._analyzer

    def analyze(self, text: str) -> list[RecognizerResult]:
        """Presidio's raw candidates (before lextune's filtering and linking)."""
        return self.analyzer.analyze(text, language="en", score_threshold=SCORE_THRESHOLD)

    def mentions(self, text: str, defined_terms: Iterable[DefinedTerm] | None = None) -> list[Mention]:
        """Sorted, non-overlapping spans of personal data, names linked to entities."""
        results = [r for r in self.analyze(text) if r.entity_type in ENTITY_TYPES or r.entity_type == "ORGANIZATION"]
        resolver = Resolver(text, {t.term for t in defined_terms or ()})
        accepted: list[tuple[Mention, list[str]]] = []
        for r in results:
            m = resolver.accept(r)
            if m is not None:
                meta = r.recognition_metadata or {}
                accepted.append((m, [a[2] for a in meta.get("aliases", [])]))
        names = sorted((p for p in accepted if p[0].entity_type in NAME_TYPES),
                       key=lambda p: (_SOURCE_ORDER.get(p[0].source, 4), p[0].start))
        for m, aliases in names:
            resolver.link(m, aliases)
        mentions = [m for m, _ in accepted] + resolver.propagate()
        return resolve_overlaps(mentions, text)

    def redactions(self, text: str, defined_terms: list[DefinedTerm] | None = None) -> list[Redaction]:
        """What replaces each piece of personal data in `text` (one document); sorted, non-overlapping.

        Pseudonyms ("[PARTY_1]") are numbered by first appearance and consistent within this call;
        masks are "[ADDRESS]"; a kept span is listed with its own text as replacement.
        """
        out, numbers = [], {}
        for m in self.mentions(text, defined_terms):
            original = text[m.start:m.end]
            action = self.policy.action(m.entity_type)
            if action == "keep":
                replacement = original
            elif action == "mask":
                replacement = f"[{m.entity_type}]"
            else:
                key = (m.entity_type, m.entity if m.entity_type in NAME_TYPES else norm(original))
                numbers.setdefault(m.entity_type, {})
                n = numbers[m.entity_type].setdefault(key, len(numbers[m.entity_type]) + 1)
                replacement = f"[{m.entity_type}_{n}]"
            out.append(Redaction(start=m.start, end=m.end, entity_type=m.entity_type, original=original,
                                 replacement=replacement))
        return out


def anonymize(text: str, redactions: Iterable[Redaction]) -> str:
    """Apply redactions (non-overlapping, any order) to `text`."""
    parts, pos = [], 0
    for r in sorted(redactions, key=lambda r: r.start):
        if r.start < pos:
            raise ValueError(f"overlapping redactions at {r.start}")
        parts += [text[pos:r.start], r.replacement]
        pos = r.end
    parts.append(text[pos:])
    return "".join(parts)
