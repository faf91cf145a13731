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
    monkeypatch.setattr(sys, "argv", ["lextune", "ingest", str(tmp_path)])
    run()
    captured = capsys.readouterr()
    assert "ingested 1 documents" in captured.out
    assert "bad.pdf" in captured.err and "skipped" in captured.err
