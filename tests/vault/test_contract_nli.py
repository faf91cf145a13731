import gzip
import json
from importlib import resources
from pathlib import Path

import pytest

from lextune.core.errors import IngestError
from lextune.vault.contract_nli import is_contract_nli, parse_contract_nli

TEXT = (
    "NON-DISCLOSURE AGREEMENT\n"
    "1. The Recipient shall not reverse engineer any sample.\n"
    "2. The Recipient may share information with its employees.\n"
    "3. The Recipient shall return all materials on termination."
)


def spans_of(text: str) -> list[list[int]]:
    out, pos = [], 0
    for line in text.split("\n"):
        out.append([pos, pos + len(line)])
        pos += len(line) + 1
    return out


LABELS = {
    "nda-11": {"short_description": "No reverse engineering",
               "hypothesis": "Receiving Party shall not reverse engineer any objects."},
    "nda-5": {"short_description": "Sharing with employees",
              "hypothesis": "Receiving Party may share some Confidential Information with some employees."},
    "nda-16": {"short_description": "Return", "hypothesis": "Receiving Party shall return information."},
    "nda-18": {"short_description": "No solicitation", "hypothesis": "Receiving Party shall not solicit."},
}


def payload() -> dict:
    good = {"id": 7, "file_name": "acme-nda.pdf", "text": TEXT, "spans": spans_of(TEXT),
            "document_type": "search-pdf", "url": "https://example.com/acme-nda.pdf",
            "annotation_sets": [{"annotations": {
                "nda-11": {"choice": "Entailment", "spans": [1]},
                "nda-5": {"choice": "Contradiction", "spans": [2, 3]},
                "nda-18": {"choice": "NotMentioned", "spans": []},
                "nda-16": {"choice": "Maybe", "spans": [3]},  # not a label
                "nda-99": {"choice": "Entailment", "spans": [1]},  # not a hypothesis of the file
            }}]}
    bad_span = json.loads(json.dumps(good))
    bad_span.update(id=8, file_name="bolt-nda.pdf")
    bad_span["annotation_sets"][0]["annotations"] = {"nda-11": {"choice": "Entailment", "spans": [42]},
                                                     "nda-16": {"choice": "Entailment", "spans": [3]}}
    return {"documents": [good, {"id": 9, "spans": []}, bad_span, "not a document"], "labels": LABELS}


def test_detection_rule():
    assert is_contract_nli(payload())
    assert not is_contract_nli({"data": []}) and not is_contract_nli([{"documents": 1, "labels": 2}])


def test_documents_and_nli_annotations():
    result = parse_contract_nli(Path("nli.json"), payload())
    assert [d.title for d in result.documents] == ["acme-nda.pdf", "bolt-nda.pdf"]
    doc = result.documents[0]
    assert (doc.format, doc.part, doc.text, doc.source_path) == ("contract_nli", "7", TEXT, "nli.json")
    assert doc.metadata == {"contract_nli_id": "7", "document_type": "NDA", "source_url":
                            "https://example.com/acme-nda.pdf", "source_kind": "search-pdf"}
    by_key = {a.clause_type: a for a in doc.annotations}
    assert set(by_key) == {"nda-11", "nda-5", "nda-18"}
    assert all(a.kind == "nli" for a in doc.annotations)
    entail = by_key["nda-11"]
    assert entail.label == "Entailment" and entail.text == "1. The Recipient shall not reverse engineer any sample."
    assert TEXT[entail.start:entail.end] == entail.text
    assert entail.extra["hypothesis"] == LABELS["nda-11"]["hypothesis"]
    contra = by_key["nda-5"]
    assert contra.label == "Contradiction" and contra.extra["spans"] == [spans_of(TEXT)[2], spans_of(TEXT)[3]]
    assert (contra.start, contra.end) == tuple(spans_of(TEXT)[2])
    absent = by_key["nda-18"]
    assert (absent.label, absent.start, absent.end, absent.text, absent.extra["spans"]) == (
        "NotMentioned", 0, 0, "", [])


def test_malformed_entries_are_warnings_and_the_rest_loads():
    result = parse_contract_nli(Path("nli.json"), payload())
    warnings = "\n".join(result.warnings)
    assert "documents[1]: no document text" in warnings
    assert "documents[3]: no document text" in warnings
    assert "document 7: nda-16: label 'Maybe'" in warnings
    assert "document 7: hypothesis 'nda-99' is not among the file's labels" in warnings
    assert "document 8: nda-11: evidence [42] does not name valid spans" in warnings
    assert len(result.warnings) == 5
    assert [a.clause_type for a in result.documents[1].annotations] == ["nda-16"]


@pytest.mark.parametrize("bad, reason", [
    ({"documents": [], "labels": {}}, "'labels' is not an object"),
    ({"documents": {}, "labels": LABELS}, "'documents' is not a list"),
    ({"documents": [{"id": 1}], "labels": LABELS}, "no loadable ContractNLI documents"),
])
def test_unusable_files_are_errors(bad, reason):
    with pytest.raises(IngestError, match=reason):
        parse_contract_nli(Path("x.json"), bad)


def test_the_bundled_sample_parses_with_exact_evidence():
    with gzip.open(resources.files("lextune") / "demo_data" / "contract_nli_sample.json.gz", "rt") as f:
        raw = json.load(f)
    assert is_contract_nli(raw)
    result = parse_contract_nli(Path("contract_nli_sample.json.gz"), raw)
    assert len(result.documents) == 6 and not result.warnings
    for doc in result.documents:
        assert len(doc.annotations) == 17
        for a in doc.annotations:
            assert all(e > s for s, e in a.extra["spans"]) and a.text == doc.text[a.start:a.end]
            assert bool(a.extra["spans"]) == (a.label != "NotMentioned")
