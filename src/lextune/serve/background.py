"""The service on a free loopback port, in a background thread: the demo asks through it, tests use it.

    with live_server(app) as server:
        client = openai.OpenAI(base_url=server.base_url, api_key="test")

The port is taken by binding port 0 and handing that socket to uvicorn, so two tests never race for
one port; the context returns only once the server accepts connections, and on exit asks it to stop
(`should_exit`), waits for the thread, and forces it if in-flight requests hold it up.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import uvicorn


@dataclass(frozen=True)
class LiveServer:
    host: str
    port: int

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        """Where the OpenAI SDK points (its paths start after /v1)."""
        return f"{self.url}/v1"


@contextmanager
def live_server(app, host: str = "127.0.0.1", start_timeout: float = 30.0,
                stop_timeout: float = 10.0) -> Iterator[LiveServer]:
    """Serve `app` with uvicorn on host:(free port) until the block ends."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    port = sock.getsockname()[1]
    config = uvicorn.Config(app, log_level="warning", access_log=False, lifespan="auto", timeout_graceful_shutdown=2)
    server = uvicorn.Server(config)
    failure: list[BaseException] = []

    def run() -> None:
        try:
            server.run(sockets=[sock])
        except BaseException as e:  # noqa: BLE001 - reported to the test thread below
            failure.append(e)

    thread = threading.Thread(target=run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    try:
        _wait_until_serving(server, thread, failure, host, port, start_timeout)
        yield LiveServer(host, port)
    finally:
        server.should_exit = True
        thread.join(stop_timeout)
        if thread.is_alive():  # a request still in flight: do not wait for it
            server.force_exit = True
            thread.join(stop_timeout)
        sock.close()


def _wait_until_serving(server: uvicorn.Server, thread: threading.Thread, failure: list[BaseException],
                        host: str, port: int, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if failure or not thread.is_alive():
            raise RuntimeError(f"uvicorn did not start on {host}:{port}") from (failure[0] if failure else None)
        if server.started:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return
            except OSError:
                pass
        time.sleep(0.02)
    server.should_exit = True
    raise TimeoutError(f"uvicorn did not accept connections on {host}:{port} within {timeout:g}s")
