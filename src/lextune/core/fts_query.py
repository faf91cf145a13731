"""Full-text query syntax for the vault's FTS5 index, shared by retrieval and dataset builders."""

from __future__ import annotations

import re

_WORD = re.compile(r"\w+", re.UNICODE)
# Words that carry no retrieval signal but would dominate an OR query.
_STOP = {"the", "a", "an", "of", "to", "in", "and", "or", "is", "are", "what", "which", "who", "does",
         "do", "how", "this", "that", "for", "on", "by", "with", "be", "it", "any", "there"}


def query_words(question: str) -> list[str]:
    """The question's words that are searched for (lowercase, stopwords out, each once, in order)."""
    return list(dict.fromkeys(w for w in _WORD.findall(question.lower()) if w not in _STOP))


def fts_query(question: str) -> str:
    """An FTS5 OR-query of the question's words, each quoted (so user text cannot inject syntax)."""
    return " OR ".join(f'"{w}"' for w in query_words(question))
