"""Start-up and round-trip figures, each beside a baseline measured in the same run.

    python bench/startup.py [--runs 20]

Measures wall time of whole processes (median and p90 of --runs, interleaved so machine noise
hits every command alike):
  * `python -c pass`                       the floor of any Python CLI
  * `flora --help`                         cold start of the click tree
  * stdlib client                          urllib.request POST /runs/generation, prints JSON
  * `flora runs start-generation --json`   the same request through flora
against a local HTTP server on 127.0.0.1 (a separate process, the same for both clients), and
prints the ratios. Loopback only; bounded by --runs.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

SERVER = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    BODY = json.dumps({"run_id": "run_bench", "type": "generation", "estimated_seconds": 8,
                       "charged_cost": 0.04, "poll_url": "http://127.0.0.1/api/v1/runs/run_bench",
                       "model": {"model_id": "t2i-bench"}, "project_id": "prj_bench"}).encode()
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        def log_message(self, *a): pass
        def do_POST(self):
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(201)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(BODY)))
            self.send_header("request-id", "req_bench")
            self.end_headers()
            self.wfile.write(BODY)
    s = ThreadingHTTPServer(("127.0.0.1", 0), H)
    print(s.server_address[1], flush=True)
    s.serve_forever()
''')

STDLIB_CLIENT = textwrap.dedent('''
    import json, os, sys, uuid, urllib.request
    body = json.dumps({"type": "image", "prompt": "a ceramic mug", "workspace_id": "ws_bench",
                       "project_id": "prj_bench"}).encode()
    req = urllib.request.Request(os.environ["BENCH_URL"] + "/runs/generation", data=body,
        method="POST", headers={"Authorization": "Bearer " + os.environ["FLORA_API_KEY"],
        "Content-Type": "application/json", "Accept": "application/json",
        "Idempotency-Key": str(uuid.uuid4()), "User-Agent": "bench"})
    with urllib.request.urlopen(req, timeout=60) as resp:
        sys.stdout.write(json.dumps(json.loads(resp.read()), indent=2) + "\\n")
''')


def timed(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {proc.stderr.decode()[-500:]}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()

    py = sys.executable
    flora = [py, "-m", "flora_cli"]
    flora_bin = Path(py).with_name("flora")
    if flora_bin.exists():
        flora = [str(flora_bin)]
    with tempfile.TemporaryDirectory() as tmp:
        client = Path(tmp) / "stdlib_client.py"
        client.write_text(STDLIB_CLIENT)
        server = subprocess.Popen([py, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            url = f"http://127.0.0.1:{port}/api/v1"
            env = {**os.environ, "FLORA_API_KEY": "sk_test_bench", "BENCH_URL": url,
                   "FLORA_NO_DEPRECATION_WARNING": "1"}
            commands = {
                "python -c pass": [py, "-c", "pass"],
                "flora --help": [*flora, "--help"],
                "stdlib client round trip": [py, str(client)],
                "flora start-generation --json": [
                    *flora, "--base-url", url, "runs", "start-generation", "--json",
                    "--project-id", "prj_bench", "--workspace-id", "ws_bench",
                    "--type", "image", "--prompt", "a ceramic mug"],
            }
            for cmd in commands.values():  # warm the OS caches once
                timed(cmd, env)
            samples: dict[str, list[float]] = {name: [] for name in commands}
            for _ in range(args.runs):
                for name, cmd in commands.items():
                    samples[name].append(timed(cmd, env))
        finally:
            server.terminate()
            server.wait()

    med = {name: statistics.median(v) for name, v in samples.items()}
    print(f"{args.runs} runs each, interleaved; Python {sys.version.split()[0]}")
    print(f"{'command':34} {'median':>9} {'p90':>9}")
    for name, values in samples.items():
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:34} {med[name] * 1000:7.1f}ms {p90 * 1000:7.1f}ms")
    print()
    print(f"flora --help / python -c pass:                 "
          f"{med['flora --help'] / med['python -c pass']:.2f}x")
    print(f"flora round trip / python -c pass:             "
          f"{med['flora start-generation --json'] / med['python -c pass']:.2f}x")
    print(f"flora round trip / stdlib client round trip:   "
          f"{med['flora start-generation --json'] / med['stdlib client round trip']:.2f}x"
          "  (goal: within 2.5x)")


if __name__ == "__main__":
    main()
