"""The citation verifier: sound both ways, on the text exactly as shown."""

import pytest

from lextune.data import prompts
from lextune.rag.grounding import REFUSAL, Passage, Retrieval, grounded_messages, verify_answer
from lextune.rag.verify import statements

LAW = "10.5 GOVERNING LAW. This Agreement shall be governed by the laws of the State of New York."
TERM = "3. TERM. This Agreement commences on the Effective Date and continues for five (5) years."


def _retrieval(*texts: str, confident: bool = True) -> Retrieval:
    passages = [Passage(number=n, chunk_id=f"c{n}", document_id="d", title="t", section="s", start=100 * n,
                        end=100 * n + len(t), text=t, score=1.0) for n, t in enumerate(texts, start=1)]
    return Retrieval(question="q", mode="bm25", passages=passages, confident=confident, confidence=0.9)


def test_short_correct_answer_is_supported():
    g = verify_answer("New York [1]", _retrieval(LAW, TERM))
    assert not g.refused and g.citations[0].supported and g.citations[0].evidence == "contained"
    assert g.text == "New York [1]"
    assert (g.citations[0].chunk_id, g.citations[0].start) == ("c1", 100)


def test_verbatim_sentence_of_another_passage_is_not_supported():
    g = verify_answer('"This Agreement commences on the Effective Date" [1]', _retrieval(LAW, TERM))
    assert g.citations[0].evidence == "unsupported" and not g.citations[0].supported
    assert g.refused and g.reason == "unsupported" and g.text.startswith(REFUSAL)
    assert verify_answer('"This Agreement commences on the Effective Date" [2]', _retrieval(LAW, TERM)).citations[0].evidence == "quote"


@pytest.mark.parametrize("answer, numbers", [
    ("New York [1, 2]", [1, 2]), ("New York [1][2]", [1, 2]), ("New York [S1, S2]", [1, 2]), ("New York [S1]", [1]),
    ("New York [2]; five years [1]", None),
])
def test_tag_forms_parse(answer, numbers):
    cited, _ = statements(answer)
    if numbers is None:
        assert [(s.text, s.numbers) for s in cited] == [("New York", [2]), ("five years", [1])]
    else:
        assert [s.numbers for s in cited] == [numbers]


def test_each_citation_of_a_group_is_checked_on_its_own():
    g = verify_answer("New York [S1, S2]", _retrieval(LAW, TERM))
    assert [(c.number, c.supported) for c in g.citations] == [(1, True), (2, False)]
    assert g.text == "New York [1]"  # the failing tag is dropped


def test_citation_of_a_passage_not_shown_is_flagged():
    g = verify_answer("New York [7]", _retrieval(LAW, TERM))
    assert g.citations[0].evidence == "not_retrieved" and g.citations[0].chunk_id is None
    assert g.refused


def test_overlap_uses_content_words_and_requires_names():
    r = _retrieval(LAW)
    ok = verify_answer("The agreement is governed by New York law [1].", r)
    assert ok.citations[0].evidence == "overlap"
    assert not verify_answer("The agreement is governed by the laws of California [1].", r).citations[0].supported
    assert not verify_answer("The agreement may not be governed by New York law [1].", r).citations[0].supported


def test_uncited_answer_is_flagged_and_uncited_sentences_dropped():
    g = verify_answer("The agreement is governed by New York law.", _retrieval(LAW))
    assert g.refused and g.reason == "uncited" and g.uncited
    g = verify_answer("New York [1]. It also waives jury trial.", _retrieval(LAW))
    assert not g.refused and g.removed == 1 and "jury" not in g.text and g.uncited == ["It also waives jury trial."]


def test_quote_with_elision_and_typographic_quotes():
    g = verify_answer("Governing law: \u201cThis Agreement shall be governed by ... the State of New York\u201d [1]",
                      _retrieval(LAW))
    assert g.citations[0].evidence == "quote"


def test_training_style_answer_passes():
    answer = prompts.cited_quote_answer("The agreement names its governing law",
                                        [("This Agreement shall be governed by the laws of the State of New York", 1)])
    g = verify_answer(answer, _retrieval(LAW, TERM))
    assert not g.refused and [c.evidence for c in g.citations] == ["quote"]


def test_not_found_and_low_confidence_are_refusals_with_nearest_passages():
    g = verify_answer(prompts.CITED_NOT_FOUND, _retrieval(LAW, TERM))
    assert g.refused and g.reason == "model_not_found" and "[1] t / s, chars 100-" in g.text
    g = verify_answer("New York [1]", _retrieval(LAW, confident=False))
    assert g.refused and g.reason == "low_confidence" and g.text.startswith(REFUSAL)


def test_messages_are_the_cited_qa_prompt():
    r = _retrieval(LAW, TERM)
    messages = grounded_messages("Which law governs?", r.passages)
    assert messages[0]["content"] == prompts.SYSTEM
    assert messages[1]["content"] == prompts.cited_qa_prompt("Which law governs?", [LAW, TERM])
