"""Requests per second the sandbox serves for POST /runs/generation, with baselines.

Bounded and loopback only: it starts its own servers as subprocesses on 127.0.0.1 port 0,
sends a fixed number of requests over keep-alive connections from a few client threads
(stdlib http.client, so the client is as cheap as it gets), prints the figures and stops them.

    /work/venv/bin/python bench/sandbox_rps.py [--requests 4000] [--threads 4]

Measured, in the same run:
  1. hello   — a bare Starlette endpoint (PlainTextResponse "ok") under the same uvicorn/h11
               setup: the ceiling of the stack.
  2. GET /workspaces on the sandbox — auth, request id, pydantic model, JSON.
  3. POST /runs/generation on the sandbox — body parse, validation, idempotency (a unique
               Idempotency-Key per request), budget, run creation, 201.

Recorded on the development machine (2 CPUs, Python 3.11.7, uvicorn 0.54 h11, Starlette 1.10;
shared with other work, so runs vary; five runs, 4000 requests each, 4 client threads):

  bare Starlette hello            5,600 – 10,500 req/s   p50 0.16 – 0.63 ms
  sandbox GET /workspaces         4,100 –  6,700 req/s   p50 0.23 – 0.84 ms
  sandbox POST /runs/generation   3,000 –  4,600 req/s   p50 0.31 – 1.17 ms (p99 ≤ 3.8 ms)
  → POST /runs/generation is 32 – 59 % of the bare hello and 58 – 89 % of GET /workspaces.

What limits it: one uvicorn process is one event loop on one core, and the client takes the
other core (2 CPUs, both in Python, each bound by its GIL). Per request the sandbox's own work
is small — parse + validate ≈ 5 µs, `create_run` (idempotency, budget, pydantic response)
≈ 17 µs, measured in-process — so most of the ~220 µs a create costs at saturation is the
pure-Python HTTP stack: h11 parsing a request with a body, Starlette's Mount/Router/Request,
the ASGI wrapper, and the per-request log line written to stderr. The bare hello shows the
stack's own ceiling on this box (~100 µs a request). An early version bound its socket
without `IPPROTO_TCP`, so asyncio never set TCP_NODELAY and every keep-alive request waited
~40 ms for a delayed ACK (~23 req/s per connection); `bind_socket` now avoids that.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

KEY = "sk_test_bench"
LISTENING = re.compile(r"listening on http://127\.0\.0\.1:(\d+)")


def serve_hello() -> None:
    """Subprocess mode: a bare Starlette app under uvicorn (h11) on a free port."""
    import uvicorn
    from starlette.applications import Starlette
    from starlette.responses import PlainTextResponse
    from starlette.routing import Route

    from flora_cli.sandbox.server import bind_socket

    async def hello(request: object) -> PlainTextResponse:
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/hello", hello)])
    sock = bind_socket("127.0.0.1", 0)
    sys.stderr.write(f"listening on http://127.0.0.1:{sock.getsockname()[1]}\n")
    sys.stderr.flush()
    config = uvicorn.Config(app, http="h11", lifespan="off", access_log=False, log_config=None)
    uvicorn.Server(config).run(sockets=[sock])


def start(args: list[str]) -> tuple[subprocess.Popen[str], int]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FLORA_")}
    proc = subprocess.Popen(args, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True,
                            env=env)
    assert proc.stderr is not None
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        line = proc.stderr.readline()
        if match := LISTENING.search(line):
            # Keep draining stderr (the sandbox logs a line per request) so it never blocks.
            threading.Thread(target=lambda: [None for _ in proc.stderr or []], daemon=True).start()
            return proc, int(match.group(1))
        if not line and proc.poll() is not None:
            break
    proc.kill()
    raise SystemExit(f"server did not start: {' '.join(args)}")


@dataclass
class Result:
    name: str
    seconds: float
    latencies: list[float]
    statuses: dict[int, int]

    @property
    def rps(self) -> float:
        return len(self.latencies) / self.seconds

    def line(self) -> str:
        q = statistics.quantiles(self.latencies, n=100)
        return (
            f"{self.name:<30} {self.rps:8.0f} req/s   p50 {q[49] * 1000:6.2f} ms   "
            f"p90 {q[89] * 1000:6.2f} ms   p99 {q[98] * 1000:6.2f} ms   statuses {self.statuses}"
        )


Request = Callable[[int], tuple[str, str, bytes | None, dict[str, str]]]


def load(name: str, port: int, total: int, threads: int, make: Request) -> Result:
    latencies: list[float] = []
    statuses: dict[int, int] = {}
    lock = threading.Lock()
    counter = iter(range(total))

    def worker() -> None:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        codes: dict[int, int] = {}
        while True:
            with lock:
                n = next(counter, None)
            if n is None:
                break
            method, path, body, headers = make(n)
            began = time.perf_counter()
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            response.read()
            mine.append(time.perf_counter() - began)
            codes[response.status] = codes.get(response.status, 0) + 1
        conn.close()
        with lock:
            latencies.extend(mine)
            for code, count in codes.items():
                statuses[code] = statuses.get(code, 0) + count

    # Warm up one connection so imports and first-request costs are not measured.
    warm = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    for n in range(20):
        method, path, body, headers = make(-1 - n)
        warm.request(method, path, body=body, headers=headers)
        warm.getresponse().read()
    warm.close()
    workers = [threading.Thread(target=worker) for _ in range(threads)]
    began = time.perf_counter()
    for t in workers:
        t.start()
    for t in workers:
        t.join()
    return Result(name, time.perf_counter() - began, latencies, statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=4000, help="per measurement (max 20000)")
    parser.add_argument("--threads", type=int, default=4, help="client threads (max 32)")
    parser.add_argument("--hello-server", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.hello_server:
        serve_hello()
        return
    total = max(100, min(args.requests, 20_000))  # $0.04 × 20000 < the $1000 budget
    threads = max(1, min(args.threads, 32))

    auth = {"Authorization": f"Bearer {KEY}"}
    body = {"type": "image", "prompt": "a ceramic mug", "workspace_id": "ws_sandbox",
            "project_id": "prj_sandbox"}

    def hello(n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        return "GET", "/hello", None, {}

    def workspaces(n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        return "GET", "/api/v1/workspaces", None, auth

    def create(n: int) -> tuple[str, str, bytes | None, dict[str, str]]:
        headers = {**auth, "Content-Type": "application/json", "Idempotency-Key": f"bench-{n}"}
        return "POST", "/api/v1/runs/generation", json.dumps(body).encode(), headers

    hello_proc, hello_port = start([sys.executable, __file__, "--hello-server"])
    sandbox_proc, sandbox_port = start(
        [sys.executable, "-m", "flora_cli", "sandbox", "serve", "--port", "0", "--speed", "1000"]
    )
    try:
        results = [
            load("bare Starlette hello", hello_port, total, threads, hello),
            load("sandbox GET /workspaces", sandbox_port, total, threads, workspaces),
            load("sandbox POST /runs/generation", sandbox_port, total, threads, create),
        ]
    finally:
        for proc in (hello_proc, sandbox_proc):
            proc.terminate()
            proc.wait(timeout=20)
    print(f"{total} requests each, {threads} client threads, keep-alive, "
          f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    for result in results:
        print(result.line())
    base = results[0].rps
    print(f"POST /runs/generation = {results[2].rps / base:.0%} of the bare hello, "
          f"{results[2].rps / results[1].rps:.0%} of GET /workspaces")


if __name__ == "__main__":
    main()
