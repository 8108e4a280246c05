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
    python bench/batch.py --concurrency 16 --rounds 3 --before /tmp/old-tree --skip-rss --skip-chaos

Each tree measured (this one, and `--before DIR`, an earlier source tree from `git archive`)
runs as `python -m flora_cli` with that tree as the current directory and PYTHONPATH (`-m`
puts the current directory first on sys.path), its `flora_cli` byte-compiled first as pip
installs it (with PYTHONDONTWRITEBYTECODE set, a tree without `__pycache__` would compile
every module on every command: ~50 ms CPU each here). With `--rounds N` every block is
repeated (a fresh sandbox and raw baseline each time) and the medians are printed; with
`--before` both trees run in each block, in alternating order. "start-up CPU" is the CPU of
the same command with a one-row file; "net" is (CPU - start-up) / runs started.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import re
import statistics
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
HERE = Path(__file__).resolve().parents[1]


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


#: Peak RSS of a command by itself: a child spawned from this (large) process starts with this
#: process's high-water mark (vfork/exec on Linux), so its ru_maxrss would be at least ours.
#: A small launcher in between reports its child's own peak on stderr.
LAUNCHER = r'''
import os, subprocess, sys
p = subprocess.Popen(sys.argv[1:])
_, status, usage = os.wait4(p.pid, 0)
sys.stderr.write(f"\nBENCH_MAXRSS_KIB {usage.ru_maxrss}\n")
sys.exit(os.waitstatus_to_exitcode(status))
'''


