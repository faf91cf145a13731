"""Jobs as a user runs them: real `lextune train` processes, killed, cancelled, resumed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from lextune.core.errors import ConfigError
from lextune.train.jobs import get_job, job_checkpoints, job_events, job_summary, list_jobs, run_training
from lextune.train.recipe import Recipe

# The child gets Ctrl-C's usual handler, as a command started in a terminal has, whatever a library did
# to this test process: an ignored SIGINT is inherited across exec (seen once the whole suite had run).
CLI = [sys.executable, "-c", ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                              "from lextune.cli import run; run()")]


def _recipe(tiny_model_dir, tmp_path: Path, **over) -> Path:
    data = {"base_model": str(tiny_model_dir), "batch_size": 4, "epochs": 2.0, "learning_rate": 1e-2,
            "warmup_ratio": 0.0, "checkpoint_every": 2, "min_rows": 4, **over}
    path = tmp_path / f"recipe-{len(list(tmp_path.glob('recipe-*')))}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _cli(*args: str, home: Path, check: bool = True) -> subprocess.CompletedProcess:
    # PYTHONFAULTHANDLER: a hung child dumps every thread's stack on SIGABRT (see test_ctrl_c_cancels_cleanly).
    env = {**os.environ, "LEXTUNE_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    done = subprocess.run([*CLI, *args], check=False, env=env, capture_output=True, text=True, timeout=300)
    if check and done.returncode != 0:
        raise AssertionError(f"lextune {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return done


def _start(*args: str, home: Path) -> subprocess.Popen:
    # PYTHONFAULTHANDLER: a hung child dumps every thread's stack on SIGABRT (see test_ctrl_c_cancels_cleanly).
    env = {**os.environ, "LEXTUNE_HOME": str(home), "OMP_NUM_THREADS": "1", "PYTHONFAULTHANDLER": "1"}
    return subprocess.Popen([*CLI, *args], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _show(job: str, home: Path) -> dict:
    return json.loads(_cli("jobs", "show", job, "--json", home=home).stdout)


def _wait_for_checkpoint(store, proc: subprocess.Popen, min_step: int, timeout: float = 120) -> str:
    """The job id of the only job, once it has a checkpoint at >= min_step (the process still running)."""
    from lextune.core.tables import JobCheckpointRow

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with store.session() as s:
            row = s.query(JobCheckpointRow).filter(JobCheckpointRow.step >= min_step).first()
            if row is not None:
                return row.job_id
        if proc.poll() is not None:
            raise AssertionError(f"training ended before a checkpoint: {proc.stderr.read()[-2000:]}")
        time.sleep(0.05)
    raise AssertionError("no checkpoint in time")


def test_sigkilled_job_resumes_and_ends_where_an_uninterrupted_run_ends(store, dataset, home, tiny_model_dir,
                                                                        tmp_path):
    # 300 steps of a tiny model: long enough to be killed mid-run, short enough for CI.
    recipe = _recipe(tiny_model_dir, tmp_path, epochs=50.0, checkpoint_every=20)
    _cli("train", "--dataset", dataset.id, "--recipe", str(recipe), "--name", "uninterrupted", home=home)
    reference = json.loads(_cli("jobs", "list", "--json", home=home).stdout)[0]
    assert reference["state"] == "succeeded" and reference["model_version"] == "uninterrupted"

    proc = _start("train", "--dataset", dataset.id, "--recipe", str(recipe), "--name", "resumed", home=home)
    job = None
    try:
        deadline = time.monotonic() + 120
        while job is None and time.monotonic() < deadline:  # the second job's first checkpoint
            ids = [j.id for j in list_jobs(store) if j.id != reference["id"]]
            if ids and job_checkpoints(store, ids[0]):
                job = ids[0]
            elif proc.poll() is not None:
                raise AssertionError(proc.stderr.read()[-2000:])
            time.sleep(0.05)
        assert job, "no checkpoint in time"
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    killed = _show(job, home)
    assert killed["state"] == "failed" and "ended without a word" in killed["error"]
    assert killed["checkpoints"] and killed["model_version"] is None
    last_step = killed["checkpoints"][-1]["step"]
    assert last_step < killed["total_steps"] or killed["total_steps"] == 0

    _cli("train", "--resume", job, home=home)
    resumed = _show(job, home)
    assert resumed["state"] == "succeeded" and resumed["model_version"] == "resumed"
    assert resumed["step"] == reference["step"] == 300
    assert resumed["final_loss"] == pytest.approx(reference["final_loss"], rel=1e-3, abs=1e-4)
    messages = [e.message for e in job_events(store, job)]
    assert any(m.startswith("resuming from step-") for m in messages)


def test_cancel_stops_a_running_job_and_keeps_its_checkpoints(store, dataset, home, tiny_model_dir, tmp_path):
    recipe = _recipe(tiny_model_dir, tmp_path, epochs=5000.0, checkpoint_every=10)  # far longer than the test waits
    proc = _start("train", "--dataset", dataset.id, "--recipe", str(recipe), home=home)
    try:
        job = _wait_for_checkpoint(store, proc, 10)
        assert "stops before its next step" in _cli("jobs", "cancel", job, home=home).stdout
        proc.wait(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    shown = _show(job, home)
    assert shown["state"] == "cancelled" and shown["checkpoints"] and shown["model_version"] is None
    assert shown["step"] < shown["total_steps"]
    logs = _cli("jobs", "logs", job, home=home).stdout
    assert "cancellation requested" in logs and "cancelled by a cancel request" in logs


def test_ctrl_c_cancels_cleanly(store, dataset, home, tiny_model_dir, tmp_path):
    recipe = _recipe(tiny_model_dir, tmp_path, epochs=5000.0, checkpoint_every=10)  # far longer than the test waits
    proc = _start("train", "--dataset", dataset.id, "--recipe", str(recipe), home=home)
    try:
        job = _wait_for_checkpoint(store, proc, 10)
        proc.send_signal(signal.SIGINT)
        try:
            _, err = proc.communicate(timeout=120)
        except subprocess.TimeoutExpired:  # say where it hung: every thread's stack
            proc.send_signal(signal.SIGABRT)
            pytest.fail(f"no exit 120 s after Ctrl-C (SIGINT handler here: {signal.getsignal(signal.SIGINT)}); "
                        f"stderr: {proc.communicate(timeout=30)[1][-6000:]}")
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130 and "Traceback" not in err
    assert get_job(store, job).status == "cancelled"


def test_a_taken_name_fails_before_any_work(store, dataset, home, tiny_model_dir, tmp_path):
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=2, batch_size=4, min_rows=4)
    first = run_training(store, dataset, recipe, name="v1")
    assert first.name == "v1"
    before = set(Path(home, "versions").iterdir())
    with pytest.raises(ConfigError, match="name 'v1' is taken"):
        run_training(store, dataset, recipe.model_copy(update={"base_model": "/nonexistent"}), name="v1")
    assert set(Path(home, "versions").iterdir()) == before  # no orphan adapter folder
    # an automatic name is the dataset's name plus the next free number
    second = run_training(store, dataset, recipe)
    assert second.name == "clauses-v1"


def test_job_records_validation_checkpoints_and_events(store, dataset, home, tiny_model_dir):
    recipe = Recipe(base_model=str(tiny_model_dir), epochs=3.0, batch_size=4, min_rows=4, checkpoint_every=3,
                    learning_rate=1e-2, warmup_ratio=0.0)
    version = run_training(store, dataset, recipe)
    training = version.metrics["training"]
    job = job_summary(store, get_job(store, training["job_id"]))
    assert job["state"] == "succeeded" and job["final_loss"] == training["final_loss"]
    assert job["model_version"] == version.name
    assert [c["step"] for c in job["checkpoints"]][-1] == training["steps"] == 18
    assert training["val_curve"] and training["best_step"] is not None
    levels = {e.level for e in job_events(store, training["job_id"])}
    assert "info" in levels
    assert any(e.metrics and "val_loss" in e.metrics for e in job_events(store, training["job_id"]))


def test_early_stopping_keeps_the_best_adapter(store, dataset, home, tiny_model_dir):
    # A learning rate far too high: validation gets worse after the first evaluations.
    recipe = Recipe(base_model=str(tiny_model_dir), epochs=20.0, batch_size=4, min_rows=4, eval_every=2,
                    early_stopping_patience=2, learning_rate=0.5, warmup_ratio=0.0)
    version = run_training(store, dataset, recipe)
    training = version.metrics["training"]
    assert training["stopped_early"] and training["steps"] == 120
    last_step = training["loss_curve"][-1][0]
    assert last_step < 120
    best = min(training["val_curve"], key=lambda x: x[1])
    assert training["best_step"] == best[0]


def test_metrics_go_to_mlflow_when_the_recipe_asks(store, dataset, home, tiny_model_dir, monkeypatch):
    """The wiring, with a recording stand-in for the mlflow module (mlflow itself is not a dependency)."""
    import types

    calls: list[tuple] = []
    fake = types.SimpleNamespace(
        set_tracking_uri=lambda uri: calls.append(("uri", uri)), set_experiment=lambda n: calls.append(("exp", n)),
        start_run=lambda run_name: calls.append(("start", run_name)),
        log_params=lambda p: calls.append(("params", p)),
        log_metrics=lambda m, step: calls.append(("metrics", step, m)),
        end_run=lambda status: calls.append(("end", status)))
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=3, batch_size=4, min_rows=4, report_to=["mlflow"],
                    eval_every=3)
    version = run_training(store, dataset, recipe)
    job_id = version.metrics["training"]["job_id"]
    assert ("uri", (home / "mlruns").as_uri()) in calls and ("start", job_id) in calls
    params = next(c[1] for c in calls if c[0] == "params")
    assert params["recipe.batch_size"] == "4" and params["dataset"] == dataset.id
    steps = [c[1] for c in calls if c[0] == "metrics" and "loss" in c[2]]
    assert steps == [1, 2, 3] and any(c[0] == "metrics" and "val_loss" in c[2] for c in calls)
    assert calls[-1] == ("end", "FINISHED")


def test_mlflow_missing_is_a_warning_not_a_failure(store, dataset, home, tiny_model_dir, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow -> ImportError
    recipe = Recipe(base_model=str(tiny_model_dir), max_steps=1, batch_size=4, min_rows=4, report_to=["mlflow"])
    version = run_training(store, dataset, recipe)
    events = job_events(store, version.metrics["training"]["job_id"])
    assert any(e.level == "warning" and "mlflow is not installed" in e.message for e in events)
