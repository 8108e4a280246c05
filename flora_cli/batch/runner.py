"""The batch scheduler: rows to runs on the one transport loop, at the API's rate.

- Workers (as many as the maximum concurrency) take the next row themselves (streamed, under
  one lock), skip those the ledger already has, apply `--max-cost`, and send the start
  request through `FloraClient.request` with the limiter's hooks: every attempt waits out a
  batch-wide `retry-after` pause, every 429 halves the limit. A row whose request ran out of
  retries on a transient error (429, 5xx, no answer) goes round again with the same key, up
  to `ROW_ROUNDS` times, so one outage does not cost the row.
- With `--wait`/`--download`, one poller follows every open run at the poll interval (its GETs
  spread over at most `concurrency` threads); downloads run on at most `concurrency` threads.
- Each row's result is one JSONL line on stdout as soon as it is final (`--ordered`: file
  order), written by one output thread right after it commits the rows' ledger records in
  one transaction: a run id is printed only once the ledger has it.

Memory is bounded by the concurrency and `MAX_OPEN_RUNS`, never by the number of rows.
"""

from __future__ import annotations

import collections
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from flora_cli.api import errors
from flora_cli.batch.keys import row_key
from flora_cli.batch.ledger import Ledger, LedgerError, Record, RunUpdate
from flora_cli.batch.limiter import Limiter
from flora_cli.batch.reader import Row
from flora_cli.textsafe import escape_c1

if TYPE_CHECKING:
    from concurrent.futures import ThreadPoolExecutor

    from flora_cli.api.client import FloraClient

#: Rounds a row gets when its request ran out of retries on a transient error.
ROW_ROUNDS = 5
#: At most this many started runs are followed at once with --wait; reading waits for room.
MAX_OPEN_RUNS = 1000
TRANSIENT = (errors.RateLimitError, errors.ServerError, errors.APIConnectionError)

Estimate = Callable[[Mapping[str, Any]], "float | None"]