def measure(cmd: list[str], env: dict[str, str] | None = None,
            stdin: str | None = None, cwd: Path | None = None,
            own_rss: bool = False) -> dict[str, float]:
    """Wall time, CPU seconds (user+sys) and peak RSS (KiB) of one child process.

    `own_rss`: the peak RSS is the command's own, through LAUNCHER (CPU then includes the
    launcher's start-up: use it only where memory is what is measured)."""
    if own_rss:
        cmd = [PY, "-c", LAUNCHER, *cmd]
    started = time.monotonic()
    proc = subprocess.Popen(cmd, env=env, cwd=cwd, stdin=subprocess.PIPE if stdin else None,
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
    rss_kib = usage.ru_maxrss
    if own_rss:
        marks = [x for x in "".join(err_parts).splitlines()
                 if x.startswith("BENCH_MAXRSS_KIB ")]
        rss_kib = int(marks[-1].split()[1])
    return {"wall": wall, "cpu": usage.ru_utime + usage.ru_stime, "rss_kib": rss_kib,
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


def run_batch(url: str, rows: Path, c: int, state: Path, *extra: str,
              tree: Path = HERE, own_rss: bool = False) -> dict[str, Any]:
    env = {**os.environ, "FLORA_STATE_DIR": str(state), "FLORA_API_KEY": KEY,
           "FLORA_BASE_URL": url, "FLORA_NO_DEPRECATION_WARNING": "1",
           "PYTHONPATH": str(tree)}
    cmd = [PY, "-m", "flora_cli", "generations", "create", "--from-file", str(rows),
           "--type", "image", "--workspace-id", "ws_sandbox", "--project-id", "prj_sandbox",
           "--concurrency", str(c), *extra]
    r = measure(cmd, env=env, cwd=tree, own_rss=own_rss)
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
    ap.add_argument("--rounds", type=int, default=1, help="blocks per concurrency")
    ap.add_argument("--before", type=Path, help="an earlier source tree, measured alike")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flora-bench-"))

    trees = [("after", HERE)] + ([("before", args.before.resolve())] if args.before else [])
    for _, tree in trees:
        compileall.compile_dir(str(tree / "flora_cli"), quiet=1)
    print("flora sandbox serve --speed 1000 in its own process, a fresh one per block "
          "(a workspace's $1,000 budget is 25,000 runs)")
    startup = {name: start_up_cpu(tree, tmp / f"startup-{name}") for name, tree in trees}
    for name, _ in trees:
        print(f"start-up CPU ({name}): {startup[name] * 1e3:.0f} ms (median of 3 one-row "
              "batches at --concurrency 16)")
    label = "tree  " if args.before else ""
    print(f"{'conc':>4}  {label}{'raw POST/s':>10}  {'batch runs/s':>12}  {'ratio':>5}  "
          f"{'steady runs/s':>13}  {'ratio':>5}  {'raw CPU µs/req':>14}  "
          f"{'batch CPU µs/run':>16}  {'net':>5}  rc  load")
    summary: dict[tuple[int, str], list[tuple[float, float, float, float]]] = {}
    block = 0
    for c in args.concurrency:
        for _ in range(args.rounds):
            server, url = start_sandbox()
            try:
                raw = raw_capacity(url, args.rows, c)
                order = trees if block % 2 == 0 else trees[::-1]
                block += 1
                measured = []
                for name, tree in order:
                    rows = write_rows(tmp / f"rows-{c}-{block}-{name}.jsonl", args.rows)
                    measured.append((name, run_batch(url, rows, c,
                                                     tmp / f"state-{c}-{block}-{name}",
                                                     tree=tree)))
            finally:
                server.terminate()
                server.wait(10)
            raw_rate = args.rows / raw["wall"]
            for name, b in sorted(measured):
                rate = b["started"] / b["wall"]
                m = re.search(r"([\d.]+)/s$", str(b["stderr"]).strip().splitlines()[-1]
                              if str(b["stderr"]).strip() else "")
                steady = float(m.group(1)) if m else float("nan")
                per_run = b["cpu"] / max(1, b["started"]) * 1e6
                net = (b["cpu"] - startup[name]) / max(1, b["started"]) * 1e6
                summary.setdefault((c, name), []).append(
                    (rate / raw_rate, steady / raw_rate, per_run, net))
                tag = f"{name:6s}" if args.before else ""
                print(f"{c:>4}  {tag}{raw_rate:>10.0f}  {rate:>12.0f}  {rate / raw_rate:>5.2f}  "
                      f"{steady:>13.0f}  {steady / raw_rate:>5.2f}  "
                      f"{raw['cpu'] / args.rows * 1e6:>14.0f}  {per_run:>16.0f}  {net:>5.0f}  "
                      f"{b['rc']}  {os.getloadavg()[0]:.1f}", flush=True)
    print("(batch runs/s: rows / wall time of the whole command, start-up and the validation "
          "pass included; steady: from the first row sent to the last result, as the "
          "command's own summary line reports it; net: CPU µs/run without the start-up)")
    if args.rounds > 1 or args.before:
        print("medians:")
        for (c, name), v in sorted(summary.items()):
            print(f"{c:>4}  {name:6s} ratio {statistics.median(x[0] for x in v):.2f}  "
                  f"steady {statistics.median(x[1] for x in v):.2f}  CPU µs/run "
                  f"{statistics.median(x[2] for x in v):.0f}  net "
                  f"{statistics.median(x[3] for x in v):.0f}  ({len(v)} blocks)")
    if not args.skip_rss:
        c = 16
        server, url = start_sandbox()
        try:
            for n in (1000, 10000):
                rows = write_rows(tmp / f"rss-{n}.jsonl", n)
                b = run_batch(url, rows, c, tmp / f"rss-state-{n}", own_rss=True)
                print(f"peak RSS, {n:>6} rows at --concurrency {c}: "
                      f"{b['rss_kib'] / 1024:.1f} MiB ({b['started']} started in "
                      f"{b['wall']:.1f} s, rc {b['rc']})", flush=True)
        finally:
            server.terminate()
            server.wait(10)

    if not args.skip_chaos:
        chaos(tmp, args.chaos_rows, args.seed)


def start_up_cpu(tree: Path, state: Path) -> float:
    """CPU seconds of the batch command on a one-row file (median of 3)."""
    server, url = start_sandbox()
    try:
        cpus = []
        for i in range(3):
            rows = write_rows(state.with_suffix(f".{i}.jsonl"), 1)
            cpus.append(float(run_batch(url, rows, 16, state, tree=tree)["cpu"]))
        return statistics.median(cpus)
    finally:
        server.terminate()
        server.wait(10)


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
