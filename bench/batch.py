"""Batch benchmark (issue 12): `flora … --from-file` against `flora sandbox serve` on loopback.

Not a timed test: it prints a table. Everything is measured in the same run, alternating
nothing heavier than a stdlib loop beside the CLI:

- raw POST capacity: a stdlib keep-alive loop (http.client, one connection per thread) in its
  own process, at each concurrency, against the same sandbox process;
- batch throughput: `flora generations create --from-file ROWS --concurrency C` (a real
  subprocess, its own empty ledger), runs started per second over its wall time;
- CPU µs per started run (user+sys of the process, from wait4) beside the raw loop's;
- peak RSS of the batch process for 1,000 and 10,000 rows at one concurrency;
- chaos: --drop-rate 0.2 --error-rate 0.2 --seed N, 500 rows: rows reported, distinct rows,
  the sandbox's run count, and what a second run of the same command starts.

    python bench/batch.py                 # the full table (a few minutes on 2 CPUs)
    python bench/batch.py --rows 500 --concurrency 16 --skip-rss --skip-chaos
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

KEY = "sk_test_bench"
PY = sys.executable


def start_sandbox(*extra: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen([PY, "-m", "flora_cli", "sandbox", "serve", "--port", "0",
                             "--speed", "1000", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stderr is not None
    deadline = time.monotonic() + 30
    found: list[str] = []

    def scan(stream: Any) -> None:
        for line in stream:
            m = re.search(r"http://127\.0\.0\.1:\d+/api/v1", line)
            if m and not found:
                found.append(m.group(0))

    for s in (proc.stdout, proc.stderr):
        threading.Thread(target=scan, args=(s,), daemon=True).start()
    while not found and time.monotonic() < deadline:
        time.sleep(0.05)
    if not found:
        proc.kill()
        raise SystemExit("the sandbox did not start")
    return proc, found[0]


RAW_LOOP = r'''
import http.client, json, sys, threading, uuid
from urllib.parse import urlsplit
url, n, c = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
u = urlsplit(url)
body = {"project_id": "prj_sandbox", "workspace_id": "ws_sandbox", "type": "image"}
lock = threading.Lock()
left = [n]
def worker():
    conn = http.client.HTTPConnection(u.hostname, u.port)
    while True:
        with lock:
            if left[0] <= 0:
                return
            left[0] -= 1
            i = left[0]
        data = json.dumps({**body, "prompt": f"raw {i}"})
        conn.request("POST", u.path + "/generate", body=data, headers={
            "Authorization": "Bearer sk_test_bench", "Content-Type": "application/json",
            "Accept": "application/json", "Idempotency-Key": str(uuid.uuid4())})
        resp = conn.getresponse()
        doc = json.loads(resp.read())
        assert resp.status == 201, (resp.status, doc)
threads = [threading.Thread(target=worker) for _ in range(c)]
[t.start() for t in threads]
[t.join() for t in threads]
'''


def measure(cmd: list[str], env: dict[str, str] | None = None,
            stdin: str | None = None) -> dict[str, float]:
    """Wall time, CPU seconds (user+sys) and peak RSS (KiB) of one child process."""
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, stdin=subprocess.PIPE if stdin else None,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out_parts: list[str] = []
    err_parts: list[str] = []
    t1 = threading.Thread(target=lambda: out_parts.append(proc.stdout.read()))  # type: ignore[union-attr]
    t2 = threading.Thread(target=lambda: err_parts.append(proc.stderr.read()))  # type: ignore[union-attr]
    t1.start()
    t2.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.monotonic() - started
    t1.join()
    t2.join()
    proc.returncode = os.waitstatus_to_exitcode(status)
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": usage.ru_maxrss,
            "rc": proc.returncode, "stdout": "".join(out_parts),  # type: ignore[dict-item]
            "stderr": "".join(err_parts)}  # type: ignore[dict-item]


def raw_capacity(url: str, n: int, c: int) -> dict[str, float]:
    r = measure([PY, "-c", RAW_LOOP, url, str(n), str(c)])
    if r["rc"] != 0:
        raise SystemExit(f"raw loop failed: {r['stderr']}")
    return r


def write_rows(path: Path, n: int) -> Path:
    tag = uuid.uuid4().hex[:8]
    with path.open("w") as f:
        for i in range(1, n + 1):
            f.write(json.dumps({"id": f"{tag}-{i}", "prompt": f"a ceramic mug {tag} {i}"})
                    + "\n")
    return path


def run_batch(url: str, rows: Path, c: int, state: Path, *extra: str) -> dict[str, Any]:
    env = {**os.environ, "FLORA_STATE_DIR": str(state), "FLORA_API_KEY": KEY,
           "FLORA_BASE_URL": url, "FLORA_NO_DEPRECATION_WARNING": "1"}
    cmd = [PY, "-m", "flora_cli", "generations", "create", "--from-file", str(rows),
           "--type", "image", "--workspace-id", "ws_sandbox", "--project-id", "prj_sandbox",
           "--concurrency", str(c), *extra]
    r = measure(cmd, env=env)
    docs = [json.loads(x) for x in str(r["stdout"]).splitlines() if x.strip()]
    r["docs"] = docs
    r["started"] = sum(1 for d in docs if d["status"] == "started" and "skipped" not in d)
    return r


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, nargs="*", default=[1, 4, 16, 64])
    ap.add_argument("--skip-rss", action="store_true")
    ap.add_argument("--skip-chaos", action="store_true")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--chaos-rows", type=int, default=500)
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flora-bench-"))
    results: list[str] = []

    print("flora sandbox serve --speed 1000 in its own process, a fresh one per block "
          "(a workspace's $1,000 budget is 25,000 runs)")
    print(f"{'conc':>4}  {'raw POST/s':>10}  {'batch runs/s':>12}  {'ratio':>5}  "
          f"{'steady runs/s':>13}  {'ratio':>5}  {'raw CPU µs/req':>14}  "
          f"{'batch CPU µs/run':>16}  rc  load")
    for c in args.concurrency:
        server, url = start_sandbox()
        try:
            raw = raw_capacity(url, args.rows, c)
            rows = write_rows(tmp / f"rows-{c}.jsonl", args.rows)
            b = run_batch(url, rows, c, tmp / f"state-{c}")
        finally:
            server.terminate()
            server.wait(10)
        raw_rate = args.rows / raw["wall"]
        rate = b["started"] / b["wall"]
        m = re.search(r"([\d.]+)/s$", str(b["stderr"]).strip().splitlines()[-1]
                      if str(b["stderr"]).strip() else "")
        steady = float(m.group(1)) if m else float("nan")
        line = (f"{c:>4}  {raw_rate:>10.0f}  {rate:>12.0f}  {rate / raw_rate:>5.2f}  "
                f"{steady:>13.0f}  {steady / raw_rate:>5.2f}  "
                f"{raw['cpu'] / args.rows * 1e6:>14.0f}  "
                f"{b['cpu'] / max(1, b['started']) * 1e6:>16.0f}  {b['rc']}  "
                f"{os.getloadavg()[0]:.1f}")
        print(line, flush=True)
        results.append(line)
    print("(batch runs/s: rows / wall time of the whole command, start-up and the validation "
          "pass included; steady: from the first row sent to the last result, as the "
          "command's own summary line reports it)")
    if not args.skip_rss:
        c = 16
        server, url = start_sandbox()
        try:
            for n in (1000, 10000):
                rows = write_rows(tmp / f"rss-{n}.jsonl", n)
                b = run_batch(url, rows, c, tmp / f"rss-state-{n}")
                print(f"peak RSS, {n:>6} rows at --concurrency {c}: "
                      f"{b['rss_kib'] / 1024:.1f} MiB ({b['started']} started in "
                      f"{b['wall']:.1f} s, rc {b['rc']})", flush=True)
        finally:
            server.terminate()
            server.wait(10)

    if not args.skip_chaos:
        chaos(tmp, args.chaos_rows, args.seed)


CHAOS_SERVER = r'''
import sys, json
from flora_cli.sandbox.config import SandboxConfig
from flora_cli.sandbox.server import serve_in_thread
cfg = SandboxConfig(speed=1000, drop_rate=0.2, error_rate=0.2, seed=int(sys.argv[1]))
with serve_in_thread(cfg) as sb:
    print(sb.base_url, flush=True)
    for line in sys.stdin:
        print(json.dumps({"runs": len(sb.state.runs), "requests": sb.state.request_count}),
              flush=True)
'''


def chaos(tmp: Path, n: int, seed: int) -> None:
    """The sandbox's own code in its own process; it answers `count` on stdin with its run
    count (`flora sandbox serve` has no endpoint that says how many runs exist)."""
    proc = subprocess.Popen([PY, "-c", CHAOS_SERVER, str(seed)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdin is not None and proc.stdout is not None
    url = proc.stdout.readline().strip()

    def count() -> dict[str, int]:
        assert proc.stdin is not None and proc.stdout is not None
        proc.stdin.write("count\n")
        proc.stdin.flush()
        return dict(json.loads(proc.stdout.readline()))

    try:
        rows = write_rows(tmp / "chaos.jsonl", n)
        first = run_batch(url, rows, 16, tmp / "chaos-state")
        after_first = count()
        again = run_batch(url, rows, 16, tmp / "chaos-state")
        after_again = count()
        seen = [d["row"] for d in first["docs"]]
        print(f"chaos (--drop-rate 0.2 --error-rate 0.2 --seed {seed}), {n} rows, "
              f"--concurrency 16:")
        print(f"  first run: {len(seen)} result lines, {len(set(seen))} distinct rows, "
              f"sandbox runs {after_first['runs']}, requests {after_first['requests']}, "
              f"lost answers (run id unknown) "
              f"{sum(1 for d in first['docs'] if d['run_id'] is None)}, rc {first['rc']}, "
              f"{first['wall']:.1f} s")
        print(f"  same command again: {len(again['docs'])} result lines, "
              f"{sum(1 for d in again['docs'] if d.get('skipped'))} skipped, runs started "
              f"{after_again['runs'] - after_first['runs']}, requests "
              f"{after_again['requests'] - after_first['requests']}, rc {again['rc']}")
    finally:
        proc.stdin.close()
        proc.terminate()
        proc.wait(10)


if __name__ == "__main__":
    main()
