"""Batches: many rows from a file, one run per row, and the local run ledger.

Standard library only at import (no httpx, rich or pydantic), so `--help` stays fast:
- `reader`: JSONL/CSV rows, defaults from flags, validation of every row before anything is sent;
- `keys`: the batch id (content hash) and each row's derived idempotency key;
- `limiter`: the AIMD concurrency limit shared by every worker (halve on 429, +1 per 20 ok);
- `ledger`: the SQLite record of every run this CLI starts (sqlite3 loads when it is opened);
- `runner`: the scheduler: workers on the one transport loop, the shared poller, results.
"""
