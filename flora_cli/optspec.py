"""Each option's metadata, once: its flags, help, environment variable, default and whether it
is required. Standard library only.

Three readers use these records and nothing else: `settings` (which variable to read, which
default to apply), the click options of `cli/` (the `[env: …; default: …]` note in `--help`
is rendered from them), and `scripts/gen_docs.py` (the ENVIRONMENT and OPTIONS sections of
the man pages). Adding an option means adding one `OptionSpec` here.
"""

from __future__ import annotations

from typing import NamedTuple


class OptionSpec(NamedTuple):
    """What a person and the settings resolver need to know about one option.

    A NamedTuple, not a dataclass: `flora --help` builds these and nothing else there needs
    the dataclasses machinery (its import and a frozen class's generated methods, ~2 ms)."""

    flags: tuple[str, ...]
    help: str
    #: The Python name of the value (the dataclass field / settings key).
    dest: str
    metavar: str | None = None
    env: str | None = None
    #: Shown after the variable's name in help: `FLORA_DEBUG=1` for boolean variables.
    env_value: str | None = None
    #: The value used when neither the flag nor the variable gives one.
    default: object = None
    #: How help shows the default when `str(default)` would not say it well.
    default_text: str | None = None
    #: Required for the command to run (checked by the command, so that --sandbox may fill
    #: it in, and reported as a usage error naming the flag and the variable).
    required: bool = False

    @property
    def flag(self) -> str:
        """The long flag, as error messages name it."""
        return next((f for f in self.flags if f.startswith("--")), self.flags[0])

    @property
    def shown_default(self) -> str | None:
        if self.default_text is not None:
            return self.default_text
        if self.default is None or isinstance(self.default, bool):
            return None
        return f"{self.default:g}" if isinstance(self.default, float) else str(self.default)

    @property
    def shown_env(self) -> str | None:
        if self.env is None:
            return None
        return f"{self.env}={self.env_value}" if self.env_value else self.env

    def help_text(self) -> str:
        """The help line with its one bracketed note: `… [env: X; default: Y; required]`."""
        notes = []
        if self.shown_env:
            notes.append(f"env: {self.shown_env}")
        if self.shown_default is not None:
            notes.append(f"default: {self.shown_default}")
        if self.required:
            notes.append("required")
        return f"{self.help} [{'; '.join(notes)}]" if notes else self.help


def spec(*flags: str, help: str, dest: str | None = None, **kw: object) -> OptionSpec:
    name = dest or next(f for f in flags if f.startswith("--"))[2:].replace("-", "_")
    return OptionSpec(flags=flags, help=help, dest=name, **kw)  # type: ignore[arg-type]


# -- global options: accepted before the command path and on every leaf ------------------

DEFAULT_BASE_URL = "https://app.flora.ai/api/v1"

API_KEY = spec("--api-key", metavar="KEY", env="FLORA_API_KEY",
               help="API key (sk_live_…, sk_test_…).")
BASE_URL = spec("--base-url", metavar="URL", env="FLORA_BASE_URL", default=DEFAULT_BASE_URL,
                help="API root; https://, or http:// to loopback only.")
TIMEOUT = spec("--timeout", metavar="SECONDS", env="FLORA_TIMEOUT", default=60.0,
               help="Deadline of each attempt in seconds: connect, headers and body together "
               "(a download's body may take longer, but not crawl under 1 KiB/s).")
MAX_RETRIES = spec("--max-retries", metavar="N", env="FLORA_MAX_RETRIES", default=2,
                   help="Retries after the first attempt.")
#: The values of --format (and FLORA_FORMAT, and a profile's `format`).
FORMATS = ("auto", "json", "jsonl", "yaml", "pretty", "raw")
FORMAT = spec("--format", env="FLORA_FORMAT", default="auto",
              help="Output format; auto is pretty on a terminal, else json.")
JSON = spec("--json", help="Same as --format json.")
QUERY = spec("--query", metavar="EXPR", help="JMESPath expression applied to the result.")
RAW_OUTPUT = spec("-r", "--raw-output",
                  help="Print a string result without quotes, and an array of strings one per "
                  "line (like jq -r).")
DEBUG = spec("--debug", env="FLORA_DEBUG", env_value="1",
             help="HTTP trace on stderr, secrets redacted.")
QUIET = spec("-q", "--quiet", help="No notices or progress on stderr (errors still print).")
NO_COLOR = spec("--no-color", env="NO_COLOR",
                help="No colour; FORCE_COLOR and TERM=dumb are honoured too.")
SANDBOX = spec("--sandbox", env="FLORA_SANDBOX", env_value="1",
               help="Run against an embedded sandbox API on loopback.")

