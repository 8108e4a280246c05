"""Batch pieces without the network: the row reader, derived keys, the AIMD limiter."""

from __future__ import annotations

import io
import json
import threading
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flora_cli.batch import reader
from flora_cli.batch.keys import batch_id_for, canonical, row_key
from flora_cli.batch.limiter import GROW_AFTER, Limiter
from flora_cli.cli.params import ParamError

DEFAULTS = reader.Defaults(workspace_id="ws_a", project_id="prj_a", type="image")


def _source(tmp_path: Path, name: str, text: str | bytes) -> reader.Source:
    path = tmp_path / name
    path.write_bytes(text.encode() if isinstance(text, str) else text)
    return reader.Source(str(path))


def _bad(tmp_path: Path, name: str, text: str,
         defaults: reader.Defaults = DEFAULTS) -> reader.BatchInputError:
    try:
        with _source(tmp_path, name, text) as src:
            reader.validate(src, defaults)
    except reader.BatchInputError as exc:
        return exc
    raise AssertionError("no BatchInputError")


def _rows(tmp_path: Path, name: str, text: str,
          defaults: reader.Defaults = DEFAULTS) -> list[reader.Row]:
    with _source(tmp_path, name, text) as src:
        reader.validate(src, defaults)
        return list(reader.rows(src, defaults))


def test_jsonl_rows_take_defaults_and_keep_their_own_fields(tmp_path: Path) -> None:
    rows = _rows(tmp_path, "a.jsonl",
                 '{"prompt": "a", "id": "x"}\n\n{"prompt": "b", "type": "TEXT", '
                 '"params": {"seed": 1}}\n')
    assert [(r.number, r.id) for r in rows] == [(1, "x"), (2, None)]
    assert rows[0].body == {"type": "image", "prompt": "a", "workspace_id": "ws_a",
                            "project_id": "prj_a"}
    assert rows[1].body["type"] == "text" and rows[1].body["params"] == {"seed": 1}
    assert "model" not in rows[0].body and "params" not in rows[0].body


def test_csv_params_column_and_param_columns_merge(tmp_path: Path) -> None:
    rows = _rows(tmp_path, "a.csv",
                 'id,prompt,params,param.seed,param.style\n'
                 'r1,"a, b","{""seed"": 1, ""n"": 2}",7,vivid\n'
                 'r2,c,,,\n')
    assert rows[0].body["prompt"] == "a, b"
    assert rows[0].body["params"] == {"seed": 7, "n": 2, "style": "vivid"}
    assert "params" not in rows[1].body


def test_flag_params_are_defaults_a_row_overrides(tmp_path: Path) -> None:
    d = reader.Defaults(workspace_id="ws_a", project_id="prj_a", type="image",
                        params={"seed": 1, "n": 2})
    rows = _rows(tmp_path, "a.jsonl", '{"prompt": "p", "params": {"seed": 9}}\n', d)
    assert rows[0].body["params"] == {"seed": 9, "n": 2}


def test_stdin_is_spooled_and_sniffed(tmp_path: Path) -> None:
    src = reader.Source("-", stdin=io.BytesIO(b"prompt\nhello\n"))
    with src:
        assert src.kind == "csv"
        assert reader.validate(src, DEFAULTS).rows == 1
        assert [r.body["prompt"] for r in reader.rows(src, DEFAULTS)] == ["hello"]


@pytest.mark.parametrize(("name", "text", "needle"), [
    ("e.jsonl", "", "is empty"),
    ("e.jsonl", "\n  \n", "is empty"),
    ("h.csv", "image,a cat,ws_a\n", "no CSV header"),
    ("u.csv", "prompt,colour,size\nx,red,2\n", "unknown column(s) 'colour', 'size'"),
    ("a.json", '[{"prompt": "x"}]', "JSON array"),
])
def test_unusable_files(tmp_path: Path, name: str, text: str, needle: str) -> None:
    err = _bad(tmp_path, name, text, DEFAULTS)
    assert needle in err.message


def test_bad_rows_are_listed_with_row_line_field_and_reason(tmp_path: Path) -> None:
    text = ('{"prompt": "ok"}\n'
            '"just a string"\n'
            '{"prompt": "  "}\n'
            '{"prompt": "x", "colour": "red"}\n'
            '{"prompt": "x", "type": "t2i"}\n'
            '{"prompt": "x", "workspace_id": "abc"}\n'
            '{"prompt": "x", "params": [1]}\n'
            '{"prompt": "x", "params": {"a": NaN}}\n'
            '{"prompt": "x", "id": "r1"}\n{"prompt": "y", "id": "r1"}\n')
    err = _bad(tmp_path, "b.jsonl", text, DEFAULTS)
    got = {(p.row, p.field) for p in err.problems}
    assert got == {(2, "(line)"), (3, "prompt"), (4, "colour"), (5, "type"),
                   (6, "workspace_id"), (7, "params"), (8, "(line)"), (10, "id")}
    assert "not a media type" in str(err.problems) or "model family" in str(
        err.problems)
    assert err.total_bad == 8


def test_at_most_twenty_bad_rows_are_listed(tmp_path: Path) -> None:
    text = "".join('{"prompt": ""}\n' for _ in range(25))
    err = _bad(tmp_path, "b.jsonl", text, DEFAULTS)
    assert len(err.problems) == 20 and err.total_bad == 25
    assert "25 of 25" in err.message


