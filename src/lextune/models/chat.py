"""Chat-template tokenization: prompts for generation, and training examples with an answer mask."""

from __future__ import annotations

from dataclasses import dataclass

from transformers import PreTrainedTokenizerBase

from lextune.core.errors import ModelError

IGNORE_INDEX = -100
# End-of-turn markers of common chat templates: generation also stops at these when present.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")
# Stands in for an answer when the template is rendered to find what closes the assistant's turn.
_PROBE = "lextune probe answer"
CUT_MARK = " [...] "  # put where a long user message lost its middle


class TemplateError(ModelError, ValueError):
    """The tokenizer's chat template does not say how an assistant turn ends."""


def end_of_turn_id(tokenizer: PreTrainedTokenizerBase) -> int:
    """The token that closes an assistant turn, read from the chat template itself.

    The template is rendered with a probe answer; the first special token after it is the turn
    terminator (`<|im_end|>`, `<end_of_turn>`, `<|end|>`, `<|eot_id|>`...). Taking the smallest
    stop id instead would pick `<eos>` in Gemma- and Phi-3-style vocabularies, and a model trained
    to emit it would never close its turn the way its template (and every server) expects.
    A template that renders nothing after the answer falls back to the EOS token.
    """
    cached = getattr(tokenizer, "_lextune_end_of_turn", None)
    if cached is not None:
        return cached
    eot = _end_of_turn_from_template(tokenizer)
    try:
        tokenizer._lextune_end_of_turn = eot
    except AttributeError:  # pragma: no cover - a tokenizer that refuses attributes: recompute each time
        pass
    return eot


def _end_of_turn_from_template(tokenizer: PreTrainedTokenizerBase) -> int:
    if not getattr(tokenizer, "chat_template", None):
        raise TemplateError("the tokenizer has no chat template; lextune trains and serves chat models only")
    text = tokenizer.apply_chat_template(
        [{"role": "user", "content": "question"}, {"role": "assistant", "content": _PROBE}], tokenize=False)
    at = text.rfind(_PROBE)
    if at < 0:
        raise TemplateError("the chat template does not render the assistant's message")
    after = tokenizer(text[at + len(_PROBE):], add_special_tokens=False)["input_ids"]
    special = set(tokenizer.all_special_ids) | set(getattr(tokenizer, "added_tokens_decoder", {}) or {})
    eot = next((t for t in after if t in special), None)
    if eot is None:
        eot = tokenizer.eos_token_id
    if eot is None:
        raise TemplateError("the chat template closes no assistant turn and the tokenizer has no EOS token")
    return int(eot)


def end_of_turn_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end an assistant turn, the template's own terminator first: generation stops at any."""
    first = end_of_turn_id(tokenizer)
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in _END_OF_TURN if t in vocab)
    ids.discard(first)
    return [first, *sorted(ids)]


def prompt_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a conversation up to and including the assistant's turn header."""
    return list(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]
    )


@dataclass
class EncodedExample:
    input_ids: list[int]
    labels: list[int]  # IGNORE_INDEX except on the answer's tokens and its end-of-turn token
    cut_tokens: int = 0  # tokens removed from the middle of the user's message to fit max_len


class AnswerDoesNotFit(ValueError):
    """The answer (or the prompt's fixed parts) cannot fit max_len: the row cannot be trained on."""


class AnswerUnsupported(ValueError):
    """The prompt had to lose the passage the answer quotes: training on it would teach invention."""


def encode_example(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], max_len: int
) -> EncodedExample:
    """Tokenize a conversation whose last message is the assistant answer, with answer-only labels.

    The label span comes from the chat template itself (the prompt rendered with the generation
    header is a prefix of the full rendering), so the loss never trains on the prompt; the answer
    ends with the template's end-of-turn token. A conversation longer than `max_len` loses the
    middle of its longest user message (the passage), never the template's headers, the answer
    or the message's first and last lines (instruction and question); when the answer quotes the
    passage, the cut avoids the quote, and a row whose quote cannot be kept raises
    AnswerUnsupported.
    """
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant answer")
    answer_ids = _answer_ids(tokenizer, messages)
    prompt = prompt_ids(tokenizer, messages[:-1])
    overflow = len(prompt) + len(answer_ids) - max_len
    cut = 0
    if overflow > 0:
        messages, cut = _shorten(tokenizer, messages, overflow, max_len - len(answer_ids))
        prompt = prompt_ids(tokenizer, messages[:-1])
    return EncodedExample(prompt + answer_ids, [IGNORE_INDEX] * len(prompt) + answer_ids, cut)


