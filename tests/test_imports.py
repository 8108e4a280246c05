"""Start-up stays light: `flora --help` and friends load click only (click's test_imports shape)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

HEAVY = ("httpx", "httpcore", "pydantic", "rich", "starlette", "uvicorn", "yaml", "jmespath",
         "anyio", "h11", "tomllib", "tomli", "tomlkit", "platformdirs", "keyring")
#: What profiles may cost: none of it on the CI path (key in the environment, no config file).
CONFIG_MODULES = {"tomllib", "tomli", "tomlkit", "platformdirs", "keyring"}

PROBE = """
import json, sys
sys.argv = ["flora", *json.loads(sys.argv[1])]
from flora_cli.cli import main
try:
    main()
except SystemExit:
    pass
loaded = sorted({m.split(".")[0] for m in sys.modules})
sys.stderr.write("\\nLOADED " + json.dumps(loaded) + "\\n")
"""


def loaded_after(args: list[str], env: dict[str, str] | None = None) -> set[str]:
    proc = subprocess.run([sys.executable, "-c", PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")][-1]
    return set(json.loads(line[len("LOADED "):]))


@pytest.mark.parametrize("args", [
    ["--help"],
    ["--version"],
    ["runs", "start-generation", "--help"],
    ["generations", "create", "--help"],
    ["runs", "start-generation", "--type", "t2i"],  # a usage error, rendered as JSON
    ["models", "--help"],
    ["models", "list", "--help"],
    ["projects", "list", "--help"],
    ["workspaces", "list", "--help"],
    ["projects", "list", "--workspace-id", "ws_1", "--limit", "0"],  # usage error
])
def test_light_paths_load_no_heavy_module(args: list[str]) -> None:
    loaded = loaded_after(args)
    assert "click" in loaded
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_json_start_path_keeps_rich_and_pydantic_off() -> None:
    # A --dry-run --json start builds the real request through the client (its wire, h11, loads),
    # but neither rich nor pydantic are needed for machine output.
    loaded = loaded_after(["--api-key", "sk_test_x", "runs", "start-generation", "--json",
                           "--dry-run", "--project-id", "prj_1", "--workspace-id", "ws_1",
                           "--type", "image", "--prompt", "p"])
    assert "h11" in loaded
    assert not loaded & {"rich", "pydantic", "starlette", "uvicorn", "yaml", "jmespath"}


def test_list_commands_in_json_keep_rich_and_pydantic_off(sandbox: object) -> None:
    from flora_cli.sandbox.server import RunningSandbox

    assert isinstance(sandbox, RunningSandbox)
    for args in (["models", "list"], ["workspaces", "list"],
                 ["projects", "list", "--workspace-id", "ws_sandbox", "--all"]):
        loaded = loaded_after(["--api-key", "sk_test_x", "--base-url", sandbox.base_url,
                               "--json", *args])
        assert "h11" in loaded
        assert not loaded & {"rich", "pydantic", "starlette", "uvicorn", "yaml"}, args


@pytest.mark.parametrize("args", [
    ["runs", "history", "--help"],
    ["runs", "start-generation", "--from-file", "x.jsonl", "--shard", "0/3"],
])
def test_batch_paths_stay_light(args: list[str]) -> None:
    loaded = loaded_after(args)
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))
    assert "sqlite3" not in loaded


def test_batch_package_imports_without_heavy_modules() -> None:
    code = ("import sys, json\n"
            "import flora_cli.batch.reader, flora_cli.batch.keys, flora_cli.batch.limiter\n"
            "import flora_cli.batch.ledger, flora_cli.batch.runner\n"
            "print(json.dumps(sorted({m.split('.')[0] for m in sys.modules})))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=60)
    loaded = set(json.loads(proc.stdout))
    assert not loaded & {*HEAVY, "sqlite3"}, sorted(loaded & {*HEAVY, "sqlite3"})


DRY_RUN = ["runs", "start-generation", "--json", "--dry-run", "--project-id", "prj_1",
           "--workspace-id", "ws_1", "--type", "image", "--prompt", "p"]


def test_auth_and_config_commands_load_only_when_used() -> None:
    loaded_mods = loaded_after_modules(["--help"])
    assert not {"flora_cli.cli.auth", "flora_cli.cli.configcmd"} & loaded_mods
    assert "flora_cli.cli.auth" in loaded_after_modules(["auth", "--help"])


def loaded_after_modules(args: list[str]) -> set[str]:
    """Full module names (loaded_after keeps only the top-level packages)."""
    probe = PROBE.replace("m.split(\".\")[0]", "m")
    proc = subprocess.run([sys.executable, "-c", probe, json.dumps(args)],
                          capture_output=True, text=True, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")][-1]
    return set(json.loads(line[len("LOADED "):]))


def test_ci_path_reads_no_config_machinery() -> None:
    # Key in the environment, no config file: no TOML parser, no platformdirs, no keyring.
    for env in ({"FLORA_API_KEY": "sk_test_x"},
                {"FLORA_API_KEY": "sk_test_x", "FLORA_CONFIG_DIR": ""}):  # the platform dir
        loaded = loaded_after(DRY_RUN, env)
        assert "h11" in loaded
        assert not loaded & CONFIG_MODULES, sorted(loaded & CONFIG_MODULES)


def test_keyring_loads_only_for_a_profile_keeping_its_key_there(tmp_path: Path) -> None:
    config = tmp_path / "config.toml"
    config.write_text('[profiles.default]\nkey_store = "file"\n')
    creds = tmp_path / "credentials.toml"
    creds.write_text('[profiles.default]\napi_key = "sk_test_x"\n')
    creds.chmod(0o600)
    env = {"FLORA_CONFIG_DIR": str(tmp_path)}
    loaded = loaded_after(DRY_RUN, env)
    assert "tomllib" in loaded or "tomli" in loaded
    assert not loaded & {"keyring", "tomlkit", "platformdirs"}
    # With the key in the environment the stored one is not even looked for.
    config.write_text('[profiles.default]\nkey_store = "keyring"\n')
    assert "keyring" not in loaded_after(DRY_RUN, {**env, "FLORA_API_KEY": "sk_test_x"})
    assert "keyring" in loaded_after(DRY_RUN, env)


#: Loaded by httpx/httpcore at their import, used only for https (certifi), non-ASCII host
#: names (idna) and async clients (anyio): deferred by flora_cli.lazymod.
DEFERRED = {"certifi", "idna", "anyio"}


def test_plain_http_start_loads_no_tls_bundle_idna_or_async(sandbox: object) -> None:
    # A real start (the POST, the ledger row) against a loopback http:// API.
    from flora_cli.sandbox.server import RunningSandbox

    assert isinstance(sandbox, RunningSandbox)
    probe = PROBE.replace('loaded = sorted({m.split(".")[0] for m in sys.modules})',
                          "loaded = sorted(m for m, mod in sys.modules.items()\n"
                          "                if type(mod).__name__ != 'Deferred')")
    args = ["--base-url", sandbox.base_url, "runs", "start-generation", "--json",
            "--project-id", sandbox.project_id, "--workspace-id", sandbox.workspace_id,
            "--type", "image", "--prompt", "p"]
    # Without site (-S), as in the --help test: an editable install's finder imports pathlib.
    import click

    site_packages = str(Path(click.__file__).resolve().parents[1])
    repo = str(Path(__file__).resolve().parents[1])
    env = {**os.environ, "FLORA_API_KEY": "sk_test_x", "FLORA_NO_DEPRECATION_WARNING": "1",
           "PYTHONPATH": f"{repo}:{site_packages}"}
    proc = subprocess.run([sys.executable, "-S", "-c", probe, json.dumps(args)],
                          capture_output=True, text=True, timeout=60, env=env)
    assert "\"run_id\"" in proc.stdout, proc.stderr[:1500]
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")][-1]
    loaded = set(json.loads(line[len("LOADED "):]))
    tops = {m.split(".")[0] for m in loaded}
    # Direct connections are h11 on our own sockets: httpx and httpcore (~0.1 s of imports)
    # load only for a proxy or a custom transport; no TLS machinery for plain http.
    assert "h11" in tops
    assert not tops & {"httpx", "httpcore", "ssl", "_ssl"}, \
        sorted(tops & {"httpx", "httpcore", "ssl", "_ssl"})
    # Nor email.utils (only an HTTP-date Retry-After needs it) or the idna codec (a host
    # string handed to getaddrinfo loads it; the wire passes bytes).
    assert not loaded & {"email.utils", "encodings.idna"}, \
        sorted(loaded & {"email.utils", "encodings.idna"})
    assert not tops & DEFERRED, sorted(tops & DEFERRED)
    # Nor the pretty renderers, the config parsers or the pre-spend check (no model named).
    assert not {"flora_cli.output.pretty", "flora_cli.modelcheck",
                "flora_cli.cli.precheck"} & loaded
    assert not tops & CONFIG_MODULES
    # Nor pathlib (a start without --download or @FILE handles no path) or shutil.
    assert not tops & {"pathlib", "shutil"}, sorted(tops & {"pathlib", "shutil"})


#: Not needed to print `flora --help`: URL and path machinery, shutil (click measures the
#: terminal with it; flora's root context does it with os), the dataclasses machinery (option
#: specs are NamedTuples), the settings resolver and the command context (the error handler
#: imports them when an error happens).
HELP_NEEDS_NOT = {"pathlib", "urllib", "ipaddress", "sqlite3", "shutil", "dataclasses",
                  "flora_cli.settings", "flora_cli.cli.context"}


def test_help_loads_no_url_or_path_machinery() -> None:
    # Run without site (-S) so that an editable install's finder, which imports pathlib
    # itself, does not hide what flora imports; click comes from the same site-packages.
    import click

    site_packages = str(Path(click.__file__).resolve().parents[1])
    repo = str(Path(__file__).resolve().parents[1])
    probe = PROBE.replace("m.split(\".\")[0]", "m")
    proc = subprocess.run([sys.executable, "-S", "-c", probe, json.dumps(["--help"])],
                          capture_output=True, text=True, timeout=60,
                          env={"PYTHONPATH": f"{repo}:{site_packages}", "PATH": "/usr/bin"})
    assert proc.stdout.startswith("Usage: flora"), proc.stderr[-800:]
    line = [x for x in proc.stderr.splitlines() if x.startswith("LOADED ")][-1]
    modules = set(json.loads(line[len("LOADED "):]))
    loaded = modules | {m.split(".")[0] for m in modules}
    assert "click" in loaded
    assert not loaded & HELP_NEEDS_NOT, sorted(loaded & HELP_NEEDS_NOT)


FREEZE_PROBE = """
import gc, json, sys
sys.argv = ["flora", *json.loads(sys.argv[1])]
from flora_cli.cli import main
try:
    main()
