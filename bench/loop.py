"""CPU per request of THE transport loop (`FloraClient.request`) beside a stdlib keep-alive
loop, against one `flora sandbox serve --speed 1000` on loopback, in the same run.

Each measurement is its own process (user+sys CPU from wait4, imports excluded by timing only
the loop inside the child), alternated round by round so machine load hits every side alike;
medians are printed. `--threads 16` runs that many threads, each with its own client copy
(`dataclasses.replace`, what a batch does) or its own `http.client` connection.

    python bench/loop.py                          # 1,000 POSTs x 4 rounds, 1 thread
    python bench/loop.py --threads 16 --requests 1600
    python bench/loop.py --before /tmp/old-tree   # also an earlier source tree (git archive)
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from batch import start_sandbox  # bench/batch.py, beside this file

PY = sys.executable
CHILD = r'''
import dataclasses, json, resource, sys, threading, time, uuid
from urllib.parse import urlsplit
url, n, c, kind = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
body = {"project_id": "prj_sandbox", "workspace_id": "ws_sandbox", "type": "image"}
KEY = "sk_test_bench"
if kind == "stdlib":
    import http.client
    u = urlsplit(url)
    def make():
        return http.client.HTTPConnection(u.hostname, u.port)
    def one(conn, i):
        conn.request("POST", u.path + "/generate", body=json.dumps({**body, "prompt": f"s {i}"}),
                     headers={"Authorization": "Bearer " + KEY, "Accept": "application/json",
                              "Content-Type": "application/json",
                              "Idempotency-Key": str(uuid.uuid4())})
        resp = conn.getresponse()
        json.loads(resp.read())
        assert resp.status == 201, resp.status
else:
    from flora_cli.api.client import FloraClient
    base = FloraClient(api_key=KEY, base_url=url)
    def make():
        return dataclasses.replace(base)
    def one(client, i):
        r = client.request("POST", "/generate", body={**body, "prompt": f"f {i}"},
                           idempotency_key=str(uuid.uuid4()), gate=lambda: None,
                           observe=lambda s, h: None)
        assert r.status == 201, r.status
def work(count):
    conn = make()
    for i in range(count):
        one(conn, i)
work(5)
r0 = resource.getrusage(resource.RUSAGE_SELF)
t0 = time.monotonic()
threads = [threading.Thread(target=work, args=(n // c,)) for _ in range(c)]
for t in threads:
    t.start()
for t in threads:
    t.join()
wall = time.monotonic() - t0
r1 = resource.getrusage(resource.RUSAGE_SELF)
cpu = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
print(f"{cpu / n * 1e6:.0f} {n / wall:.0f}")
'''


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--requests", type=int, default=1000)
    ap.add_argument("--rounds", type=int, default=4)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--before", type=Path, help="an earlier source tree, measured alike")
    args = ap.parse_args()
    here = Path(__file__).resolve().parents[1]
    sides: list[tuple[str, str, Path]] = [("stdlib", "stdlib", here), ("flora", "flora", here)]
    if args.before:
        sides.append(("flora (before)", "flora", args.before.resolve()))
    cpu: dict[str, list[int]] = {name: [] for name, _, _ in sides}
    rate: dict[str, list[int]] = {name: [] for name, _, _ in sides}
    per_sandbox = 20000 // args.requests  # a workspace's $1,000 budget is 25,000 runs
    server = None
    done = 0
    with tempfile.TemporaryDirectory() as tmp:
        try:
            for _ in range(args.rounds):
                for name, kind, tree in sides:
                    if server is None or done >= per_sandbox:
                        if server is not None:
                            server.terminate()
                            server.wait(10)
                        server, url = start_sandbox()
                        done = 0
                    done += 1
                    out = subprocess.run(
                        [PY, "-c", CHILD, url, str(args.requests), str(args.threads), kind],
                        capture_output=True, text=True, cwd=tmp, check=True,
                        env={**os.environ, "PYTHONPATH": str(tree)})
                    c, r = out.stdout.split()
                    cpu[name].append(int(c))
                    rate[name].append(int(r))
        finally:
            if server is not None:
                server.terminate()
                server.wait(10)
    print(f"{args.requests} POSTs x {args.rounds} rounds, {args.threads} thread(s), "
          f"load {os.getloadavg()[0]:.1f}")
    for name, _, _ in sides:
        print(f"  {name:15s} CPU µs/request median {statistics.median(cpu[name]):5.0f} "
              f"{cpu[name]}  requests/s median {statistics.median(rate[name]):5.0f}")


if __name__ == "__main__":
    main()