def _answer_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    """The answer's tokens as the template renders them, up to and including its end-of-turn token."""
    eot = end_of_turn_id(tokenizer)
    prompt = prompt_ids(tokenizer, messages[:-1])
    full = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    if full[: len(prompt)] != prompt or eot not in full[len(prompt):]:
        # The template renders the prompt differently with an answer: splice ids instead.
        return tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"] + [eot]
    answer = full[len(prompt):]
    return answer[: answer.index(eot) + 1]  # drop what the template adds after end-of-turn ("\n")


def _shorten(tokenizer, messages: list[dict[str, str]], overflow: int, prompt_budget: int):
    """Messages whose longest user message lost enough of its middle for the prompt to fit."""
    users = [i for i, m in enumerate(messages[:-1]) if m["role"] == "user"]
    if not users:
        raise AnswerDoesNotFit("the prompt has no user message to shorten")
    target = max(users, key=lambda i: len(messages[i]["content"]))
    content, answer = messages[target]["content"], messages[-1]["content"].strip()
    at = content.find(answer) if len(answer) >= 20 else -1  # a quoted clause, not a label
    quote = (at, at + len(answer)) if at >= 0 else None
    offsets = tokenizer(content, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    mark = len(tokenizer(CUT_MARK, add_special_tokens=False)["input_ids"])
    need = overflow + 2 * mark + 2
    for _ in range(4):  # tokenization at the seams can differ by a token or two: retry a little shorter
        kept = _kept_tokens(offsets, need, quote)
        pieces = [content[offsets[a][0]:offsets[b - 1][1]] for a, b in kept]
        new = (content[:offsets[0][0]] + CUT_MARK.join(pieces) + content[offsets[-1][1]:])
        shortened = [*messages[:target], {**messages[target], "content": new}, *messages[target + 1:]]
        excess = len(prompt_ids(tokenizer, shortened[:-1])) - prompt_budget
        if excess <= 0:
            if quote and answer not in new:  # pragma: no cover - _kept_tokens keeps the quote whole
                raise AnswerUnsupported("the cut removed the quoted clause")
            return shortened, len(offsets) - sum(b - a for a, b in kept)
        need += excess
    raise AnswerDoesNotFit("the prompt could not be cut to fit")  # pragma: no cover - converges in 1-2 tries


def _kept_tokens(offsets, need: int, quote: tuple[int, int] | None) -> list[tuple[int, int]]:
    """Token ranges of the message to keep when `need` tokens must go.

    The first and last few tokens stay (the instruction and the question). Without a quote, one
    central run is dropped; with one, a window centred on the quoted clause stays as well, and
    text is dropped on both sides of it.
    """
    n = len(offsets)
    keep = n - need
    edge = min(16, max(0, keep // 4))
    if keep - 2 * edge < 1:
        raise AnswerDoesNotFit(f"the answer and the prompt's fixed parts need more room (cut {need} of {n} tokens)")
    if quote is None:
        head = keep // 2
        return [(0, head), (head + need, n)]
    qs = next(i for i, (a, b) in enumerate(offsets) if b > quote[0])
    qe = next((i for i, (a, b) in enumerate(offsets) if a >= quote[1]), n)
    window = keep - 2 * edge
    if qe - qs > window:
        raise AnswerUnsupported("the passage cannot be cut to fit and still hold the quoted clause")
    start = min(max(edge, qs - (window - (qe - qs)) // 2), n - edge - window)
    ranges = [(0, edge), (start, start + window), (n - edge, n)]
    merged: list[tuple[int, int]] = []
    for a, b in ranges:
        if b <= a:
            continue
        if merged and a <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], b))
        else:
            merged.append((a, b))
    return merged
