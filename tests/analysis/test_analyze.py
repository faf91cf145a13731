import json

import pytest
from analysis_contracts import canned, contract

from lextune.analysis import Analysis, AnalysisError, AnalyzeOptions, analyze_document, playbook_from_dict
from lextune.analysis.analyze import analysis_steps, option_types
from lextune.core.errors import IngestError
from lextune.data.dataset import DEFAULT_CLAUSE_TYPES

PLAYBOOK = playbook_from_dict({
    "name": "test",
    "required": [{"clause": "Cap on Liability", "severity": "high", "recommendation": "Add a cap."}],
    "forbidden": ["Non-Compete"],
    "governing_law": {"allowed": ["New York"], "recommendation": "Use New York law."},
    "renewal_notice_days": {"min": 60},
    "phrases": [{"pattern": r"sole discretion", "severity": "low"}],
})


def _flags(analysis: Analysis) -> dict[str, str]:
    return {f.rule: f.message for f in analysis.flags}


def test_clean_contract_has_no_flags_and_exact_spans():
    text = contract()
    a = analyze_document(text, PLAYBOOK, canned, quote=canned, model="canned")
    assert [c.type for c in a.clauses] == ["Renewal Term", "Cap on Liability", "Governing Law"]
    for c in a.clauses:
        assert text[c.start:c.end] == c.text and c.source == "model" and c.verified is True
    assert a.flags == [] and a.recommendations == []
    law = a.clauses_of("Governing Law")[0].extracted["governing_law"]
    assert law.value == "New York" and text[law.start:law.end] == law.text and law.by == "rules"
    assert a.sha256 and a.n_chars == len(text) and a.model == "canned" and a.text == text
    assert a.clause_types == DEFAULT_CLAUSE_TYPES  # exactly the trained options for this playbook
    assert "no flags" in a.summary and "New York" in a.summary


def test_delaware_short_notice_and_missing_cap_fire():
    text = contract(state="Delaware", notice="thirty (30) days", cap=False)
    a = analyze_document(text, PLAYBOOK, canned, quote=canned)
    flags = _flags(a)
    assert flags["governing_law"] == "governing law not New York: the contract chooses Delaware"
    assert flags["renewal_notice_days"] == "auto-renewal with notice under 60 days (30 days' notice)"
    assert flags["required:Cap on Liability"].startswith("Cap on Liability missing")
    assert a.flags[0].severity == "high"  # most severe first
    assert a.recommendations[0] == "Add a cap." and "Use New York law." in a.recommendations
    law_flag = next(f for f in a.flags if f.rule == "governing_law")
    span = law_flag.spans[0]
    assert a.clauses[span.clause].type == "Governing Law" and text[span.start:span.end] == a.clauses[span.clause].text


def test_ninety_days_notice_does_not_fire_and_unknown_notice_does():
    assert "renewal_notice_days" not in _flags(analyze_document(contract(notice="ninety (90) days"), PLAYBOOK,
                                                                canned, quote=canned))
    flags = _flags(analyze_document(contract(notice="the agreed period"), PLAYBOOK, canned, quote=canned))
    assert flags["renewal_notice_days"].startswith("auto-renewal with no notice period found")


def test_forbidden_clause_and_phrase_flags_carry_spans():
    extra = ("5. NON-COMPETITION\n\nDuring the term Provider shall not compete with Customer in the United "
             "States, and Customer may approve exceptions in its sole discretion.\n\n")
    text = contract(extra=extra)
    a = analyze_document(text, PLAYBOOK, canned, quote=canned)
    forbidden = next(f for f in a.flags if f.rule == "forbidden:Non-Compete")
    assert a.clauses[forbidden.spans[0].clause].type == "Non-Compete"
    phrase = next(f for f in a.flags if f.rule == "phrase:sole discretion")
    assert [text[s.start:s.end] for s in phrase.spans] == ["sole discretion"] and phrase.spans[0].clause is None


def test_not_found_quote_drops_the_candidate_and_unknown_answers_are_counted():
    text = contract(extra="5. MISCELLANEOUS\n\nNOT A CLAUSE but it is governed by nothing in particular at all, "
                          "being a long paragraph of filler text for the test.\n\n")
    a = analyze_document(text, PLAYBOOK, canned, quote=canned)
    assert a.rejected_by_quote == 1 and len(a.clauses_of("Governing Law")) == 1
    assert a.unmatched_answers == 2  # preamble and services: "Something else entirely"
    assert any("named no known clause type" in w for w in a.warnings)


