"""Benchmark: `lextune serve` under concurrent clients vs a naive one-request-at-a-time transformers server.

Both serve the bundled model (stock, greedy) on loopback, each in its own process, one after the
other in the same run. N clients each send chat requests back to back for a bounded time (the
same prompts, in the same order per client: short legal questions over CUAD excerpts from the
bundled demo sample); requests still running at the deadline are waited for and counted.
Printed per server: completed requests, p50/p95 latency, requests/s and generated tokens/s
(completion tokens from each reply's usage), then the ratios, and for lextune the p95 latency of
/health polled during the load (the event loop must not block while a batch decodes).

    .venv/bin/python benchmarks/serve_load.py [--clients 8] [--seconds 45] [--max-tokens 32]

Figures are indicative: other jobs on a shared machine only add time.
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def prompts(n: int = 48) -> list[list[dict[str, str]]]:
    from lextune.demo import sample_path

    with gzip.open(sample_path(), "rt", encoding="utf-8") as f:
        data = json.load(f)["data"]
    out = []
    for doc in data:
        for para in doc["paragraphs"]:
            for qa in para["qas"]:
                for ans in qa["answers"][:1]:
                    start = max(0, ans["answer_start"] - 100)
                    excerpt = para["context"][start: start + 400]
                    out.append([{"role": "user", "content": f"In one sentence, what does this clause say?\n\n{excerpt}"}])
                if len(out) >= n:
                    return out
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(url: str, proc: subprocess.Popen, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.5)
    raise RuntimeError("server did not start")


async def load(url: str, model: str, convs, clients: int, seconds: float, max_tokens: int) -> dict:
    latencies: list[float] = []
    tokens = 0
    health: list[float] = []
    deadline = time.monotonic() + seconds
    start = time.monotonic()

    async def client(k: int, http: httpx.AsyncClient):
        nonlocal tokens
        i = k
        while time.monotonic() < deadline:
            t = time.monotonic()
            r = await http.post(f"{url}/v1/chat/completions", json={
                "model": model, "messages": convs[i % len(convs)], "max_tokens": max_tokens})
            r.raise_for_status()
            latencies.append(time.monotonic() - t)
            tokens += r.json()["usage"]["completion_tokens"]
            i += clients

    async def probe(http: httpx.AsyncClient):
        while time.monotonic() < deadline:
            t = time.monotonic()
            (await http.get(f"{url}/health")).raise_for_status()
            health.append(time.monotonic() - t)
            await asyncio.sleep(0.25)

    async with httpx.AsyncClient(timeout=600, limits=httpx.Limits(max_connections=clients + 2)) as http:
        await asyncio.gather(*(client(k, http) for k in range(clients)), probe(http))
    wall = time.monotonic() - start
    lat = sorted(latencies)
    return {"requests": len(lat), "wall_s": wall, "p50_s": statistics.median(lat),
            "p95_s": lat[min(len(lat) - 1, int(0.95 * len(lat)))], "requests_per_s": len(lat) / wall,
            "tokens_per_s": tokens / wall, "health_p95_s": sorted(health)[int(0.95 * (len(health) - 1))]}


def run_server(kind: str, args) -> dict:
    port = free_port()
    env = {**os.environ, "LEXTUNE_HOME": tempfile.mkdtemp(prefix="lextune-serve-bench-")}
    if kind == "lextune":
        cmd = [str(Path(sys.executable).parent / "lextune"), "serve", "--port", str(port)]
        model = "active"
    else:
        cmd = [sys.executable, str(ROOT / "benchmarks" / "serve_naive.py"), str(port)]
        model = "stock"
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    url = f"http://127.0.0.1:{port}"
    try:
        wait_ready(url, proc)
        convs = prompts()
        asyncio.run(load(url, model, convs[:4], min(args.clients, 4), 3, args.max_tokens))  # warm-up
        result = asyncio.run(load(url, model, convs, args.clients, args.seconds, args.max_tokens))
        if kind == "lextune":
            result["engine"] = httpx.get(f"{url}/health").json()
        return result
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clients", type=int, default=8)
    ap.add_argument("--seconds", type=float, default=45)
    ap.add_argument("--max-tokens", type=int, default=32)
    args = ap.parse_args()
    import torch

    print(f"bundled model, {args.clients} clients, {args.seconds:.0f} s each, max_tokens {args.max_tokens}, "
          f"{os.cpu_count()} CPUs, torch threads {torch.get_num_threads()}")
    results = {kind: run_server(kind, args) for kind in ("naive", "lextune")}
    for kind, r in results.items():
        print(f"{kind:8s} requests {r['requests']:4d}  p50 {r['p50_s']:.2f} s  p95 {r['p95_s']:.2f} s  "
              f"{r['requests_per_s']:.2f} req/s  {r['tokens_per_s']:.1f} generated tok/s  "
              f"/health p95 {r['health_p95_s'] * 1000:.0f} ms")
    lx, nv = results["lextune"], results["naive"]
    print(f"lextune batches: {lx['engine']['batched_rows']} rows in {lx['engine']['rounds']} rounds")
    print(f"lextune vs naive: {lx['requests_per_s'] / nv['requests_per_s']:.2f}x requests/s")
    print(f"lextune vs naive: {lx['tokens_per_s'] / nv['tokens_per_s']:.2f}x generated tokens/s")
    print(f"lextune vs naive: {nv['p50_s'] / lx['p50_s']:.2f}x lower p50 latency")


if __name__ == "__main__":
    main()
