"""Ingest as a pipeline: versions, families, metadata, attachments, parallel workers."""

from email.message import EmailMessage

import pytest
from conftest import sample_squad

from lextune.core.errors import IngestError
from lextune.vault.vault import Vault

CONTRACT = sample_squad()["data"][0]["paragraphs"][0]["context"]


def _rewrap(text: str, width: int = 70) -> str:
    """The same contract as another tool would extract it: other line breaks, page-number lines."""
    words = text.split()
    lines, line = [], []
    for w in words:
        line.append(w)
        if sum(len(x) + 1 for x in line) > width:
            lines.append(" ".join(line))
            line = []
            if len(lines) % 45 == 0:
                lines.append(f"Page {len(lines) // 45}")
    lines.append(" ".join(line))
    return "\n".join(lines)


def test_a_changed_file_is_a_new_version_and_reingest_is_a_noop(store, tmp_path):
    f = tmp_path / "msa.txt"
    f.write_text("MASTER SERVICES AGREEMENT\n\n1. TERM\n\nThe term is two years from the Effective Date.\n")
    vault = Vault(store, workers=1)
    first = vault.ingest([f])
    assert len(first.added) == 1
    assert vault.ingest([f]).added == []  # same bytes: nothing happens
    f.write_text("MASTER SERVICES AGREEMENT\n\n1. TERM\n\nThe term is three years from the Effective Date.\n")
    second = vault.ingest([f])
    assert len(second.added) == 1 and len(second.new_versions) == 1
    docs = {d.id: d for d in vault.documents()}
    old, new = docs[first.added[0]], docs[second.added[0]]
    assert (old.version, old.is_latest) == (1, False)
    assert (new.version, new.is_latest, new.supersedes) == (2, True, old.id)
    assert new.family_id == old.family_id  # a new version stays with its document (and its split)
    assert [d.id for d in vault.documents(latest_only=True)] == [new.id]
    assert new.file_sha256 and new.file_sha256 != old.file_sha256


def test_same_contract_in_two_renderings_is_one_family(store, tmp_path):
    (tmp_path / "a.txt").write_text(CONTRACT)
    (tmp_path / "b.md").write_text(_rewrap(CONTRACT))
    other = sample_squad()["data"][1]["paragraphs"][0]["context"]
    (tmp_path / "c.txt").write_text(other)
    vault = Vault(store, workers=1)
    report = vault.ingest([tmp_path])
    assert len(report.added) == 3
    fam = {d.source_path.rsplit("/", 1)[-1]: d.family_id for d in vault.documents()}
    assert fam["a.txt"] == fam["b.md"] != fam["c.txt"]


def test_metadata_from_options_folder_and_sidecar(store, tmp_path):
    folder = tmp_path / "acme"
    folder.mkdir()
    (folder / "lextune.meta.yaml").write_text("client: ACME\njurisdiction: US-NY\n")
    (folder / "nda.txt").write_text("NON-DISCLOSURE AGREEMENT\n\nThe Recipient shall keep secrets.\n")
    (folder / "nda.txt.meta.yaml").write_text("document-type: nda\njurisdiction: US-DE\n")
    (folder / "memo.txt").write_text("MEMORANDUM\n\nRe: the lease renewal options.\n")
    Vault(store, workers=1).ingest([folder], metadata={"matter": "M-7", "client": "ignored"})
    meta = {d.title: d.metadata for d in Vault(store).documents()}
    assert meta["nda"] == {"matter": "M-7", "client": "ACME", "jurisdiction": "US-DE", "document_type": "nda",
                           "encoding": "utf-8"}
    assert meta["memo"]["jurisdiction"] == "US-NY" and meta["memo"]["matter"] == "M-7"


def test_a_misspelt_metadata_key_is_reported_by_file(store, tmp_path):
    (tmp_path / "a.txt").write_text("AGREEMENT\n\nText of the agreement here.\n")
    (tmp_path / "a.txt.meta.yaml").write_text("clinet: ACME\n")
    report = Vault(store, workers=1).ingest([tmp_path])
    assert report.added == []
    assert "a.txt.meta.yaml" in report.errors[0] and "did you mean 'client'" in report.errors[0]


def test_email_attachments_are_documents_linked_to_the_email(store, tmp_path):
    msg = EmailMessage()
    msg["From"], msg["To"], msg["Subject"] = "a@firm.example", "b@client.example", "Draft lease"
    msg.set_content("Please find the draft lease attached.")
    msg.add_attachment(b"LEASE\n\n1. RENT\n\nRent is due monthly.\n", maintype="text", subtype="plain",
                       filename="lease.txt")
    msg.add_attachment(b"%PDF-1.4 broken", maintype="application", subtype="pdf", filename="broken.pdf")
    (tmp_path / "mail.eml").write_bytes(bytes(msg))
    report = Vault(store, workers=1).ingest([tmp_path / "mail.eml"])
    assert len(report.added) == 2 and any("broken.pdf" in w for w in report.warnings)
    docs = {d.format: d for d in Vault(store).documents()}
    assert docs["txt"].parent_id == docs["eml"].id and docs["txt"].part == "attachment:lease.txt"


def test_parallel_ingest_stores_the_same_as_serial(tmp_path, monkeypatch):
    from lextune.core.config import Settings
    from lextune.core.store import Store

    for i, d in enumerate(sample_squad()["data"][:4]):
        (tmp_path / "in" / f"c{i}.txt").parent.mkdir(exist_ok=True)
        (tmp_path / "in" / f"c{i}.txt").write_text(d["paragraphs"][0]["context"])
    (tmp_path / "in" / "bad.pdf").write_bytes(b"not a pdf at all")

    def run(workers: int):
        store = Store(Settings(home=tmp_path / f"home{workers}"))
        vault = Vault(store, workers=workers)
        vault.min_files_for_workers = 2  # use the process pool even for this small batch
        report = vault.ingest([tmp_path / "in"])
        chunks = {d.id: [(c.start, c.end, c.kind) for c in vault.chunks(d.id)] for d in vault.documents()}
        store.close()
        return report, chunks

    serial, serial_chunks = run(1)
    parallel, parallel_chunks = run(2)
    assert serial.added == parallel.added and len(serial.added) == 4
    assert serial.errors == parallel.errors and "bad.pdf" in serial.errors[0]
    assert serial_chunks == parallel_chunks


def test_bad_cli_metadata_pair_is_an_error():
    from lextune.vault.metadata import parse_pairs

    with pytest.raises(IngestError, match="key=value"):
        parse_pairs(["client"])
    assert parse_pairs(["Practice-Area=employment"]) == {"practice_area": "employment"}