def test_quote_not_in_the_passage_keeps_the_passage_unverified():
    def paraphrase(convs):
        return ["It says the contract renews, more or less."] * len(convs)

    text = contract()
    a = analyze_document(text, PLAYBOOK, canned, quote=paraphrase)
    assert len(a.clauses) == 3 and all(c.verified is False for c in a.clauses)
    assert a.clauses[0].text.startswith("2. TERM AND RENEWAL")


def test_without_quote_step_clauses_are_whole_passages():
    text = contract()
    a = analyze_document(text, PLAYBOOK, canned)
    assert all(c.verified is None for c in a.clauses)
    assert a.clauses[0].text.startswith("2. TERM AND RENEWAL")  # the chunk, heading included


def test_keyword_fallback_is_marked():
    text = contract(cap=False, extra="5. INSURANCE\n\nProvider shall maintain general liability insurance "
                                     "with reputable insurers at all times during the term of this Agreement.\n\n")
    a = analyze_document(text, PLAYBOOK, lambda convs: ["nonsense"] * len(convs),
                         options=AnalyzeOptions(keyword_fallback=True))
    by_type = {c.type: c for c in a.clauses}
    assert by_type["Governing Law"].source == "keywords" and by_type["Insurance"].source == "keywords"
    assert all(c.source == "keywords" for c in a.clauses)
    assert "required:Cap on Liability" in _flags(a)  # no keyword hit: still missing


def test_model_summary_and_json_round_trip():
    a = analyze_document(contract(), PLAYBOOK, canned, summarize=canned)
    assert a.model_summary == "A services agreement between Acme and Widget."
    again = Analysis.model_validate_json(a.model_dump_json())
    assert again == a and json.loads(a.model_dump_json())["clauses"][0]["extracted"]["auto_renewal"]["by"] == "rules"


def test_playbook_types_outside_the_trained_ones_are_appended_with_a_warning():
    pb = playbook_from_dict({"name": "x", "required": ["Uncapped Liability"]})
    types, extra = option_types(pb, None)
    assert types[:len(DEFAULT_CLAUSE_TYPES)] == DEFAULT_CLAUSE_TYPES and extra == ["Uncapped Liability"]
    a = analyze_document(contract(), pb, canned)
    assert any("Uncapped Liability" in w for w in a.warnings)


def test_bad_documents_and_bad_model_answers(tmp_path):
    with pytest.raises(AnalysisError, match="no text"):
        analyze_document("   \n", PLAYBOOK, canned)
    with pytest.raises(AnalysisError, match="returned 0 clause-type answers"):
        analyze_document(contract(), PLAYBOOK, lambda convs: [])
    bad = tmp_path / "broken.pdf"
    bad.write_bytes(b"%PDF-1.4 not really a pdf")
    with pytest.raises(IngestError, match="broken.pdf"):
        analyze_document(bad, PLAYBOOK, canned)
    with pytest.raises(IngestError, match="missing.txt: no such file"):
        analyze_document(tmp_path / "missing.txt", PLAYBOOK, canned)
    many = tmp_path / "many.jsonl"
    many.write_text('{"text": "one contract"}\n{"text": "another contract"}\n')
    with pytest.raises(IngestError, match="many.jsonl: holds 2 documents"):
        analyze_document(many, PLAYBOOK, canned)


def test_file_input_names_the_document(tmp_path):
    path = tmp_path / "msa.txt"
    path.write_text(contract())
    a = analyze_document(path, PLAYBOOK, canned, quote=canned)
    assert a.document == "msa" and len(a.clauses) == 3


def test_steps_ask_in_order_and_stop_without_passages():
    steps = analysis_steps(contract(), "d", PLAYBOOK, AnalyzeOptions(summarize=True))
    first = next(steps)
    assert first.purpose == "classify" and first.max_new_tokens == 16
    second = steps.send(canned(first.conversations))
    assert second.purpose == "quote"
    assert steps.send(canned(second.conversations)).purpose == "summarize"
    empty = analysis_steps("Hi.", "d", PLAYBOOK)
    with pytest.raises(StopIteration) as done:
        next(empty)
    assert done.value.value.passages == 0 and "Cap on Liability missing" in done.value.value.summary
