"""The batch scheduler: rows to runs on the one transport loop, at the API's rate.

- The main thread reads rows (streamed), skips those the ledger already has, applies
  `--max-cost`, takes a slot from the AIMD limiter and hands the row to a worker.
- Workers (as many as the maximum concurrency) send the start request through
  `FloraClient.request` with the limiter's hooks: every attempt waits out a batch-wide
  `retry-after` pause, every 429 halves the limit. A row whose request ran out of retries on a
  transient error (429, 5xx, no answer) goes round again with the same key, up to
  `ROW_ROUNDS` times, so one outage does not cost the row.
- With `--wait`/`--download`, one poller follows every open run at the poll interval (its GETs
  spread over at most `concurrency` threads); downloads run on at most `concurrency` threads.
- Each row's result is one JSONL line on stdout as soon as it is final (`--ordered`: file
  order); the ledger gets every started run through one writer thread.

Memory is bounded by the concurrency and `MAX_OPEN_RUNS`, never by the number of rows.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from flora_cli.api import errors
from flora_cli.batch.keys import row_key
from flora_cli.batch.ledger import Ledger, LedgerWriter, Record, RunUpdate
from flora_cli.batch.limiter import Limiter
from flora_cli.batch.reader import Row
from flora_cli.textsafe import dumps

if TYPE_CHECKING:
    from flora_cli.api.client import FloraClient

#: Rounds a row gets when its request ran out of retries on a transient error.
ROW_ROUNDS = 5
#: At most this many started runs are followed at once with --wait; reading waits for room.
MAX_OPEN_RUNS = 1000
TRANSIENT = (errors.RateLimitError, errors.ServerError, errors.APIConnectionError)

Estimate = Callable[[Mapping[str, Any]], "float | None"]


@dataclass
class Stats:
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
    seq: int  # position among the rows this process runs (for --ordered)
    row: Row
    key: str
    result: dict[str, Any] = field(default_factory=dict)
    poll_target: str | None = None
    estimated_seconds: Any = None
    skipped: bool = False
    deadline: float | None = None


class Output:
    """JSONL results on stdout, one line per row as it finishes (or in file order)."""

    #: Lines are flushed at least this often (and at the end), not one write per line.
    FLUSH_EVERY = 0.1

    def __init__(self, stream: IO[str], ordered: bool) -> None:
        self.stream = stream
        self.ordered = ordered
        self._last_flush = time.monotonic()
        self._lock = threading.Lock()
        self._next = 0
        self._held: dict[int, str] = {}
        self.broken = False

    def put(self, seq: int, doc: dict[str, Any]) -> None:
        line = dumps(doc, indent=None, compact=True) + "\n"
        with self._lock:
            if not self.ordered:
                self._write(line)
                return
            self._held[seq] = line
            while self._next in self._held:
                self._write(self._held.pop(self._next))
                self._next += 1

    def _write(self, line: str) -> None:
        if self.broken:
            return
        try:
            self.stream.write(line)
            now = time.monotonic()
            if now - self._last_flush >= self.FLUSH_EVERY:
                self._last_flush = now
                self.stream.flush()
        except BrokenPipeError:
            self.broken = True

    def flush(self) -> None:
        with self._lock:
            if self.broken:
                return
            try:
                self.stream.flush()
            except BrokenPipeError:
                self.broken = True


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
        self.writer = LedgerWriter(ledger) if ledger is not None else None
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
        self._workers = ThreadPoolExecutor(options.concurrency, thread_name_prefix="flora-row")
        self._free_workers = threading.Semaphore(options.concurrency)
        self._downloads: ThreadPoolExecutor | None = None
        self._poller: threading.Thread | None = None
        self._poll_pool: ThreadPoolExecutor | None = None
        self._pending_sends = 0
        if options.wait:
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
                **extra: Any) -> None:
        doc = item.result or self._base(item)
        doc["status"] = status
        if error is not None:
            doc["error"] = error
        doc.update(extra)
        if item.skipped:
            doc["skipped"] = "already started"
        with self._lock:
            self.stats.done += 1
            if status in ("rejected", "failed", "not_started") or (
                error is not None and status in ("started", "skipped")
            ):
                self.stats.failed += 1
            if status == "completed":
                self.stats.completed += 1
            if status == "failed":
                self.stats.run_failed += 1
        self.output.put(item.seq, doc)
        self._changed()

    def _record(self, item: Item, status: str, **extra: Any) -> None:
        if self.writer is None:
            return
        self.writer.put(Record.for_body(
            self.opts.origin, self.opts.endpoint, item.key, item.row.body, status=status,
            profile=self.opts.profile, batch_id=self.opts.batch_id, row=item.row.number,
            row_id=item.row.id, **extra))

    def _update(self, run_id: str, status: str, **extra: Any) -> None:
        if self.writer is not None:
            self.writer.put(RunUpdate(self.opts.origin, run_id, status, **extra))

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
        """Start every row (or report it); returns when every row is reported."""
        seq = 0
        it = iter(rows)
        try:
            for row in it:
                item = Item(seq, row, row_key(self.opts.batch_id, row.label, row.body))
                item.result = self._base(item)
                seq += 1
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
                if not self._take_worker():
                    self._unbudget(item)
                    self._finish(item, "not_started", error=self.stop_reason)
                    continue
                with self._lock:
                    self._pending_sends += 1
                self._workers.submit(self._send, item)
                self._changed()
        except BaseException:
            self.stop.set()
            self.limiter.close()
            self._drain(it, seq)
            raise
        finally:
            self._shutdown_sends()
        return self.stats

    def _drain(self, rows: Iterator[Row], seq: int) -> None:
        """After an interrupt: report every row not yet reached as not started."""
        with contextlib.suppress(Exception):
            for row in rows:
                item = Item(seq, row, row_key(self.opts.batch_id, row.label, row.body))
                item.result = self._base(item)
                seq += 1
                self._finish(item, "not_started", error=self.stop_reason)

    def _shutdown_sends(self) -> None:
        """Wait for the sends in flight (they are recorded), then for the open runs."""
        self._workers.shutdown(wait=True)
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
        if self.writer is not None:
            self.writer.close()
        for client in self._thread_clients:
            client.close()
        self.output.flush()

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

    def _take_worker(self) -> bool:
        """Wait for a free worker (rows handed over never outnumber the workers)."""
        while not self.stop.is_set():
            if self._free_workers.acquire(timeout=0.2):
                return True
        return False

    def _send(self, item: Item) -> None:
        try:
            self._send_row(item)
        except _Stopped:
            self._unbudget(item)
            self._finish(item, "not_started", error=self.stop_reason)
        except BaseException as exc:  # never lose a row to a bug
            self._finish(item, "rejected", error=_error("internal_error", str(exc)))
        finally:
            self._free_workers.release()
            with self._lock:
                self._pending_sends -= 1
            self._changed()

    def _send_row(self, item: Item) -> None:
        """The row's start request on the client's one loop. The limiter bounds attempts, not
        rows: each attempt (first or retry) takes a slot in `gate` and gives it back when its
        answer arrives, so a halved limit holds for retries too."""
        limiter = self.limiter
        stop = self.stop
        stats = self.stats
        held = [False]
        # The limiter's epoch when the current attempt went out: a 429 to an attempt sent
        # before the last halving does not halve again (once per congestion event).
        sent_in = [0]

        def give_back() -> None:
            if held[0]:
                held[0] = False
                limiter.release()
                with self._lock:
                    stats.in_flight -= 1

        def gate() -> None:
            give_back()
            epoch = limiter.acquire(stop)
            if epoch is None:
                raise _Stopped
            held[0] = True
            sent_in[0] = epoch
            with self._lock:
                stats.in_flight += 1

        def observe(status: int, headers: Mapping[str, str]) -> None:
            give_back()
            if status == 429:
                from flora_cli.api.retry import parse_retry_after

                limiter.rate_limited(sent_in[0], parse_retry_after(headers))

        try:
            self._send_rounds(item, gate, observe)
        finally:
            give_back()

    def _send_rounds(self, item: Item, gate: Callable[[], None],
                     observe: Callable[[int, Mapping[str, str]], None]) -> None:
        estimate = item.result.pop("_estimate", None)
        failure: errors.FloraError | None = None
        for _round in range(ROW_ROUNDS):
            try:
                response = self._worker_client().request(
                    "POST", self.opts.endpoint, body=item.row.body, idempotency_key=item.key,
                    gate=gate, observe=observe)
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
        self._record(item, "started", run_id=run_id, charged_cost=cost)
        item.result["run_id"] = run_id
        if self.opts.wait:
            self._follow(item, run_id, data.get("poll_url"), data.get("estimated_seconds"))
        else:
            self._finish(item, "started")

    def _failed_send(self, item: Item, exc: errors.FloraError, estimate: float | None) -> None:
        with self._lock:
            self._committed_cost -= estimate or 0.0
        doc = exc.to_document()["error"] if hasattr(exc, "to_document") else None
        error = doc if isinstance(doc, dict) else _error(exc.code, exc.message)
        if isinstance(exc, errors.IdempotencyConflictError) and exc.code == "idempotency_duplicate":
            # An earlier attempt (this process's, or a crashed one's) started the run; its
            # answer was lost. Record it so that the row is never sent again.
            self._record(item, "unknown", error_code=exc.code)
            self._finish(item, "started", error=error)
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
                self._update(run_id, state.status)
                self._finish(item, "started", error=_error(
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
            self._update(run_id, "failed", charged_cost=cost, error_code=code)
            self._finish(item, "failed", error=_error(
                code, str(doc.get("error_message") or "The run failed.")))
            return
        if self._downloads is not None:
            self._close(run_id, downloading=True)
            self._downloads.submit(self._download, item, run_id, doc, cost)
            return
        self._update(run_id, "completed", charged_cost=cost)
        self._close(run_id)
        self._finish(item, "completed")

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
            self._update(run_id, "completed", charged_cost=cost, local_files=files)
            if report.error is not None:
                self._finish(item, "completed", error=report.error.to_document()["error"],
                             local_files=files)
            else:
                self._finish(item, "completed", local_files=files)
        except Exception as exc:  # a download failure is the row's, never the batch's
            self._update(run_id, "completed", charged_cost=cost)
            message = exc.message if isinstance(exc, errors.FloraError) else str(exc)
            self._finish(item, "completed", error=_error("download_failed", message))
        finally:
            with self._lock:
                self._downloading -= 1
                self.stats.open = len(self._open) + self._downloading
                self._open_cond.notify_all()


class _Stopped(Exception):
    """Raised in the limiter's gate when the batch stops: the attempt is not sent."""


def _error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}