def test_missing_required_field_names_the_flag(tmp_path: Path) -> None:
    err = _bad(tmp_path, "b.jsonl", '{"prompt": "x"}\n', reader.Defaults())
    reasons = {p.field: p.reason for p in err.problems}
    assert "--workspace-id" in reasons["workspace_id"] and "--type" in reasons["type"]


@pytest.mark.parametrize("text", ["0/3", "4/3", "1/0", "x", "1-3", "-1/3"])
def test_bad_shards(text: str) -> None:
    with pytest.raises(ParamError):
        reader.parse_shard(text)


@given(st.integers(1, 9), st.integers(1, 200))
def test_shards_partition_the_rows(n: int, rows: int) -> None:
    owners = [[k for k in range(1, n + 1) if reader.Shard(k, n).takes(r)]
              for r in range(1, rows + 1)]
    assert all(len(o) == 1 for o in owners)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.dictionaries(st.sampled_from(["prompt", "id", "type", "model", "x"]),
                                st.one_of(st.text(max_size=5), st.integers(), st.none()),
                                max_size=4), max_size=8))
def test_reader_never_raises_anything_but_input_errors(rows: list[dict[str, object]]) -> None:
    data = "".join(json.dumps(r) + "\n" for r in rows).encode()
    try:
        with reader.Source("-", stdin=io.BytesIO(data)) as src:
            summary = reader.validate(src, DEFAULTS)
            assert summary.rows == len(list(reader.rows(src, DEFAULTS)))
    except reader.BatchInputError as exc:
        assert exc.message


def test_keys_are_stable_and_depend_on_batch_row_and_body() -> None:
    body = {"prompt": "a", "type": "image", "params": {"b": 1, "a": 2}}
    same = {"type": "image", "params": {"a": 2, "b": 1}, "prompt": "a"}
    k = row_key("b1", "#1", body)
    assert k == row_key("b1", "#1", same) and k.startswith("flora-b1-") and len(k) < 64
    assert len({k, row_key("b2", "#1", body), row_key("b1", "#2", body),
                row_key("b1", "#1", {**body, "prompt": "b"})}) == 4
    # no ambiguity between label and batch id boundaries
    assert row_key("b1", "x#1", body) != row_key("b1x", "#1", body)
    assert canonical(body) == canonical(same)
    assert batch_id_for("ab" * 32) == "b" + "ab" * 8


def test_keys_are_the_same_as_earlier_versions_made_them() -> None:
    # A rerun after an upgrade must send the same keys (values from the first release).
    body = {"prompt": "a mug, caf\u00e9 \u2615", "type": "image",
            "params": {"b": 1, "a": 2.5, "z": [True, None]}}
    assert canonical(body) == ('{"params":{"a":2.5,"b":1,"z":[true,null]},'
                               '"prompt":"a mug, caf\u00e9 \u2615","type":"image"}')
    assert row_key("b1", "#1", body) == "flora-b1-2fbb5799cca78e95cbe3be71791814376b8d4e7f"


def test_remembered_field_values_never_let_a_bad_one_through(tmp_path: Path) -> None:
    # Valid type/workspace/project values are remembered (bounded); a bad one is refused
    # every time, also after many good ones.
    lines = [json.dumps({"prompt": "p", "workspace_id": f"ws_{i}"}) for i in range(300)]
    path = tmp_path / "many.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with reader.Source(str(path)) as src:
        assert reader.validate(src, DEFAULTS).rows == 300
        assert [r.body["workspace_id"] for r in reader.rows(src, DEFAULTS)][-1] == "ws_299"
    assert len(reader._PARSED) <= reader._PARSED_MAX
    for _ in range(2):
        err = _bad(tmp_path, "b.jsonl", '{"prompt": "x", "workspace_id": "ws_a b"}\n',
                   DEFAULTS)
        assert [p.field for p in err.problems] == ["workspace_id"]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_limiter_halves_once_per_event_and_grows_back_slowly() -> None:
    clock = Clock()
    lim = Limiter(16, clock=clock)
    epochs = [lim.acquire() for _ in range(16)]
    for e in epochs:  # 16 workers all see the same storm: one halving
        lim.rate_limited(e, 2.0)
    assert lim.limit == 8 and lim.pause_until == 102.0
    for _ in range(16):
        lim.release()
    # every worker honours the pause
    stop = threading.Event()
    got: list[int | None] = []
    t = threading.Thread(target=lambda: got.append(lim.acquire(stop)))
    t.start()
    t.join(0.3)
    assert t.is_alive() and not got
    clock.now = 102.5
    t.join(2)
    assert got == [1]
    lim.rate_limited(got[0], None)
    assert lim.limit == 4
    for _ in range(4):
        lim.rate_limited(lim.epoch, None)
    assert lim.limit == 1  # never below one
    for _ in range(GROW_AFTER - 1):
        lim.succeeded()
    assert lim.limit == 1
    lim.succeeded()
    assert lim.limit == 2
    assert [c.limit for c in lim.history] == [8, 4, 2, 1, 2]


def test_limiter_acquire_stops_on_close() -> None:
    lim = Limiter(1)
    assert lim.acquire() == 0
    stop = threading.Event()
    got: list[int | None] = []
    t = threading.Thread(target=lambda: got.append(lim.acquire(stop)))
    t.start()
    stop.set()
    t.join(3)
    assert got == [None]
    with pytest.raises(ValueError):
        Limiter(0)
    with pytest.raises(ValueError):
        Limiter(65)