except SystemExit as exc:
    sys.stderr.write("\\nFROZEN %d EXIT %s\\n" % (gc.get_freeze_count(), exc.code))
"""


@pytest.mark.parametrize("args", [["--version"], ["runs", "start-generation", "--type", "t2i"]])
def test_console_script_freezes_the_heap_before_exit(args: list[str]) -> None:
    # The interpreter's collections at exit would walk every object of every loaded module
    # (tens of ms of a start); the console script freezes them first, on success and error.
    proc = subprocess.run([sys.executable, "-c", FREEZE_PROBE, json.dumps(args)],
                          capture_output=True, text=True, timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("FROZEN ")][-1]
    frozen, code = line.split()[1], line.split()[3]
    assert int(frozen) > 5000, line
    assert code == ("0" if args == ["--version"] else "2")


ENTRY_PROBE = """
import gc, sys
sys.argv = ["flora", "--version"]
during = []

def watch(phase, info):
    cli = sys.modules.get("flora_cli.cli")
    if phase == "start" and cli is not None and getattr(cli, "main", None) is None:
        during.append(info["generation"])  # a collection while the CLI's modules load

gc.callbacks.append(watch)
from flora_cli.__main__ import main
try:
    main()
except SystemExit:
    pass
sys.stderr.write("\\nENTRY %d %d %d\\n" % (len(during), gc.isenabled(), gc.get_freeze_count()))
"""


def test_console_script_loads_the_cli_without_collecting() -> None:
    pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
    assert '\nflora = "flora_cli.__main__:main"\n' in pyproject.read_text()
    proc = subprocess.run([sys.executable, "-c", ENTRY_PROBE], capture_output=True, text=True,
                          timeout=60)
    line = [x for x in proc.stderr.splitlines() if x.startswith("ENTRY ")][-1]
    collections, enabled, frozen = (int(x) for x in line.split()[1:])
    assert collections == 0, line  # no collection while click and flora's modules load
    assert enabled == 1, line  # the collector is back on for the command
    assert frozen > 5000, line


def test_cli_dataclasses_have_docstrings() -> None:
    # A dataclass without a docstring gets one made from inspect.signature(cls) when the class
    # is created, at import (~0.3-0.5 ms for the 22 fields of Settings, on every start).
    import ast

    root = Path(__file__).resolve().parents[1] / "flora_cli"
    paths = [*sorted((root / "cli").glob("*.py")), *sorted((root / "output").glob("*.py")),
             *sorted((root / "api").glob("*.py")), *sorted((root / "batch").glob("*.py")),
             root / "settings.py", root / "optspec.py", root / "vocab.py"]
    missing = []
    for path in paths:
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.ClassDef)
                    and any("dataclass" in ast.unparse(d) for d in node.decorator_list)
                    and ast.get_docstring(node) is None):
                missing.append(f"{path.name}:{node.lineno} {node.name}")
    assert not missing, missing


def test_redaction_compiles_its_patterns_on_first_use() -> None:
    # flora_cli.redact is imported by the client on every start; redacting is rare (--debug,
    # --dry-run, errors), so its patterns are compiled by `re` when first used (~0.4 ms).
    import re

    import flora_cli.redact as redact

    assert not [k for k, v in vars(redact).items() if isinstance(v, re.Pattern)]
    assert redact.scrub("key sk_test_abc123 here", None) == "key sk_test_…[REDACTED] here"
    assert redact.redact_header("X-Session-Token", "Bearer sk_live_zz") == \
        "Bearer sk_live_…[REDACTED]"
