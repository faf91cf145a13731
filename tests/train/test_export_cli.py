"""`lextune models export` through the real entry point: files written, the export audited."""

import json
import sys

import pytest

from lextune.cli import run
from lextune.train.jobs import run_training
from lextune.train.recipe import Recipe


def _cli(monkeypatch, capsys, *args: str) -> tuple[int, str, str]:
    monkeypatch.setattr(sys, "argv", ["lextune", *args])
    code = 0
    try:
        run()
    except SystemExit as e:
        code = e.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_export_writes_adapter_and_merged_model_and_records_it(store, dataset, home, tiny_model_dir, tmp_path,
                                                              monkeypatch, capsys):
    from lextune.core.tables import AuditEventRow

    version = run_training(store, dataset, Recipe(base_model=str(tiny_model_dir), max_steps=2, batch_size=4,
                                                  min_rows=4), name="clauses-v1")
    out = tmp_path / "export"
    code, _stdout, err = _cli(monkeypatch, capsys, "models", "export", "clauses-v1", "--out", str(out),
                             "--format", "adapter,merged", "--dtype", "float16")
    assert code == 0, err
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "merged" / "config.json").is_file() and (out / "MODEL_CARD.md").is_file()
    card = json.loads((out / "model_card.json").read_text())
    assert card["id"] == version.id and card["dataset_sha256"] == version.dataset_sha256
    with store.session() as s:
        rows = s.query(AuditEventRow).filter(AuditEventRow.action == "model.export").all()
    assert len(rows) == 1 and rows[0].target == version.id
    # a GGUF needs a GGUF base: a precise one-line error, and the finished folder is not touched
    code, _, err = _cli(monkeypatch, capsys, "models", "export", "clauses-v1", "--out", str(tmp_path / "g"),
                        "--format", "gguf")
    assert code == 1 and "error:" in err and "GGUF" in err and "Traceback" not in err


@pytest.mark.parametrize("args, expected", [
    (["--format", "onnx"], "unknown"),
    (["--gguf-quant", "Q3_K"], "unknown GGUF quantization"),
])
def test_export_bad_options_are_one_line_errors(store, dataset, home, tiny_model_dir, tmp_path, monkeypatch, capsys,
                                                args, expected):
    run_training(store, dataset, Recipe(base_model=str(tiny_model_dir), max_steps=1, batch_size=4, min_rows=4),
                 name="v")
    code, _, err = _cli(monkeypatch, capsys, "models", "export", "v", "--out", str(tmp_path / "o"), *args)
    assert code == 1 and expected in err
