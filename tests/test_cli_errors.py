"""Bad input through the real entry point: one line on stderr, non-zero exit, no traceback."""

import sys

import pytest

from lextune.cli import run


def _run(monkeypatch, capsys, *args: str) -> tuple[int, str]:
    monkeypatch.setattr(sys, "argv", ["lextune", *args])
    with pytest.raises(SystemExit) as e:
        run()
    return e.value.code, capsys.readouterr().err


def test_unknown_version_is_one_line(home, monkeypatch, capsys):
    code, err = _run(monkeypatch, capsys, "models", "activate", "nope")
    assert code == 1
    assert "error: no model version 'nope'; known: none" in err
    assert "Traceback" not in err


def test_recipe_typo_fails_before_work(home, monkeypatch, capsys, tmp_path):
    recipe = tmp_path / "r.yaml"
    recipe.write_text("learning_rat: 0.1\n")
    code, err = _run(monkeypatch, capsys, "train", "--recipe", str(recipe))
    assert code == 1 and "unknown key 'learning_rat'" in err


def test_unknown_base_model_lists_catalog(home, monkeypatch, capsys, tmp_path):
    code, err = _run(monkeypatch, capsys, "ask", "what law?", "--base-model", str(tmp_path / "missing"))
    assert code == 1 and "smollm2-135m-instruct" in err


def test_ingest_reports_bad_file_and_keeps_good_one(home, monkeypatch, capsys, tmp_path):
    (tmp_path / "good.txt").write_text("1. TERM\n\nThis Agreement lasts two years.\n")
    (tmp_path / "bad.pdf").write_bytes(b"%PDF-1.4 this is not really a pdf")
    (tmp_path / "empty.txt").write_bytes(b"")
    (tmp_path / "photo.png").write_bytes(b"\x89PNG")
    monkeypatch.setattr(sys, "argv", ["lextune", "ingest", str(tmp_path)])
    with pytest.raises(SystemExit) as e:
        run()
    assert e.value.code == 3  # something was skipped
    captured = capsys.readouterr()
    assert "ingested 1 documents" in captured.out and "3 files skipped" in captured.out
    assert "skipped files by reason" in captured.out and "unsupported file type" in captured.out
    assert "bad.pdf" in captured.err and "empty.txt: empty file (0 bytes)" in captured.err
    # Nothing skipped: exit 0, and re-ingesting is a no-op.
    monkeypatch.setattr(sys, "argv", ["lextune", "ingest", str(tmp_path / "good.txt")])
    run()
    assert "1 already in the vault" in capsys.readouterr().out


def test_build_config_typo_fails_before_work(home, monkeypatch, capsys, tmp_path):
    cfg = tmp_path / "build.yaml"
    cfg.write_text("split_by: family\nanonymise: false\n")
    code, err = _run(monkeypatch, capsys, "data", "build", "--config", str(cfg))
    assert code == 1 and "unknown key 'anonymise'" in err and "build.yaml" in err
