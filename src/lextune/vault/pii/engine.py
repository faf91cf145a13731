"""Presidio set up for contracts, offline: a lean spaCy pipeline, the legal recognizers, no downloads.

Two pitfalls of a default Presidio on an air-gapped machine are handled here: its e-mail recognizer
calls `tldextract`, which downloads the public suffix list on first use (we validate against the
snapshot bundled with tldextract instead), and its default NLP engine wants `en_core_web_lg` and
downloads it when missing (we load the installed small model, with only the NER pipe).
"""

from __future__ import annotations

import bisect
import functools
import re
import threading

import spacy
import tldextract
from presidio_analyzer import AnalyzerEngine, RecognizerRegistry
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer
from presidio_analyzer.nlp_engine import NerModelConfiguration, NlpArtifacts, SpacyNlpEngine
from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)
from spacy.tokens import Doc

from lextune.vault.pii import patterns, recognizers
from lextune.vault.pii.dictionary import SPACY_MODEL

# Only what NER needs: the tagger, parser and lemmatizer cost two thirds of the time and add nothing
# to entity spans (context words are matched on lower-cased tokens instead of lemmas).
_EXCLUDED_PIPES = ["tagger", "parser", "attribute_ruler", "lemmatizer", "senter"]
# spaCy's memory grows with the text; long contracts are run in pieces cut at line breaks.
_PIECE_CHARS = 50_000

_UNUSED_LABELS = [
    "CARDINAL", "DATE", "EVENT", "FAC", "LANGUAGE", "LAW", "MONEY", "NORP", "ORDINAL", "PERCENT", "PRODUCT",
    "QUANTITY", "TIME", "WORK_OF_ART",
]
# No suffix_list_urls: tldextract answers from the snapshot in its wheel and never opens a socket;
# no cache_dir: nothing is written under $HOME either.
OFFLINE_TLD = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None, fallback_to_snapshot=True)


class OfflineEmailRecognizer(EmailRecognizer):
    """Presidio's e-mail recognizer, validating the domain against the bundled suffix list."""

    def validate_result(self, pattern_text: str) -> bool:
        return OFFLINE_TLD(pattern_text).fqdn != ""


class LeanSpacyNlpEngine(SpacyNlpEngine):
    """spaCy NER only, loaded from the installed package (never downloaded), long texts in pieces."""

    def __init__(self, model: str = SPACY_MODEL, full_pipeline: bool = False):
        # Labels lextune does not use are dropped quietly (Presidio warns once per entity otherwise).
        config = None if full_pipeline else NerModelConfiguration(labels_to_ignore=_UNUSED_LABELS)
        super().__init__(models=[{"lang_code": "en", "model_name": model}], ner_model_configuration=config)
        self._model = model
        self._full = full_pipeline

    def load(self) -> None:
        nlp = spacy.load(self._model, exclude=[] if self._full else _EXCLUDED_PIPES)
        nlp.max_length = 10 * _PIECE_CHARS
        self.nlp = {"en": nlp}

    def process_text(self, text: str, language: str) -> NlpArtifacts:
        if self._full:
            return super().process_text(text, language)
        nlp = self.nlp[language]
        # Filings pad names with runs of spaces ("Advantus Capital  Management"); the model reads them
        # as tokens and splits the name. It runs on the text with each run squeezed to one character;
        # `offsets` maps every character back to the original.
        squeezed, offsets = squeeze_whitespace(text)
        if len(squeezed) <= _PIECE_CHARS:
            doc = nlp(squeezed)
        else:
            doc = Doc.from_docs(list(nlp.pipe(_pieces(squeezed))), ensure_whitespace=False)
        entities, scores = self._get_updated_entities(doc.ents, self._get_scores_for_entities(doc))
        artifacts = NlpArtifacts(
            entities=entities, tokens=doc, tokens_indices=[offsets[t.idx] for t in doc],
            lemmas=[t.lower_ for t in doc], nlp_engine=self, language=language, scores=scores,
        )
        artifacts.offsets = offsets
        return artifacts


def squeeze_whitespace(text: str) -> tuple[str, list[int]]:
    """`text` with each whitespace run as one space (or newline), and the original index of each char."""
    out, offsets, pos = [], [], 0
    for m in re.finditer(r"\s{2,}", text):
        out.append(text[pos:m.start()])
        offsets.extend(range(pos, m.start()))
        out.append("\n" if "\n" in m.group() else " ")
        offsets.append(m.start())
        pos = m.end()
    out.append(text[pos:])
    offsets.extend(range(pos, len(text)))
    offsets.append(len(text))  # one past the end, for spans that end the text
    return "".join(out), offsets


def _pieces(text: str) -> list[str]:
    """Consecutive pieces of `text` (joined they are `text`), cut after a newline where possible."""
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + _PIECE_CHARS)
        if end < len(text):
            cut = text.rfind("\n", start + _PIECE_CHARS // 2, end)
            end = cut + 1 if cut > 0 else end
        out.append(text[start:end])
        start = end
    return out


class FastContextEnhancer(LemmaContextAwareEnhancer):
    """Presidio's context enhancer, finding a match's token by bisection instead of a scan of every
    token (the scan built a spaCy Token per word per match: a seventh of the time on contracts)."""

    @staticmethod
    def _find_index_of_match_token(word: str, start: int, tokens, tokens_indices: list[int]) -> int:
        i = bisect.bisect_right(tokens_indices, start) - 1
        if i < 0 or start >= tokens_indices[i] + len(tokens[i]):
            i += 1
        if i >= len(tokens_indices):
            raise ValueError(f"Did not find word {word!r} in the list of tokens")
        return i


def _registry(nlp_engine: LeanSpacyNlpEngine) -> RecognizerRegistry:
    registry = RecognizerRegistry(supported_languages=["en"])
    for rec in (
        OfflineEmailRecognizer(),
        PhoneRecognizer(),
        CreditCardRecognizer(),
        IbanRecognizer(),
        UsSsnRecognizer(),
        *recognizers.legal_name_recognizers(),
        *patterns.pattern_recognizers(),
    ):
        registry.add_recognizer(rec)
    return registry


_lock = threading.Lock()


@functools.cache
def analyzer() -> AnalyzerEngine:
    """The lextune analyzer (built once per process: loading spaCy takes about a second)."""
    with _lock:
        engine = LeanSpacyNlpEngine()
        engine.load()
        return AnalyzerEngine(registry=_registry(engine), nlp_engine=engine, supported_languages=["en"],
                              context_aware_enhancer=FastContextEnhancer())


@functools.cache
def plain_analyzer() -> AnalyzerEngine:
    """Presidio as shipped (default recognizers, full spaCy pipeline), made offline: the baseline."""
    with _lock:
        engine = LeanSpacyNlpEngine(full_pipeline=True)
        engine.load()
        registry = RecognizerRegistry(supported_languages=["en"])
        registry.load_predefined_recognizers(languages=["en"], nlp_engine=engine)
        registry.remove_recognizer("EmailRecognizer")
        registry.add_recognizer(OfflineEmailRecognizer())
        return AnalyzerEngine(registry=registry, nlp_engine=engine, supported_languages=["en"])
