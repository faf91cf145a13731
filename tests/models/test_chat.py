import pytest
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import PreTrainedTokenizerFast

from lextune.models.chat import (
    CUT_MARK,
    IGNORE_INDEX,
    AnswerDoesNotFit,
    AnswerUnsupported,
    encode_example,
    end_of_turn_id,
    end_of_turn_ids,
    prompt_ids,
)
from lextune.models.loading import load_tokenizer

MESSAGES = [
    {"role": "system", "content": "You are a contract analyst."},
    {"role": "user", "content": "Which clause type is this? The laws of Delaware govern."},
    {"role": "assistant", "content": "Governing Law"},
]
GEMMA = (
    "{{ bos_token }}{% for m in messages %}<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n"
    "{{ m['content'] }}<end_of_turn>\n{% endfor %}{% if add_generation_prompt %}<start_of_turn>model\n{% endif %}"
)
PHI3 = (
    "{% for m in messages %}<|{{ m['role'] }}|>\n{{ m['content'] }}<|end|>\n{% endfor %}"
    "{% if add_generation_prompt %}<|assistant|>\n{% else %}{{ eos_token }}{% endif %}"
)


def _tokenizer(specials: list[str], template: str, **named) -> PreTrainedTokenizerFast:
    """A tiny word-level tokenizer whose special tokens come first (so <eos> has the smallest id)."""
    tok = Tokenizer(models.WordLevel(unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    words = " ".join(m["content"] for m in MESSAGES) + " model user system assistant question probe answer lextune"
    tok.train_from_iterator([words], trainers.WordLevelTrainer(special_tokens=specials + ["<unk>"]))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", **named)
    fast.chat_template = template
    return fast


@pytest.fixture(params=["gemma", "phi3"])
def other_family(request):
    if request.param == "gemma":
        tok = _tokenizer(["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], GEMMA,
                         eos_token="<eos>", bos_token="<bos>", pad_token="<pad>")
        return tok, "<end_of_turn>"
    tok = _tokenizer(["<|endoftext|>", "<|user|>", "<|assistant|>", "<|system|>", "<|end|>"], PHI3,
                     eos_token="<|endoftext|>", pad_token="<|endoftext|>")
    return tok, "<|end|>"


def test_end_of_turn_comes_from_the_template_not_the_smallest_stop_id(other_family):
    tok, terminator = other_family
    eot = tok.convert_tokens_to_ids(terminator)
    assert tok.eos_token_id < eot  # the old rule (smallest stop id) would have picked <eos>
    assert end_of_turn_id(tok) == eot
    assert end_of_turn_ids(tok)[0] == eot and tok.eos_token_id in end_of_turn_ids(tok)
    ex = encode_example(tok, MESSAGES, max_len=512)
    answer = [t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert answer[-1] == eot  # the model learns to close its turn the way its template does
    assert tok.decode(answer[:-1]) == "Governing Law"


def test_labels_cover_exactly_the_answer_and_end_of_turn(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    ex = encode_example(tok, MESSAGES, max_len=512)
    prompt = prompt_ids(tok, MESSAGES[:-1])
    assert ex.input_ids[: len(prompt)] == prompt
    assert all(label == IGNORE_INDEX for label in ex.labels[: len(prompt)])
    answer = [t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert answer[-1] == end_of_turn_id(tok) == tok.convert_tokens_to_ids("<|im_end|>")
    assert tok.decode(answer[:-1]) == "Governing Law"
    assert ex.cut_tokens == 0


def _passage(n: int) -> str:
    return " ".join(f"word{i}" for i in range(n))


def test_long_prompt_loses_the_middle_of_the_passage_not_the_template(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    user = "Instruction: classify this.\n" + _passage(300) + "\nQuestion: which type?"
    long = [MESSAGES[0], {"role": "user", "content": user}, MESSAGES[2]]
    ex = encode_example(tok, long, max_len=128)
    assert len(ex.input_ids) <= 128 and ex.cut_tokens > 0
    text = tok.decode(ex.input_ids)
    # the template's headers (system and user turns) and the message's edges are intact
    assert text.startswith("<|im_start|>system\nYou are a contract analyst.<|im_end|>\n<|im_start|>user\nInstruction:")
    assert "which type?<|im_end|>\n<|im_start|>assistant\n" in text
    assert CUT_MARK.strip() in text
    answer = [t for t, label in zip(ex.input_ids, ex.labels) if label != IGNORE_INDEX]
    assert tok.decode(answer[:-1]) == "Governing Law"


def test_a_quoted_clause_survives_the_cut(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    clause = "The laws of Delaware govern this Agreement"
    for where in (0.15, 0.5, 0.85):  # the quote early, in the middle, late in the passage
        words = _passage(400).split()
        at = int(len(words) * where)
        passage = " ".join(words[:at] + [clause] + words[at:])
        msgs = [{"role": "user", "content": "Excerpt:\n" + passage + "\nQuote the governing law clause."},
                {"role": "assistant", "content": clause}]
        ex = encode_example(tok, msgs, max_len=200)
        prompt_text = tok.decode([t for t, lab in zip(ex.input_ids, ex.labels) if lab == IGNORE_INDEX])
        assert len(ex.input_ids) <= 200 and ex.cut_tokens > 0
        assert "The laws of Delaware govern this Agreement" in prompt_text, where


def test_a_quote_that_cannot_be_kept_is_refused_not_trained_on(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    clause = _passage(60)  # the answer quotes most of a passage that must shrink
    msgs = [{"role": "user", "content": "Excerpt:\n" + _passage(20) + " " + clause + "\nQuote it."},
            {"role": "assistant", "content": clause}]
    with pytest.raises((AnswerUnsupported, AnswerDoesNotFit)):
        encode_example(tok, msgs, max_len=len(prompt_ids(tok, msgs[:-1])) + 30)


def test_an_answer_longer_than_max_len_does_not_fit(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    msgs = [MESSAGES[1], {"role": "assistant", "content": "clause " * 200}]
    with pytest.raises(AnswerDoesNotFit):
        encode_example(tok, msgs, max_len=64)


def test_a_template_that_never_closes_the_turn_falls_back_to_eos_and_no_template_is_refused():
    from lextune.models.chat import TemplateError

    open_ended = "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }}\n{% endfor %}"
    tok = _tokenizer(["<pad>", "<eos>"], open_ended, eos_token="<eos>", pad_token="<pad>")
    assert end_of_turn_id(tok) == tok.eos_token_id
    bare = _tokenizer(["<pad>", "<eos>"], open_ended, eos_token="<eos>", pad_token="<pad>")
    bare.chat_template = None
    with pytest.raises(TemplateError, match="no chat template"):
        end_of_turn_id(bare)
