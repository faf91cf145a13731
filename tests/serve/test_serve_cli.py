"""`lextune serve` as a user starts it: a real process on a port, the openai client, then Ctrl-C."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import openai


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_command_answers_the_openai_client_and_stops_on_ctrl_c(home, tiny_model_dir, tmp_path):
    port = _free_port()
    config = tmp_path / "serve.yaml"
    config.write_text(f"base_model: {tiny_model_dir}\nmax_batch: 4\nscopes:\n  tax: {{retrieve: false}}\n")
    # Ctrl-C's usual handler in the child, whatever this test process inherited (see tests/train/test_jobs.py).
    cli = [sys.executable, "-c", ("import signal; signal.signal(signal.SIGINT, signal.default_int_handler); "
                                  "from lextune.cli import run; run()")]
    proc = subprocess.Popen([*cli, "serve", "--port", str(port), "--config", str(config)],
                            env={**os.environ, "LEXTUNE_HOME": str(home)}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.1)
        client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0)
        assert "active" in {m.id for m in client.models.list().data}
        r = client.chat.completions.create(model="active", messages=[{"role": "user", "content": "Hi"}], max_tokens=3)
        assert r.model_extra["lextune"]["fine_tuned"] is False and r.usage.completion_tokens <= 3
    finally:
        proc.send_signal(signal.SIGINT)
        output = proc.communicate(timeout=30)[0]
    assert proc.returncode == 0, output
    assert "audit trail intact" in output and f"127.0.0.1:{port}/v1" in output


def test_serve_config_typo_is_one_line_naming_the_key(home, tmp_path):
    config = tmp_path / "serve.yaml"
    config.write_text("max_batchh: 4\n")
    cli = Path(sys.executable).parent / "lextune"
    done = subprocess.run([str(cli), "serve", "--config", str(config)], check=False, capture_output=True,
                          env={**os.environ, "LEXTUNE_HOME": str(home)}, text=True, timeout=60)
    assert done.returncode == 1
    assert "unknown key 'max_batchh'" in done.stderr + done.stdout and "Traceback" not in done.stderr
