from lextune.models.chat import IGNORE_INDEX, encode_example, end_of_turn_ids, prompt_ids
from lextune.models.loading import load_tokenizer

MESSAGES = [
    {"role": "system", "content": "You are a contract analyst."},
    {"role": "user", "content": "Which clause type is this? The laws of Delaware govern."},
    {"role": "assistant", "content": "Governing Law"},
]


def test_labels_cover_exactly_the_answer_and_end_of_turn(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    ids, labels = encode_example(tok, MESSAGES, max_len=512)
    prompt = prompt_ids(tok, MESSAGES[:-1])
    assert ids[: len(prompt)] == prompt
    assert all(label == IGNORE_INDEX for label in labels[: len(prompt)])
    answer = [t for t, label in zip(ids, labels) if label != IGNORE_INDEX]
    assert answer[-1] in end_of_turn_ids(tok)
    assert tok.decode(answer[:-1]) == "Governing Law"


def test_long_prompt_is_cut_but_answer_kept(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    long = [MESSAGES[0], {"role": "user", "content": "word " * 400}, MESSAGES[2]]
    ids, labels = encode_example(tok, long, max_len=64)
    assert len(ids) == 64
    assert tok.decode([t for t, label in zip(ids, labels) if label != IGNORE_INDEX][:-1]) == "Governing Law"


def test_end_of_turn_is_im_end(tiny_model_dir):
    tok = load_tokenizer(tiny_model_dir)
    assert tok.convert_tokens_to_ids("<|im_end|>") in end_of_turn_ids(tok)
