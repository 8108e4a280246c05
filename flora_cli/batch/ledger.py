"""The run ledger: a SQLite record of every run this CLI starts, single or batch.

`ledger.db` in the platform's state dir (`FLORA_STATE_DIR` overrides it), WAL mode with a busy
timeout, so several CLIs (two shards on one machine) write at once and lose nothing. One row
per (API origin, idempotency key): a batch row the ledger already has is not sent again.

`sqlite3` is imported only when a ledger is opened. Every failure is a `LedgerError` naming the
file, never a traceback.

Durability (the choice): WAL with `synchronous = NORMAL`. A commit is in the WAL file (written,
not fsynced) when it returns, so it survives the process being killed at any point (SIGKILL,
a crash, SIGTERM); a power cut or OS crash may drop the last commits but never corrupts the
file. On Python 3.12+ the connection also skips SQLite's checkpoint at close
(`SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE`; 3.10/3.11 cannot switch it off): the WAL stays beside the
file, the next writer's auto-checkpoint (every ~1,000 pages) folds it in, and a single start
pays no fsync at exit. A batch row a power cut drops from the ledger is sent again by a rerun
with its same derived key, which the API's idempotency answers without a second run.
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import sqlite3

FILE_NAME = "ledger.db"
#: How long one write waits for another process's lock before it is retried.
BUSY_TIMEOUT_MS = 10_000
#: How long, in all, a write keeps trying before the ledger is reported as locked.
LOCKED_GIVE_UP = 60.0
#: Statuses a row can have in the ledger: the run's last known status, or `started` (the start
#: request succeeded, nothing polled yet), or `unknown` (an attempt reached the server and its
#: answer was lost: the run most likely exists, its id is not known).
STATUSES = ("started", "pending", "running", "completed", "failed", "unknown")

COLUMNS = ("created_at", "updated_at", "profile", "origin", "endpoint", "workspace_id",
           "project_id", "type", "model", "prompt", "params", "idempotency_key", "batch_id",
           "row", "row_id", "run_id", "status", "charged_cost", "error_code", "local_files")

_SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    profile TEXT,
    origin TEXT NOT NULL,
    endpoint TEXT,
    workspace_id TEXT,
    project_id TEXT,
    type TEXT,
    model TEXT,
    prompt TEXT,
    params TEXT,
    idempotency_key TEXT NOT NULL,
    batch_id TEXT,
    row INTEGER,
    row_id TEXT,
    run_id TEXT,
    status TEXT NOT NULL,
    charged_cost REAL,
    error_code TEXT,
    local_files TEXT,
    UNIQUE (origin, idempotency_key)
);
CREATE INDEX IF NOT EXISTS runs_run_id ON runs (run_id);
CREATE INDEX IF NOT EXISTS runs_batch ON runs (batch_id, row);
CREATE INDEX IF NOT EXISTS runs_created ON runs (created_at);
PRAGMA user_version = 1;
"""

_UPSERT = (
    f"INSERT INTO runs ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))}) "
    "ON CONFLICT (origin, idempotency_key) DO UPDATE SET "
    "updated_at = excluded.updated_at, "
    "run_id = coalesce(excluded.run_id, run_id), "
    "status = CASE WHEN excluded.run_id IS NULL AND run_id IS NOT NULL THEN status "
    "ELSE excluded.status END, "
    "charged_cost = coalesce(excluded.charged_cost, charged_cost), "
    "error_code = excluded.error_code, "
    "local_files = coalesce(excluded.local_files, local_files)"
)
_UPDATE_RUN = (
    "UPDATE runs SET updated_at = ?, status = ?, charged_cost = coalesce(?, charged_cost), "
    "error_code = ?, local_files = coalesce(?, local_files) WHERE origin = ? AND run_id = ?"
)


#: The ledger connection's page cache (KiB).
CACHE_KIB = 256