PROFILE = spec("--profile", metavar="NAME", env="FLORA_PROFILE",
               default_text="the config's current_profile, else default",
               help="Profile whose settings and stored key to use.")
API_KEY_FILE = spec("--api-key-file", metavar="PATH", env="FLORA_API_KEY_FILE",
                    help="Read the API key from a file (Docker/Kubernetes secrets); one "
                    "trailing newline is dropped.")
HEADER = spec("--header", metavar="'NAME: VALUE'", env="FLORA_CUSTOM_HEADERS",
              help="Extra request header, repeatable (the variable: one per line); not "
              "Authorization, Idempotency-Key, Content-Type or Host.")
INSECURE_HTTP = spec("--insecure-http", env="FLORA_INSECURE_HTTP", env_value="1",
                     help="Allow http:// to a non-loopback host, only with an sk_test_ key (an "
                     "sk_live_ key never goes over plain http).")

#: In --help order. Issue-specific global options are appended here (and read in settings).
GLOBAL: tuple[OptionSpec, ...] = (
    API_KEY, BASE_URL, TIMEOUT, MAX_RETRIES, FORMAT, JSON, QUERY, RAW_OUTPUT, DEBUG, QUIET,
    NO_COLOR, SANDBOX, PROFILE, API_KEY_FILE, HEADER, INSECURE_HTTP,
)

# -- auth -------------------------------------------------------------------------------

WITH_KEY = spec("--with-key", help="Read the key from stdin instead of prompting (for scripts).")
INSECURE_STORAGE = spec("--insecure-storage",
                        help="Store the key in credentials.toml (mode 0600) even when an OS "
                        "keyring is available.")
SHOW_KEY = spec("--show", dest="show", help="Print the key even when stdout is a terminal.")

# -- the start commands (runs start-generation, generations create) ----------------------

PROJECT_ID = spec("--project-id", metavar="ID", env="FLORA_PROJECT_ID", required=True,
                  help="Project to generate in (prj_…).")
WORKSPACE_ID = spec("--workspace-id", metavar="ID", env="FLORA_WORKSPACE_ID", required=True,
                    help="Workspace of the project (ws_…).")
MEDIA_TYPE = spec("--type", dest="media_type", metavar="TYPE", required=True,
                  help="Media type: image, video, audio or text (any case).")
PROMPT = spec("--prompt", metavar="TEXT", required=True,
              help="Prompt text; '-' reads stdin, '@PATH' a file, '\\@' a literal @.")
MODEL = spec("--model", metavar="ID", default_text="the workspace's",
             help="Model endpoint ID, e.g. t2i-flux-2-pro.")
PARAMS = spec("--params", dest="params_json", metavar="JSON",
              help="Model parameters as a JSON object; '@PATH' or '-' read it.")
PARAM = spec("--param", dest="param_pairs", metavar="KEY=VALUE",
             help="One model parameter (repeatable); VALUE is JSON when it parses, else a "
             "string; overrides --params.")
IDEMPOTENCY_KEY = spec("--idempotency-key", metavar="KEY", default_text="a new UUID4",
                       help="Key sent on every attempt of this invocation.")
DRY_RUN = spec("--dry-run", help="Print the request that would be sent (key redacted) and "
               "its estimate; send nothing.")
NO_CHECK = spec("--no-check", help="Do not check --model and the params against the model "
                "list (GET /models) before sending.")
TEXT = spec("--text", help="Print each output's text (a text run) or URL, one per line, "
            "instead of the run document (with --wait or --download).")

# -- discovery (models, workspaces, projects) ---------------------------------------------

LIST_TYPE = spec("--type", dest="media_type", metavar="TYPE",
                 help="Only models of this media type: image, video, audio or text.")
LIST_WORKSPACE_ID = spec("--workspace-id", metavar="ID", env="FLORA_WORKSPACE_ID",
                         help="Workspace whose projects to list (ws_…); required unless the "
                         "variable or the profile gives one.")
SEARCH = spec("--search", metavar="TEXT", help="Only projects whose name matches TEXT.")
LIMIT = spec("--limit", metavar="N", default_text="the API's",
             help="Page size, 1 to 100.")
CURSOR = spec("--cursor", metavar="CURSOR",
              help="Start at this page (meta.next_cursor of an earlier listing).")
ALL_PAGES = spec("--all", dest="all_pages", help="Follow every page to the end.")
MAX_ITEMS = spec("--max-items", metavar="N", help="Follow pages until N projects are listed.")

# -- waiting (the start commands with --wait, and runs wait) ------------------------------

WAIT = spec("--wait", help="After starting, poll until the run completes (exit 0) or fails "
            "(exit 10); print the final run document.")
