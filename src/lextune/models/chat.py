"""Chat-template tokenization: prompts for generation, and training examples with an answer mask."""

from __future__ import annotations

from transformers import PreTrainedTokenizerBase

IGNORE_INDEX = -100
# End-of-turn markers of common chat templates; the first one present in the vocab wins.
_END_OF_TURN = ("<|im_end|>", "<|eot_id|>", "<end_of_turn>", "<|end|>")


def end_of_turn_ids(tokenizer: PreTrainedTokenizerBase) -> list[int]:
    """Token ids that end an assistant turn: generation stops at any of them."""
    ids = {tokenizer.eos_token_id} if tokenizer.eos_token_id is not None else set()
    vocab = tokenizer.get_vocab()
    ids.update(vocab[t] for t in _END_OF_TURN if t in vocab)
    return sorted(ids)


def prompt_ids(tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]]) -> list[int]:
    """Token ids of a conversation up to and including the assistant's turn header."""
    return list(
        tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                      return_dict=True)["input_ids"]
    )


def encode_example(
    tokenizer: PreTrainedTokenizerBase, messages: list[dict[str, str]], max_len: int
) -> tuple[list[int], list[int]]:
    """Return (input_ids, labels) for a conversation whose last message is the assistant answer.

    Labels are IGNORE_INDEX everywhere except the answer's tokens and its end-of-turn token:
    the span is taken from the chat template itself (the prompt rendered with the generation
    header is a prefix of the full rendering), so the loss never trains on the prompt. The
    prompt is truncated from the left of the user content if the example is too long, never
    the answer.
    """
    if not messages or messages[-1]["role"] != "assistant":
        raise ValueError("the last message must be the assistant answer")
    prompt = prompt_ids(tokenizer, messages[:-1])
    full = list(
        tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"]
    )
    if full[: len(prompt)] != prompt:
        # The template renders the prompt differently with an answer; splice ids instead.
        answer = tokenizer(messages[-1]["content"], add_special_tokens=False)["input_ids"]
        full = prompt + answer + [end_of_turn_ids(tokenizer)[0]]
    answer_ids = full[len(prompt):]
    stops = set(end_of_turn_ids(tokenizer))
    cut = next((i + 1 for i, t in enumerate(answer_ids) if t in stops), len(answer_ids))
    answer_ids = answer_ids[:cut]  # drop what the template adds after end-of-turn ("\n")
    overflow = len(prompt) + len(answer_ids) - max_len
    if overflow > 0:
        if overflow >= len(prompt) - 8:
            raise ValueError(f"answer of {len(answer_ids)} tokens does not fit max_len={max_len}")
        # Keep the template header (first tokens) and the end of the prompt (the question).
        head = 8
        prompt = prompt[:head] + prompt[head + overflow:]
    input_ids = prompt + answer_ids
    labels = [IGNORE_INDEX] * len(prompt) + answer_ids
    return input_ids, labels