class LedgerError(Exception):
    """The ledger cannot be used: corrupt, locked too long, unwritable. Names the file."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def state_dir(env: Mapping[str, str] | None = None) -> str:
    """`FLORA_STATE_DIR`, else the platform's state dir for flora (what platformdirs'
    user_state_dir gives): `$XDG_STATE_HOME/flora` or `~/.local/state/flora` on Linux,
    `~/Library/Application Support/flora` on macOS, `%LOCALAPPDATA%\\flora` on Windows.
    (os.path, not pathlib: this is on every single start.)"""
    env = os.environ if env is None else env
    override = env.get("FLORA_STATE_DIR", "").strip()
    if override:
        return os.path.expanduser(override)
    home = os.path.expanduser("~")
    if sys.platform == "win32":  # pragma: no cover
        base = env.get("LOCALAPPDATA") or os.path.join(home, "AppData", "Local")
        return os.path.join(base, "flora")
    if sys.platform == "darwin":  # pragma: no cover
        return os.path.join(home, "Library", "Application Support", "flora")
    xdg = env.get("XDG_STATE_HOME", "").strip()
    return os.path.join(xdg or os.path.join(home, ".local", "state"), "flora")


def ledger_path(env: Mapping[str, str] | None = None) -> str:
    return os.path.join(state_dir(env), FILE_NAME)


def disabled(env: Mapping[str, str] | None = None, profile_setting: Any = None) -> bool:
    """`FLORA_NO_LEDGER=1`, or `ledger = false` in the profile, turns the ledger off."""
    env = os.environ if env is None else env
    if env.get("FLORA_NO_LEDGER", "").strip().lower() in ("1", "true", "yes", "on"):
        return True
    if isinstance(profile_setting, str):
        return profile_setting.strip().lower() in ("0", "false", "no", "off")
    return profile_setting is False


@dataclass
class Record:
    """One run as the ledger keeps it (the columns of)."""

    origin: str
    idempotency_key: str
    status: str
    endpoint: str | None = None
    profile: str | None = None
    workspace_id: str | None = None
    project_id: str | None = None
    type: str | None = None
    model: str | None = None
    prompt: str | None = None
    params: Any = None
    batch_id: str | None = None
    row: int | None = None
    row_id: str | None = None
    run_id: str | None = None
    charged_cost: float | None = None
    error_code: str | None = None
    local_files: Any = None

    @classmethod
    def for_body(cls, origin: str, endpoint: str, key: str, body: Mapping[str, Any], *,
                 status: str, profile: str | None = None, **extra: Any) -> Record:
        return cls(origin=origin, endpoint=endpoint, idempotency_key=key, status=status,
                   profile=profile, workspace_id=body.get("workspace_id"),
                   project_id=body.get("project_id"), type=body.get("type"),
                   model=body.get("model"), prompt=body.get("prompt"),
                   params=body.get("params"), **extra)

    def values(self, stamp: str) -> tuple[Any, ...]:
        return (stamp, stamp, self.profile, self.origin, self.endpoint, self.workspace_id,
                self.project_id, self.type, self.model, self.prompt,
                None if self.params is None else json.dumps(self.params, ensure_ascii=False),
                self.idempotency_key, self.batch_id, self.row, self.row_id, self.run_id,
                self.status, self.charged_cost, self.error_code,
                None if self.local_files is None else json.dumps(self.local_files,
                                                                 ensure_ascii=False))


@dataclass(frozen=True)
class RunUpdate:
    """What a poll (or a download) learnt about a run."""

    origin: str
    run_id: str
    status: str
    charged_cost: float | None = None
    error_code: str | None = None
    local_files: Any = None

    def values(self, stamp: str) -> tuple[Any, ...]:
        return (stamp, self.status, self.charged_cost, self.error_code,
                None if self.local_files is None else json.dumps(self.local_files,
                                                                 ensure_ascii=False),
                self.origin, self.run_id)


def row_document(row: sqlite3.Row) -> dict[str, Any]:
    """A ledger row as the JSON document `runs history` prints."""
    doc: dict[str, Any] = {
        "time": row["created_at"],
        "updated": row["updated_at"],
        "run_id": row["run_id"],
        "status": row["status"],
        "type": row["type"],
        "model": row["model"],
        "prompt": row["prompt"],
        "params": _loads(row["params"]),
        "workspace_id": row["workspace_id"],
        "project_id": row["project_id"],
        "charged_cost": row["charged_cost"],
        "error_code": row["error_code"],
        "local_files": _loads(row["local_files"]),
        "idempotency_key": row["idempotency_key"],
        "batch_id": row["batch_id"],
        "row": row["row"],
        "row_id": row["row_id"],
        "profile": row["profile"],
        "origin": row["origin"],
        "endpoint": row["endpoint"],
    }
    return doc


def _loads(text: str | None) -> Any:
    if text is None:
        return None
    try:
        return json.loads(text)
    except ValueError:
        return text


class Ledger:
    """One connection to the ledger file. A batch's writes all come from its one output
    thread (`batch.runner.Output`), its reads from the worker that holds the row lock."""

    def __init__(self, path: str | os.PathLike[str], *, readonly: bool = False) -> None:
        import sqlite3

        self.path = path = os.fspath(path)
        self._sqlite3 = sqlite3
        try:
            if readonly:
                if not os.path.exists(path):
                    self.conn: sqlite3.Connection | None = None
                    return
                from pathlib import Path

                uri = Path(path).resolve().as_uri() + "?mode=ro"
                self.conn = sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_MS / 1000,
                                            isolation_level=None, check_same_thread=False)
            else:
                os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
                self.conn = sqlite3.connect(path, timeout=BUSY_TIMEOUT_MS / 1000,
                                            isolation_level=None, check_same_thread=False)
            self.conn.row_factory = sqlite3.Row
            self.conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            if not readonly:
                self._retry(self._setup)
            else:
                self.conn.execute("SELECT count(*) FROM sqlite_master").fetchone()
        except (sqlite3.Error, OSError) as exc:
            raise self._error(exc, "open") from None

    def _setup(self) -> None:
        assert self.conn is not None
        mode = self.conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        if str(mode).lower() != "wal":  # pragma: no cover - e.g. a network filesystem
            raise self._sqlite3.OperationalError(f"cannot use WAL mode (got {mode})")
        self.conn.execute("PRAGMA synchronous = NORMAL")
        # A batch writes new rows and looks up a few by key: a small page cache serves that as
        # well as SQLite's default 2 MiB, which grew a 10,000-row batch's memory by ~2 MiB.
        self.conn.execute(f"PRAGMA cache_size = -{CACHE_KIB}")
        # No checkpoint at close (Python 3.12+ has the switch): see the module's docstring.
        setconfig = getattr(self.conn, "setconfig", None)
        no_checkpoint = getattr(self._sqlite3, "SQLITE_DBCONFIG_NO_CKPT_ON_CLOSE", None)
        if setconfig is not None and no_checkpoint is not None:
            setconfig(no_checkpoint, True)
        if self.conn.execute("PRAGMA user_version").fetchone()[0] < 1:
            self.conn.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} COMMIT;")

    def _error(self, exc: BaseException, doing: str) -> LedgerError:
        text = str(exc)
        if "locked" in text or "busy" in text:
            why = (f"it stayed locked by another process for over {LOCKED_GIVE_UP:g} s")
        elif "not a database" in text or "malformed" in text or "corrupt" in text:
            why = "it is not a readable SQLite database (corrupt?)"
        else:
            why = text or type(exc).__name__
        return LedgerError(
            f"The run ledger {self.path} could not {doing}: {why}. Move the file away "
            "(a new one is created) or set FLORA_NO_LEDGER=1 to run without it.",
            self.path,
        )

    def _retry(self, action: Any) -> Any:
        """Run `action`; a lock that outlasts the busy timeout is retried up to LOCKED_GIVE_UP."""
        deadline = time.monotonic() + LOCKED_GIVE_UP
        while True:
            try:
                return action()
            except self._sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or \
                        time.monotonic() >= deadline:
                    raise
                if self.conn is not None and self.conn.in_transaction:
                    self.conn.execute("ROLLBACK")
                time.sleep(0.05)

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    # -- writes ---------------------------------------------------------------------------

    def write(self, records: list[Record], updates: list[RunUpdate] = ()) -> None:  # type: ignore[assignment]
        """Upsert `records` and apply `updates` in one transaction."""
        conn = self.conn
        assert conn is not None
        stamp = now_iso()

        def tx() -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                if records:
                    conn.executemany(_UPSERT, [r.values(stamp) for r in records])
                if updates:
                    conn.executemany(_UPDATE_RUN, [u.values(stamp) for u in updates])
                conn.execute("COMMIT")
            except BaseException:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise

        try:
            self._retry(tx)
        except self._sqlite3.Error as exc:
            raise self._error(exc, "record a run") from None

    # -- reads ----------------------------------------------------------------------------

    def find(self, origin: str, key: str) -> dict[str, Any] | None:
        """The ledger's row for this key at this API origin, if any."""
        if self.conn is None:
            return None
        try:
            row = self.conn.execute(
                "SELECT * FROM runs WHERE origin = ? AND idempotency_key = ?", (origin, key)
            ).fetchone()
        except self._sqlite3.Error as exc:
            raise self._error(exc, "be read") from None
        return None if row is None else row_document(row)

    def has_batch(self, origin: str, batch_id: str) -> bool:
        """Whether any row of this batch at this origin is recorded (else no row of it needs
        looking up: a first run of a batch costs no read per row)."""
        if self.conn is None:
            return False
        try:
            row = self.conn.execute(
                "SELECT 1 FROM runs WHERE batch_id = ? AND origin = ? LIMIT 1",
                (batch_id, origin)).fetchone()
        except self._sqlite3.Error as exc:
            raise self._error(exc, "be read") from None
        return row is not None

    def history(self, *, limit: int | None = 20, status: str | None = None,
                batch: str | None = None, since: str | None = None) -> Iterator[dict[str, Any]]:
        """Newest first (a batch's rows: in row order)."""
        if self.conn is None:
            return
        where: list[str] = []
        args: list[Any] = []
        if status is not None:
            where.append("status = ?")
            args.append(status)
        if batch is not None:
            where.append("batch_id = ?")
            args.append(batch)
        if since is not None:
            where.append("created_at >= ?")
            args.append(since)
        sql = "SELECT * FROM runs"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY batch_id IS NULL, row, id" if batch is not None else " ORDER BY id DESC"
        if limit is not None:
            sql += " LIMIT ?"
            args.append(limit)
        try:
            for row in self.conn.execute(sql, args):
                yield row_document(row)
        except self._sqlite3.Error as exc:
            raise self._error(exc, "be read") from None


def open_ledger(env: Mapping[str, str] | None = None, profile_setting: Any = None,
                *, readonly: bool = False) -> Ledger | None:
    """The ledger, or None when it is turned off."""
    if disabled(env, profile_setting):
        return None
    return Ledger(ledger_path(env), readonly=readonly)

