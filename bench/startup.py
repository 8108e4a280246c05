"""Start-up and round-trip figures, each beside a baseline measured in the same run.

    python bench/startup.py [--runs 20] [--lean ../shared/bench/lean_client.py] [--before DIR]
                            [--before-python VENV/bin/python] [--floor]

Measures wall time and peak memory (max RSS) of whole processes, interleaved so machine noise
hits every command alike, and prints medians, p90 and the ratios against the baselines:
  * `python -c "import click"`            baseline of `flora --help` (goal: <= 1.5x)
  * `flora --help`                        cold start of the click tree
  * lean client (stdlib http.client)      one POST, prints the JSON (../shared/bench)
  * `flora runs start-generation --json`  the same request through flora (goal: <= 2.5x)
against a local HTTP server on 127.0.0.1 (a separate process, the same for both clients).
Peak memory goal: <= 35 MiB for flora. Run it with the Python of a venv made the README's
way (`python3 -m venv X && X/bin/pip install .`), not an editable install.

The flora commands run on the CI path: the key in the environment and no config file (an empty
XDG_CONFIG_HOME). `--before DIR` (an earlier source tree: `git archive REV | tar -x -C DIR`)
adds its two flora commands to the same interleaved loop and prints after/before ratios of
wall and CPU time; both trees then run as `python -m flora_cli` with PYTHONPATH set to the tree.
`--before-python VENV/bin/python` does the same with the `flora` script of another venv made the
README's way (an earlier flora installed with pip), so both sides run exactly as users run them.
`--floor` adds a minimal click + httpx script making the same POST: the part of the round trip
that belongs to the two libraries, not to flora. `--ts-sdk DIR` adds the official TypeScript SDK
making the same call under node (`client.runs.startGeneration`, the JSON printed), from a
directory where `npm install @flora-ai/flora` was run (goal: flora <= 0.6x of it).
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

#: --ts-sdk: the official TypeScript SDK making the same call (FLORA_BASE_URL, FLORA_API_KEY
#: from the environment, as flora reads them).
TS_SDK = textwrap.dedent('''
    const mod = require("@flora-ai/flora");
    const Flora = mod.default || mod.Flora || mod;
    new Flora().runs.startGeneration({project_id: "prj_bench", workspace_id: "ws_bench",
                                      type: "image", prompt: "a ceramic mug"})
      .then((run) => process.stdout.write(JSON.stringify(run, null, 2) + "\\n"));
''')

#: Used when ../shared/bench/lean_client.py is not there: the same client.
LEAN_CLIENT = textwrap.dedent('''
    import http.client, json, os, sys
    from urllib.parse import urlsplit
    u = urlsplit(os.environ["FLORA_BASE_URL"])
    c = http.client.HTTPConnection(u.hostname, u.port)
    body = json.dumps({"project_id": "prj_a", "workspace_id": "ws_a", "type": "image",
                       "prompt": "hi"})
    c.request("POST", u.path + "/runs/generation", body=body,
              headers={"Authorization": "Bearer " + os.environ["FLORA_API_KEY"],
                       "Content-Type": "application/json"})
    sys.stdout.write(json.dumps(json.loads(c.getresponse().read()), indent=2) + "\\n")
''')


#: --floor: what any click + httpx CLI pays for the same round trip, whatever its own code does:
#: import click and httpx (with the deferrals flora makes: no httpx._main, certifi, idna, anyio),
#: one POST through httpx.Client, the JSON printed. flora's own cost is what lies above it.
HTTPX_FLOOR = textwrap.dedent('''
    import json, os, sys
    sys.modules["httpx._main"] = None
    from flora_cli.lazymod import defer
    defer("certifi", "idna", "anyio")
    import click, httpx
    with httpx.Client(verify=False, trust_env=False) as c:
        r = c.post(os.environ["FLORA_BASE_URL"] + "/runs/generation",
                   json={"project_id": "prj_a", "workspace_id": "ws_a", "type": "image",
                         "prompt": "hi"},
                   headers={"Authorization": "Bearer " + os.environ["FLORA_API_KEY"]})
    sys.stdout.write(json.dumps(r.json(), indent=2) + "\\n")
''')


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """(wall seconds, peak RSS in MiB, CPU seconds: user + system) of one run of `cmd`."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    assert proc.stderr is not None
    err = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{cmd} failed: {err.decode()[-500:]}")
    rss_kib = usage.ru_maxrss if sys.platform != "darwin" else usage.ru_maxrss / 1024
    return elapsed, rss_kib / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--lean", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared/bench/lean_client.py")
    parser.add_argument("--before", metavar="DIR", type=Path,
                        help="an earlier flora source tree (git archive REV | tar -x -C DIR) "
                        "whose two flora commands run in the same loop, for after/before ratios")
    parser.add_argument("--before-python", metavar="PY", type=Path,
                        help="the Python of a venv holding an earlier flora, installed the "
                        "README's way; its `flora` script runs in the same loop (after/before)")
    parser.add_argument("--floor", action="store_true",
                        help="also time a minimal click + httpx script doing the same POST")
    parser.add_argument("--ts-sdk", metavar="DIR", type=Path,
                        help="a directory holding node_modules/@flora-ai/flora (npm install "
                        "@flora-ai/flora): also time the official TypeScript SDK's call")
    args = parser.parse_args()
    if args.before is not None and args.before_python is not None:
        parser.error("--before and --before-python exclude each other")

    py = sys.executable
    flora = [py, "-m", "flora_cli"]
    flora_bin = Path(py).with_name("flora")
    if flora_bin.exists() and args.before is None:
        flora = [str(flora_bin)]
    # --before: both trees run as `python -m flora_cli` with PYTHONPATH set to the tree.
    trees = {"": Path(__file__).resolve().parent.parent}
    if args.before is not None:
        trees[" (before)"] = args.before.resolve()
    with tempfile.TemporaryDirectory() as tmp:
        lean = args.lean
        if not lean.exists():
            lean = Path(tmp) / "lean_client.py"
            lean.write_text(LEAN_CLIENT)
        server = subprocess.Popen([py, "-c", SERVER], stdout=subprocess.PIPE, text=True)
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            url = f"http://127.0.0.1:{port}/api/v1"
            # The CI path: the key in the environment, no config file (an empty config dir),
            # the ledger in a temp dir.
            (Path(tmp) / "config").mkdir()
            env = {**os.environ, "FLORA_API_KEY": "sk_test_bench", "FLORA_BASE_URL": url,
                   "FLORA_NO_DEPRECATION_WARNING": "1", "XDG_CONFIG_HOME": f"{tmp}/config",
                   "FLORA_STATE_DIR": f"{tmp}/state"}
            env.pop("FLORA_CONFIG_DIR", None)
            commands: dict[str, tuple[list[str], dict[str, str]]] = {
                "python -c 'import click'": ([py, "-c", "import click"], env),
                "lean client round trip": ([py, str(lean)], env),
            }
            if args.floor:
                floor = Path(tmp) / "httpx_floor.py"
                floor.write_text(HTTPX_FLOOR)
                commands["click + httpx floor (one POST)"] = ([py, str(floor)], env)
            if args.ts_sdk is not None:
                node_env = {**env, "NODE_PATH": str(args.ts_sdk.resolve() / "node_modules")}
                commands["TypeScript SDK round trip"] = (["node", "-e", TS_SDK], node_env)
            for suffix, tree in trees.items():
                tree_env = env if args.before is None else {**env, "PYTHONPATH": str(tree)}
                subprocess.run([py, "-m", "compileall", "-q", str(tree / "flora_cli")],
                               check=True, stdout=subprocess.DEVNULL)  # alike, whatever
                commands["flora --help" + suffix] = ([*flora, "--help"], tree_env)
                commands["flora start-generation --json" + suffix] = ([
                    *flora, "runs", "start-generation", "--json",
                    "--project-id", "prj_bench", "--workspace-id", "ws_bench",
                    "--type", "image", "--prompt", "a ceramic mug"], tree_env)
            if args.before_python is not None:
                before_flora = [str(args.before_python.with_name("flora"))]
                commands["flora --help (before)"] = ([*before_flora, "--help"], env)
                commands["flora start-generation --json (before)"] = ([
                    *before_flora, "runs", "start-generation", "--json",
                    "--project-id", "prj_bench", "--workspace-id", "ws_bench",
                    "--type", "image", "--prompt", "a ceramic mug"], env)
            for cmd, cmd_env in commands.values():  # warm the OS caches once
                timed(cmd, cmd_env)
            samples: dict[str, list[float]] = {name: [] for name in commands}
            cpu: dict[str, list[float]] = {name: [] for name in commands}
            peak: dict[str, float] = dict.fromkeys(commands, 0.0)
            for _ in range(args.runs):
                for name, (cmd, cmd_env) in commands.items():
                    wall, rss, used = timed(cmd, cmd_env)
                    samples[name].append(wall)
                    cpu[name].append(used)
                    peak[name] = max(peak[name], rss)
        finally:
            server.terminate()
            server.wait()

    med = {name: statistics.median(v) for name, v in samples.items()}
    print(f"{args.runs} runs each, interleaved; Python {sys.version.split()[0]}; {py}")
    cpu_med = {name: statistics.median(v) for name, v in cpu.items()}
    print(f"{'command':40} {'median':>9} {'p90':>9} {'cpu med':>9} {'peak RSS':>9}")
    for name, values in samples.items():
        p90 = sorted(values)[int(0.9 * (len(values) - 1))]
        print(f"{name:40} {med[name] * 1000:7.1f}ms {p90 * 1000:7.1f}ms "
              f"{cpu_med[name] * 1000:7.1f}ms {peak[name]:6.1f}MiB")
    print()
    help_ratio = med["flora --help"] / med["python -c 'import click'"]
    trip_ratio = med["flora start-generation --json"] / med["lean client round trip"]
    # The same ratios of CPU time (user + system of the child): steadier than wall time on a
    # loaded machine, where waiting for a core inflates the wall medians of every command.
    help_cpu = cpu_med["flora --help"] / cpu_med["python -c 'import click'"]
    trip_cpu = cpu_med["flora start-generation --json"] / cpu_med["lean client round trip"]
    print(f"flora --help / python -c 'import click':   {help_ratio:.2f}x  (goal: <= 1.5x; "
          f"cpu {help_cpu:.2f}x)")
    print(f"flora round trip / lean client:            {trip_ratio:.2f}x  (goal: <= 2.5x; "
          f"cpu {trip_cpu:.2f}x)")
    print(f"flora peak memory:                         "
          f"{peak['flora start-generation --json']:.1f} MiB  (goal: <= 35 MiB)")
    if args.floor:
        floor_ratio = med["click + httpx floor (one POST)"] / med["lean client round trip"]
        print(f"click + httpx floor / lean client:         {floor_ratio:.2f}x")
    if args.ts_sdk is not None:
        ts_ratio = med["flora start-generation --json"] / med["TypeScript SDK round trip"]
        print(f"flora round trip / TypeScript SDK:         {ts_ratio:.2f}x  (goal: <= 0.6x)")
    if args.before is not None or args.before_python is not None:
        click_med, lean_med = med["python -c 'import click'"], med["lean client round trip"]
        help_before = med["flora --help (before)"] / click_med
        trip_before = med["flora start-generation --json (before)"] / lean_med
        print(f"flora --help (before) / import click:      {help_before:.2f}x")
        print(f"flora round trip (before) / lean client:   {trip_before:.2f}x")
        for name in ("flora --help", "flora start-generation --json"):
            after, before = med[name], med[name + " (before)"]
            cpu_after, cpu_before = cpu_med[name], cpu_med[name + " (before)"]
            print(f"{name + ' after / before:':43}{after / before:.3f}x "
                  f"({(after - before) * 1000:+.1f} ms wall, "
                  f"{(cpu_after - cpu_before) * 1000:+.1f} ms cpu)")


if __name__ == "__main__":
    main()
