"""Prompts and choices to token ids for ModelScorer (lextune.evals.engine).

A choice is scored as the tokens it becomes after the prompt, not on its own: tokenizers merge text
across the boundary (" Yes" after "Answer:"), so the prompt's text and the choice are tokenized
together and the prompt's tokens split off, falling back on the choice alone when they merged.
Prompts longer than `max_prompt_tokens` lose their beginning: the question is at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from lextune.evals.records import Prompt
from lextune.models.chat import prompt_ids


@dataclass
class _Encoded:
    ids: list[int]  # what the model reads (after any truncation)
    text: str | None  # the rendered prompt, for joint prompt+choice tokenization; None: tokenize apart
    text_ids: list[int]  # the tokens of `text` alone (no special tokens)
    chat: bool


class _PromptEncoding:
    """ModelScorer's prompt encoding; the scorer provides the attributes annotated below.

    `_encode_all` counts the prompts it cuts in `truncated`.
    """

    tokenizer: PreTrainedTokenizerBase
    max_prompt_tokens: int | None
    truncated: int
    _bos: list[int]
    _eot: int

    @staticmethod
    def _bos_prefix(tokenizer) -> list[int]:
        """[BOS] when the tokenizer puts one in front of text by default, else nothing."""
        bos = tokenizer.bos_token_id
        if bos is None:
            return []
        with_specials = tokenizer("a")["input_ids"]
        plain = tokenizer("a", add_special_tokens=False)["input_ids"]
        return [bos] if with_specials[:1] == [bos] and plain[:1] != [bos] else []

    def _encode(self, prompt: Prompt) -> _Encoded:
        tok = self.tokenizer
        if isinstance(prompt, str):
            text_ids = tok(prompt, add_special_tokens=False)["input_ids"]
            return _Encoded(self._bos + text_ids, prompt, text_ids, chat=False)
        if isinstance(prompt, list):
            ids = prompt_ids(tok, prompt)
            text = tok.apply_chat_template(prompt, add_generation_prompt=True, tokenize=False)
            text_ids = tok(text, add_special_tokens=False)["input_ids"]
            # Joint tokenization means something only if the rendered text tokenizes to what the model reads.
            joinable = ids[len(ids) - len(text_ids):] == text_ids
            return _Encoded(ids, text if joinable else None, text_ids, chat=True)
        raise TypeError(f"a prompt is a str or a list of chat messages, not {type(prompt).__name__}")

    def _encode_all(self, prompts: Sequence[Prompt]) -> list[_Encoded]:
        encoded = [self._encode(p) for p in prompts]
        for i, enc in enumerate(encoded):
            if not enc.ids:
                raise ValueError(f"prompt {i} is empty: a model needs at least one token to predict from")
            if self.max_prompt_tokens is not None and len(enc.ids) > self.max_prompt_tokens:
                enc.ids = enc.ids[-self.max_prompt_tokens:]  # keep the end: the question is there
                self.truncated += 1
        return encoded

    def _choice_ids(self, enc: _Encoded, choices: Sequence[str]) -> list[list[int]]:
        """Each choice's tokens as they follow the prompt (chat: plus the end-of-turn token)."""
        tok = self.tokenizer
        joint = (tok([enc.text + c for c in choices], add_special_tokens=False)["input_ids"]
                 if enc.text is not None and choices else [None] * len(choices))
        n = len(enc.text_ids)
        out: list[list[int]] = []
        for choice, ids in zip(choices, joint):
            if ids is not None and ids[:n] == enc.text_ids:
                cont = ids[n:]
            else:  # the choice merged with the prompt's last token: tokenize it on its own
                cont = tok(choice, add_special_tokens=False)["input_ids"]
            out.append(cont + [self._eot] if enc.chat else cont)
        return out