POLL_INTERVAL = spec("--poll-interval", metavar="SECONDS", default=2.0,
                     help="Seconds between polls while waiting (minimum 0.5).")
WAIT_TIMEOUT = spec("--wait-timeout", metavar="SECONDS", default_text="no limit",
                    help="Give up waiting after this many seconds: one hard deadline over polls, "
                    "retry waits and downloads (exit 124; the run goes on).")
POLL_PATIENCE = spec("--poll-patience", metavar="SECONDS", default=300.0,
                     help="While waiting, ride through API outages (connection errors, "
                     "timeouts, 408, 429, 5xx) for this long without one good poll; then exit 9 "
                     "with the run id.")
MAX_DOWNLOAD_SIZE = spec("--max-download-size", metavar="BYTES", default_text="4G",
                         help="Stop a download that would pass this many bytes (suffixes k, M, "
                         "G: powers of 1024).")
DOWNLOAD = spec("--download", metavar="DIR",
                help="Save every output into DIR as RUN_ID-OUTPUT_ID.EXT (created if needed; "
                "existing files are kept, never overwritten). Implies --wait on the start "
                "commands.")

# -- batches (--from-file on the start commands) and runs history -------------------------

FROM_FILE = spec("--from-file", metavar="FILE",
                 help="Start one run per row of FILE (JSONL or CSV; '-' reads stdin); the "
                 "flags above are the rows' defaults. Prints one JSONL result per row.")
CONCURRENCY = spec("--concurrency", metavar="N", default_text="4",
                   help="With --from-file: requests in flight at most (1-64); halved on 429, "
                   "grows back by one per 20 successes.")
ORDERED = spec("--ordered", help="With --from-file: print the results in file order, not as "
               "rows finish.")
MAX_COST = spec("--max-cost", metavar="USD",
                help="With --from-file: start no row that would bring the estimated total "
                "past USD; the rest are not_started (exit 11).")
SHARD = spec("--shard", metavar="K/N",
             help="With --from-file: run only rows r with (r-1) mod N = K-1 (one CI machine "
             "of N).")
BATCH_ID = spec("--batch-id", metavar="ID", default_text="the file's content hash",
                help="With --from-file: the batch's id in the derived keys and the ledger.")
HISTORY_LIMIT = spec("--limit", metavar="N", default=20,
                     help="Show at most N runs, newest first (0: all).")
HISTORY_STATUS = spec("--status", metavar="STATUS",
                      help="Only runs with this last known status: started, pending, running, "
                      "completed, failed or unknown.")
HISTORY_BATCH = spec("--batch", dest="batch_id", metavar="ID",
                     help="Only the rows of this batch, in row order.")
HISTORY_SINCE = spec("--since", metavar="DATE",
                     help="Only runs started since DATE (2026-11-29, 2026-11-29T10:00Z) or "
                     "within an age (30m, 12h, 7d).")

# -- sandbox serve ------------------------------------------------------------------------

SERVE_HOST = spec("--host", default="127.0.0.1", help="Interface to listen on.")
SERVE_PORT = spec("--port", default=4010,
                  help="TCP port; 0 picks a free one (the base URL is the first line on stdout).")
SERVE_SPEED = spec("--speed", env="FLORA_SANDBOX_SPEED", default=1.0,
                   help="Runs take the model's estimated_seconds divided by SPEED.")
SERVE_IDEMPOTENCY = spec(
    "--idempotency", default="spec",
    help="spec: a reused Idempotency-Key is 409 idempotency_duplicate. replay: the original "
    "response again (idempotent-replayed: true); a different body is 422 idempotency_conflict.")
SERVE_RATE_LIMIT = spec(
    "--rate-limit", metavar="N", default_text="no limit",
    help="Requests per minute per workspace (creates and project listings); 429 rate_limited "
    "with retry-after beyond it.")
SERVE_ERROR_RATE = spec("--error-rate", metavar="P", default=0.0,
                        help="Probability of a random 500/502/503 (before the request does "
                        "anything).")
SERVE_LATENCY = spec("--latency", metavar="MS", default=0.0,
                     help="Milliseconds added to every response.")
SERVE_DROP_RATE = spec("--drop-rate", metavar="P", default=0.0,
                       help="Probability that a successful create (the run exists) closes the "
                       "connection without a response.")
SERVE_SEED = spec("--seed", metavar="N", help="Seed the fault decisions and the IDs.")
SERVE_URL_FILE = spec(
    "--url-file", metavar="PATH",
    help="Once listening, write the base URL to PATH (atomically), for scripts that start the "
    "server in the background.")
SERVE_TEXT_OUTPUT = spec(
    "--text-output", default="inline",
    help="inline: a text output's url holds the text itself (as the real API does). url: a "
    "link to a .txt file (matches the schema's format: uri).")