@dataclass
class Stats:
    """Counts for the live display and the summary line."""

    total: int
    done: int = 0
    in_flight: int = 0  # start requests in flight
    open: int = 0  # started runs being waited for or downloaded
    started: int = 0
    skipped: int = 0
    failed: int = 0  # rejected, failed or not started
    run_failed: int = 0  # of which: runs that failed (sending the row again would not help)
    completed: int = 0
    cost: float = 0.0
    limit: int = 0
    began: float = field(default_factory=time.monotonic)

    def eta(self) -> float | None:
        """From the pace so far, once a twentieth of the rows (at least 10) are done."""
        elapsed = time.monotonic() - self.began
        if self.done < min(self.total, max(10, self.total // 20)) or elapsed <= 0:
            return None
        return (self.total - self.done) * elapsed / self.done


@dataclass
class Options:
    """What the command asked of the batch (from its flags)."""

    endpoint: str
    batch_id: str
    origin: str
    concurrency: int
    ordered: bool = False
    wait: bool = False
    download: Path | None = None
    poll_interval: float = 2.0
    wait_timeout: float | None = None
    max_cost: float | None = None
    profile: str | None = None


@dataclass
class Item:
    """One row on its way: its key, its result document, what following it needs."""

    seq: int  # position among the rows this process runs (for --ordered)
    row: Row
    key: str
    result: dict[str, Any] = field(default_factory=dict)
    poll_target: str | None = None
    estimated_seconds: Any = None
    skipped: bool = False
    deadline: float | None = None


class Output:
    """The batch's one writer thread: ledger records and JSONL result lines.

    Workers append (row, result, ledger entry) to a deque, which costs them no lock and no
    thread switch. Every `INTERVAL` seconds (and once more at `close()`) the thread commits
    the queued ledger entries in one transaction, *then* writes the lines of those rows
    (`--ordered`: in file order) and flushes: a row's run id reaches stdout only once its
    ledger row is committed, so a resume after any crash finds every run it printed. It also
    counts the finished rows into `stats` (the only thread that does).

    A ledger write that fails (locked for too long, disk full) stops further writes; the
    lines are still printed and the entries kept in `unwritten` for the final error.
    """

    INTERVAL = 0.05
    #: At most this many queued items per transaction.
    MAX_GROUP = 512

    def __init__(self, stream: IO[str], ordered: bool, ledger: Ledger | None = None) -> None:
        self.stream = stream
        self.ordered = ordered
        self.ledger = ledger
        self.stats: Stats | None = None
        self.on_change: Callable[[Stats], None] | None = None
        self._items: collections.deque[tuple[int, dict[str, Any] | None,
                                             Record | RunUpdate | None]] = collections.deque()
        self._next = 0
        self._held: dict[int, str] = {}
        self.broken = False
        self.error: LedgerError | None = None
        self.unwritten: list[Record | RunUpdate] = []
        self.written = 0
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self, stats: Stats, on_change: Callable[[Stats], None] | None = None) -> None:
        self.stats = stats
        self.on_change = on_change
        self._thread = threading.Thread(target=self._loop, name="flora-output", daemon=True)
        self._thread.start()

    def put(self, seq: int, doc: dict[str, Any] | None,
            entry: Record | RunUpdate | None = None) -> None:
        """Queue a row's result line (None: none yet) and/or its ledger entry."""
        self._items.append((seq, doc, entry))

    def _loop(self) -> None:
        while not self._stop.wait(self.INTERVAL):
            self._drain()
        self._drain()

    def close(self) -> None:
        """Write what is queued and stop (or, never started, write it here)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        else:
            self._drain()
        if not self.broken:
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.broken = True

    def _drain(self) -> None:
        items = self._items
        while items:
            group: list[tuple[int, dict[str, Any] | None, Record | RunUpdate | None]] = []
            while items and len(group) < self.MAX_GROUP:
                group.append(items.popleft())
            self._commit([e for _, _, e in group if e is not None])
            lines = self._lines([(seq, doc) for seq, doc, _ in group if doc is not None])
            if lines and not self.broken:
                try:
                    self.stream.write(lines)
                    self.stream.flush()
                except BrokenPipeError:
                    self.broken = True
            if self.on_change is not None and self.stats is not None:
                self.on_change(self.stats)

    def _commit(self, entries: list[Record | RunUpdate]) -> None:
        if not entries or self.ledger is None:
            return
        if self.error is None:
            try:
                self.ledger.write([e for e in entries if isinstance(e, Record)],
                                  [e for e in entries if isinstance(e, RunUpdate)])
                self.written += len(entries)
                return
            except LedgerError as exc:
                self.error = exc
        self.unwritten.extend(entries)

    def _lines(self, docs: list[tuple[int, dict[str, Any]]]) -> str:
        if not docs:
            return ""
        stats = self.stats
        encode = _LINE.encode
        out: list[str] = []
        for seq, doc in docs:
            if stats is not None:
                _count(stats, doc)
            line = encode(doc)
            if not self.ordered:
                out.append(line)
                continue
            self._held[seq] = line
            while self._next in self._held:
                out.append(self._held.pop(self._next))
                self._next += 1
        if not out:
            return ""
        out.append("")
        # The encoder escapes C0 controls; DEL and C1 stay raw: escape them as `dumps` does.
        return escape_c1("\n".join(out))


def _count(stats: Stats, doc: dict[str, Any]) -> None:
    status = doc["status"]
    stats.done += 1
    if status in ("rejected", "failed", "not_started") or (
        doc["error"] is not None and status in ("started", "skipped")
    ):
        stats.failed += 1
    if status == "completed":
        stats.completed += 1
    if status == "failed":
        stats.run_failed += 1


#: Result lines: JSON with non-ASCII kept, no spaces, NaN refused (as `textsafe.dumps`).
_LINE = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Batch:
    def __init__(self, client: FloraClient, options: Options, *, total: int,
                 output: Output, ledger: Ledger | None = None,
                 estimate: Estimate | None = None,
                 on_change: Callable[[Stats], None] | None = None,
                 on_note: Callable[[str], None] | None = None) -> None:
        self.client = client
        self._local = threading.local()
        self._thread_clients: list[FloraClient] = []
        self.opts = options
        self.output = output
        self.ledger = ledger
        output.ledger = ledger
        # Rows of this batch in the ledger already (a rerun, a resume, another shard)?
        self._lookups = ledger is not None and ledger.has_batch(options.origin,
                                                                options.batch_id)
        self.estimate = estimate
        self.stats = Stats(total=total, limit=options.concurrency)
        self.limiter = Limiter(options.concurrency, on_change=self._limit_changed)
        self.stop = threading.Event()  # no new rows start (interrupt, ledger failure)
        self._closing = threading.Event()  # every open run is finished: the poller ends
        self.auth_failed = False
        self.stop_reason: dict[str, Any] | None = None
        # Reentrant: the SIGINT/SIGTERM handler calls `interrupt` in the main thread, which may
        # be holding this lock at that moment (a plain Lock would deadlock there).
        self._lock = threading.RLock()
        self._on_change = on_change
        self._on_note = on_note
        self._committed_cost = 0.0
        self._cost_stopped = False
        self._open: dict[str, Item] = {}
        self._downloading = 0
        self._open_cond = threading.Condition(self._lock)
        # Rows are handed out by `_next_item` under this lock (file order, one reader).
        self._feed_lock = threading.Lock()
        self._rows: Iterator[Row] | None = None
        self._seq = 0
        self._feed_error: BaseException | None = None
        self._downloads: ThreadPoolExecutor | None = None
        self._poller: threading.Thread | None = None
        self._poll_pool: ThreadPoolExecutor | None = None
        output.start(self.stats, on_change)
        if options.wait:
            from concurrent.futures import ThreadPoolExecutor

            self._poll_pool = ThreadPoolExecutor(options.concurrency,
                                                 thread_name_prefix="flora-poll")
            self._poller = threading.Thread(target=self._poll_loop, name="flora-poller",
                                            daemon=True)
            self._poller.start()
            if options.download is not None:
                self._downloads = ThreadPoolExecutor(options.concurrency,
                                                     thread_name_prefix="flora-download")

    # -- bookkeeping ----------------------------------------------------------------------

    def _limit_changed(self, change: Any) -> None:
        before = self.stats.limit
        self.stats.limit = change.limit
        if change.reason == "429" and self._on_note is not None:
            pause = max(0.0, self.limiter.pause_until - change.at)
            self._on_note(f"rate limited (429): concurrency {before} → {change.limit}; "
                          f"every worker pauses {pause:.1f} s")
        self._changed()

    def _changed(self) -> None:
        if self._on_change is not None:
            self._on_change(self.stats)

    def _base(self, item: Item) -> dict[str, Any]:
        doc: dict[str, Any] = {"row": item.row.number, "id": item.row.id, "run_id": None,
                               "status": None, "error": None,
                               "idempotency_key": item.key}
        if self.opts.download is not None:
            doc["local_files"] = []
        return doc

    def _finish(self, item: Item, status: str, *, error: dict[str, Any] | None = None,
                entry: Record | RunUpdate | None = None, **extra: Any) -> None:
        """The row's result line, written (and counted) by the output thread after `entry`
        (its ledger record, if any) is committed."""
        doc = item.result or self._base(item)
        doc["status"] = status
        if error is not None:
            doc["error"] = error
        if extra:
            doc.update(extra)
        if item.skipped:
            doc["skipped"] = "already started"
        self.output.put(item.seq, doc, entry)

    def _record(self, item: Item, status: str, **extra: Any) -> Record | None:
        if self.ledger is None:
            return None
        return Record.for_body(
            self.opts.origin, self.opts.endpoint, item.key, item.row.body, status=status,
            profile=self.opts.profile, batch_id=self.opts.batch_id, row=item.row.number,
            row_id=item.row.id, **extra)

    def _update(self, run_id: str, status: str, **extra: Any) -> RunUpdate | None:
        if self.ledger is None:
            return None
        return RunUpdate(self.opts.origin, run_id, status, **extra)

    def _worker_client(self) -> FloraClient:
        """The worker thread's own copy of the client: the same settings and the same one
        transport loop, its own connection pool (threads sharing one pool spend their time
        on its lock: 650 vs 490 runs/s at 16 threads on the benchmark machine)."""
        client: FloraClient | None = getattr(self._local, "client", None)
        if client is None:
            import dataclasses

            client = dataclasses.replace(self.client)
            self._local.client = client
            with self._lock:
                self._thread_clients.append(client)
        return client

    # -- the main loop --------------------------------------------------------------------

    def run(self, rows: Iterable[Row]) -> Stats:
        """Start every row (or report it); returns when every row is reported.

        `concurrency` worker threads each take the next row (`_next_item`, under one lock,
        in file order) and send it, until the rows run out: no hand-off per row. This
        thread only waits, so SIGINT/SIGTERM handlers run at once."""
        self._rows = iter(rows)
        workers = [threading.Thread(target=self._work, name=f"flora-row-{n}", daemon=True)
                   for n in range(self.opts.concurrency)]
        try:
            for w in workers:
                w.start()
            for w in workers:
                while w.is_alive():
                    w.join(0.5)
        except BaseException:
            self.interrupt()
            for w in workers:
                w.join()
            raise
        finally:
            self._shutdown_sends()
        if self._feed_error is not None:
            raise self._feed_error
        return self.stats

    def _work(self) -> None:
        worker = _Worker(self)
        while True:
            item = self._next_item()
            if item is None:
                return
            worker.send(item)

    def _next_item(self) -> Item | None:
        """The next row to send, after reporting those that are not sent (stopped, already
        started, over --max-cost); None when the rows are done."""
        with self._feed_lock:
            rows = self._rows
            if rows is None:
                return None
            while True:
                try:
                    row = next(rows)
                except StopIteration:
                    self._rows = None
                    return None
                except BaseException as exc:  # a reader error: no new row starts
                    self._rows = None
                    self._feed_error = exc
                    self.interrupt()
                    return None
                item = Item(self._seq, row, row_key(self.opts.batch_id, row.label, row.body))
                item.result = self._base(item)
                self._seq += 1
                if self.stop.is_set():
                    self._finish(item, "not_started", error=self.stop_reason)
                    continue
                if self._skip_known(item):
                    continue
                if self._cost_stopped or not self._within_budget(item):
                    self._finish(item, "not_started", error=_error(
                        "max_cost_reached",
                        f"Not started: the estimated total would pass --max-cost "
                        f"{self.opts.max_cost:g} USD."))
                    continue
                if self.opts.wait:
                    self._wait_for_room()
                    if self.stop.is_set():
                        self._unbudget(item)
                        self._finish(item, "not_started", error=self.stop_reason)
                        continue
                return item

    def _shutdown_sends(self) -> None:
        """After the sends (they are recorded): wait for the open runs, write what is left."""
        self.stats.in_flight = self.limiter.in_flight  # the workers' last updates may race
        if self.opts.wait:
            with self._lock:
                while (self._open or self._downloading) and not self.stop.is_set():
                    self._open_cond.wait(0.2)
                left = list(self._open.values())
                self._open.clear()
            for item in left:  # interrupted while waiting: the runs go on
                self._finish(item, "started")
            self._closing.set()
            if self._poller is not None:
                self._poller.join(timeout=5)
            if self._poll_pool is not None:
                self._poll_pool.shutdown(wait=True, cancel_futures=True)
            if self._downloads is not None:
                self._downloads.shutdown(wait=True)
        self.output.close()
        for client in self._thread_clients:
            client.close()

    def interrupt(self, reason: dict[str, Any] | None = None) -> None:
        """No new rows start; sends in flight finish and are recorded."""
        if not self.stop.is_set():
            self.stop_reason = reason or _error(
                "interrupted", "Not started: the batch was interrupted.")
        self.stop.set()
        self.limiter.close()
        with self._lock:
            self._open_cond.notify_all()

    # -- skipping and budget --------------------------------------------------------------

    def _skip_known(self, item: Item) -> bool:
        if self.ledger is None or not self._lookups:
            return False
        known = self.ledger.find(self.opts.origin, item.key)
        if known is None:
            return False
        item.skipped = True
        item.result["run_id"] = known["run_id"]
        status = str(known["status"])
        cost = known.get("charged_cost")
        with self._lock:
            self.stats.skipped += 1
            if isinstance(cost, (int, float)):
                self._committed_cost += float(cost)
        if status == "unknown":
            self._finish(item, "skipped", error=_error(
                "idempotency_duplicate",
                "An earlier attempt started this row's run, but its answer was lost: "
                "the run id is not known."))
            return True
        if known.get("local_files") and self.opts.download is not None:
            item.result["local_files"] = known["local_files"]
        if not self.opts.wait:
            # Not sent again; its recorded result is on the line (`runs history` has more).
            self._finish(item, "skipped")
            return True
        if status not in ("completed", "failed") and known["run_id"]:
            self._follow(item, known["run_id"], None, None)
        elif status == "failed":
            self._finish(item, "failed", error=_error(known.get("error_code") or "run_failed",
                                                      "The run failed (from the ledger)."))
        else:
            self._finish(item, "completed")
        return True

    def _within_budget(self, item: Item) -> bool:
        if self.opts.max_cost is None:
            return True
        est = self.estimate(item.row.body) if self.estimate is not None else None
        est = est or 0.0
        with self._lock:
            if self._committed_cost + est > self.opts.max_cost + 1e-9:
                self._cost_stopped = True
                return False
            self._committed_cost += est
            item.result["_estimate"] = est
        return True

    def _unbudget(self, item: Item) -> None:
        est = item.result.pop("_estimate", None)
        if est:
            with self._lock:
                self._committed_cost -= est

    # -- sending --------------------------------------------------------------------------

    def _send_rounds(self, item: Item, worker: _Worker) -> None:
        estimate = item.result.pop("_estimate", None)
        failure: errors.FloraError | None = None
        client = self._worker_client()
        for _round in range(ROW_ROUNDS):
            try:
                response = client.request(
                    "POST", self.opts.endpoint, body=item.row.body, idempotency_key=item.key,
                    gate=worker.gate, observe=worker.observe)
            except TRANSIENT as exc:
                failure = exc
                if self.stop.is_set():
                    break
                continue
            except errors.FloraError as exc:
                failure = exc
                break
            self._started(item, response.data, estimate)
            return
        assert failure is not None
        self._failed_send(item, failure, estimate)

    def _started(self, item: Item, data: Any, estimate: float | None) -> None:
        self.limiter.succeeded()
        if not isinstance(data, dict) or not isinstance(data.get("run_id"), str):
            self._failed_send(item, errors.InvalidResponseError(
                "The API answered without a run_id; the response breaks the API contract.",
                idempotency_key=item.key), estimate)
            return
        run_id = data["run_id"]
        cost = data.get("charged_cost")
        cost = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) \
            else None
        with self._lock:
            self.stats.started += 1
            if cost is not None:
                self.stats.cost += cost
                self._committed_cost += cost - (estimate or 0.0)
        record = self._record(item, "started", run_id=run_id, charged_cost=cost)
        item.result["run_id"] = run_id
        if self.opts.wait:
            if record is not None:
                self.output.put(item.seq, None, record)
            self._follow(item, run_id, data.get("poll_url"), data.get("estimated_seconds"))
        else:
            self._finish(item, "started", entry=record)

    def _failed_send(self, item: Item, exc: errors.FloraError, estimate: float | None) -> None:
        with self._lock:
            self._committed_cost -= estimate or 0.0
        doc = exc.to_document()["error"] if hasattr(exc, "to_document") else None
        error = doc if isinstance(doc, dict) else _error(exc.code, exc.message)
        if isinstance(exc, errors.IdempotencyConflictError) and exc.code == "idempotency_duplicate":
            # An earlier attempt (this process's, or a crashed one's) started the run; its
            # answer was lost. Record it so that the row is never sent again.
            self._finish(item, "started", error=error,
                         entry=self._record(item, "unknown", error_code=exc.code))
            return
        if isinstance(exc, (errors.AuthenticationError, errors.PermissionDeniedError,
                            errors.MissingApiKeyError)):
            self.auth_failed = True
            self.interrupt(_error(exc.code, "Not started: the API refused the key."))
        status = "not_started" if isinstance(exc, TRANSIENT) else "rejected"
        self._finish(item, status, error=error)

    # -- waiting --------------------------------------------------------------------------

    def _wait_for_room(self) -> None:
        with self._lock:
            while (len(self._open) + self._downloading >= MAX_OPEN_RUNS
                   and not self.stop.is_set()):
                self._open_cond.wait(0.2)

    def _follow(self, item: Item, run_id: str, poll_url: Any, estimated: Any) -> None:
        from flora_cli.api.polling import poll_target

        item.poll_target = poll_target(self.client, run_id, poll_url)
        item.estimated_seconds = estimated
        if self.opts.wait_timeout is not None:
            item.deadline = time.monotonic() + self.opts.wait_timeout
        with self._lock:
            self._open[run_id] = item
            self.stats.open = len(self._open) + self._downloading
            self._open_cond.notify_all()

    def _poll_loop(self) -> None:
        from flora_cli.api.polling import fetch_run

        assert self._poll_pool is not None
        interval = self.opts.poll_interval
        while True:
            with self._lock:
                batch = list(self._open.items())
            if not batch:
                if self.stop.wait(0.05) or self._closing.is_set():
                    return
                continue
            started = time.monotonic()
            futures = [self._poll_pool.submit(self._poll_one, fetch_run, run_id, item)
                       for run_id, item in batch]
            for f in futures:
                with contextlib.suppress(Exception):
                    f.result()
            rest = interval - (time.monotonic() - started)
            if rest > 0 and (self.stop.wait(rest) or self._closing.is_set()):
                return

    def _poll_one(self, fetch_run: Any, run_id: str, item: Item) -> None:
        if self.stop.is_set():
            return
        try:
            state = fetch_run(self._worker_client(), run_id, item.poll_target)
        except errors.FloraError as exc:
            if isinstance(exc, TRANSIENT):
                return  # try again next round (polling rides through outages)
            self._close(run_id)
            self._finish(item, "started", error=exc.to_document()["error"])
            return
        if not state.finished:
            if item.deadline is not None and time.monotonic() >= item.deadline:
                self._close(run_id)
                self._finish(item, "started", entry=self._update(run_id, state.status),
                             error=_error(
                    "wait_timeout", f"Run {run_id} is still {state.status} after "
                    f"--wait-timeout; it goes on in FLORA."))
            return
        doc = state.doc
        cost = doc.get("charged_cost")
        cost = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) \
            else None
        if state.status == "failed":
            code = str(doc.get("error_code") or "run_failed")
            self._close(run_id)
            self._finish(item, "failed", error=_error(
                code, str(doc.get("error_message") or "The run failed.")),
                entry=self._update(run_id, "failed", charged_cost=cost, error_code=code))
            return
        if self._downloads is not None:
            self._close(run_id, downloading=True)
            self._downloads.submit(self._download, item, run_id, doc, cost)
            return
        self._close(run_id)
        self._finish(item, "completed", entry=self._update(run_id, "completed",
                                                           charged_cost=cost))

    def _close(self, run_id: str, *, downloading: bool = False) -> None:
        with self._lock:
            if downloading:
                self._downloading += 1
            self._open.pop(run_id, None)
            self.stats.open = len(self._open) + self._downloading
            self._open_cond.notify_all()

    def _download(self, item: Item, run_id: str, doc: dict[str, Any], cost: float | None) -> None:
        from flora_cli.api.download import Downloader

        assert self.opts.download is not None
        try:
            self.opts.download.mkdir(parents=True, exist_ok=True)
            report = Downloader(self._worker_client(), self.opts.download, run_id
                                ).save_all(doc.get("outputs"))
            files = [f.to_document() for f in report.files]
            update = self._update(run_id, "completed", charged_cost=cost, local_files=files)
            if report.error is not None:
                self._finish(item, "completed", error=report.error.to_document()["error"],
                             local_files=files, entry=update)
            else:
                self._finish(item, "completed", local_files=files, entry=update)
        except Exception as exc:  # a download failure is the row's, never the batch's
            message = exc.message if isinstance(exc, errors.FloraError) else str(exc)
            self._finish(item, "completed", error=_error("download_failed", message),
                         entry=self._update(run_id, "completed", charged_cost=cost))
        finally:
            with self._lock:
                self._downloading -= 1
                self.stats.open = len(self._open) + self._downloading
                self._open_cond.notify_all()


class _Worker:
    """One worker thread's sending state: the limiter's hooks for its current row.

    The limiter bounds attempts, not rows: each attempt (first or retry) takes a slot in
    `gate` and gives it back when its answer arrives (`observe`), so a halved limit holds
    for retries too."""

    def __init__(self, batch: Batch) -> None:
        self.batch = batch
        self.limiter = batch.limiter
        self.stats = batch.stats
        self.stop = batch.stop
        self.held = False
        # The limiter's epoch when the current attempt went out: a 429 to an attempt sent
        # before the last halving does not halve again (once per congestion event).
        self.sent_in = 0

    def send(self, item: Item) -> None:
        batch = self.batch
        try:
            batch._send_rounds(item, self)
        except _Stopped:
            batch._unbudget(item)
            batch._finish(item, "not_started", error=batch.stop_reason)
        except BaseException as exc:  # never lose a row to a bug
            batch._finish(item, "rejected", error=_error("internal_error", str(exc)))
        finally:
            self.give_back()

    def give_back(self) -> None:
        if self.held:
            self.held = False
            self.limiter.release()
            self.stats.in_flight = self.limiter.in_flight  # display only

    def gate(self) -> None:
        self.give_back()
        epoch = self.limiter.acquire(self.stop)
        if epoch is None:
            raise _Stopped
        self.held = True
        self.sent_in = epoch
        self.stats.in_flight = self.limiter.in_flight

    def observe(self, status: int, headers: Mapping[str, str]) -> None:
        self.give_back()
        if status == 429:
            from flora_cli.api.retry import parse_retry_after

            self.limiter.rate_limited(self.sent_in, parse_retry_after(headers))


class _Stopped(Exception):
    """Raised in the limiter's gate when the batch stops: the attempt is not sent."""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}
