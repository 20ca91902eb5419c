"""The `requests` rows and the lifetime `totals` and latency histograms added with them (SQL).

Written in the event log's transaction (accounting.py) from the rows usage.py makes of the events;
read back as the monitoring's figures: token totals and windows, traffic and errors, latency
histograms, and the history's buckets. Pruning old rows never changes the totals.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from controller.keys.periods import DAY_S
from controller.storage.usage import (
    HISTOGRAMS,
    HistorySpec,
    RequestRow,
    cumulative,
    fill_buckets,
    histogram_increments,
    history_range,
    window_starts,
)
from protos import controller_pb2

RECENT_ERRORS = 20
_ROW_COLUMNS = (
    "request_id, ts, source, model, worker, mode, status, error_category, input_tokens, "
    "output_tokens, cache_read_tokens, cache_write_tokens, ttft_ms, duration_ms, retries, key_id"
)
_SUMS = (
    "COUNT(*), COALESCE(SUM(input_tokens + cache_read_tokens + cache_write_tokens), 0), "
    "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), "
    "COALESCE(SUM(cache_write_tokens), 0), COALESCE(SUM(status != 'ok'), 0)"
)
_TOTAL_SUMS = (
    "COALESCE(SUM(requests), 0), "
    "COALESCE(SUM(input_tokens + cache_read_tokens + cache_write_tokens), 0), "
    "COALESCE(SUM(output_tokens), 0), COALESCE(SUM(cache_read_tokens), 0), "
    "COALESCE(SUM(cache_write_tokens), 0), "
    "COALESCE(SUM(CASE WHEN status != 'ok' THEN requests ELSE 0 END), 0)"
)


def token_figures(values: Sequence[Any]) -> controller_pb2.TokenFigures:
    """A row of (requests, every prompt token, output, cache read, cache write, errors)."""
    requests, prompt, output, cache_read, cache_write, errors = (int(v or 0) for v in values)
    return controller_pb2.TokenFigures(
        requests=requests,
        errors=errors,
        input_tokens=prompt,
        output_tokens=output,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
    )


# --- writing ---------------------------------------------------------------------------------


def write(conn: sqlite3.Connection, rows: Sequence[RequestRow]) -> None:
    """Insert the rows and add them to the totals and histograms (in the caller's transaction)."""
    if not rows:
        return
    conn.executemany(
        f"INSERT INTO requests ({_ROW_COLUMNS}) VALUES ({', '.join('?' * 16)})",
        [_row_values(row) for row in rows],
    )
    conn.executemany(
        "INSERT INTO totals VALUES (?, ?, ?, ?, 1, ?, ?, ?, ?, ?) "
        "ON CONFLICT (model, worker, status, error_category) DO UPDATE SET "
        "requests = requests + 1, input_tokens = input_tokens + excluded.input_tokens, "
        "output_tokens = output_tokens + excluded.output_tokens, "
        "cache_read_tokens = cache_read_tokens + excluded.cache_read_tokens, "
        "cache_write_tokens = cache_write_tokens + excluded.cache_write_tokens, "
        "last_ts = max(last_ts, excluded.last_ts)",
        [_total_values(row) for row in rows],
    )
    conn.executemany(
        "INSERT INTO histogram_buckets VALUES (?, ?, ?) ON CONFLICT (metric, le) "
        "DO UPDATE SET count = count + excluded.count",
        [(metric, le, n) for (metric, le), n in histogram_increments(rows).items()],
    )
    for metric, values in (
        ("ttft", [r.ttft_ms for r in rows if r.ttft_ms is not None]),
        ("duration", [r.duration_ms for r in rows]),
    ):
        if values:
            conn.execute(
                "INSERT INTO histogram_sums VALUES (?, ?, ?) ON CONFLICT (metric) DO UPDATE "
                "SET count = count + excluded.count, sum_s = sum_s + excluded.sum_s",
                (metric, len(values), sum(values) / 1000),
            )


def prune(conn: sqlite3.Connection, now: float, retention_days: int) -> int:
    """Delete the rows older than the retention (the totals keep their figures); how many."""
    cursor = conn.execute("DELETE FROM requests WHERE ts < ?", (now - retention_days * DAY_S,))
    return int(cursor.rowcount)


def _row_values(row: RequestRow) -> tuple[Any, ...]:
    return (
        row.request_id,
        row.ts,
        row.source,
        row.model,
        row.worker,
        row.mode,
        row.status,
        row.error_category,
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.cache_write_tokens,
        row.ttft_ms,
        row.duration_ms,
        row.retries,
        row.key_id,
    )


def _total_values(row: RequestRow) -> tuple[Any, ...]:
    return (
        row.model,
        row.worker,
        row.status,
        row.error_category,
        row.input_tokens,
        row.output_tokens,
        row.cache_read_tokens,
        row.cache_write_tokens,
        row.ts,
    )


# --- reading ---------------------------------------------------------------------------------


def tokens(conn: sqlite3.Connection, now: float) -> controller_pb2.TokenStats:
    """Lifetime totals, by model, and the usage windows."""
    by_model = {
        model: token_figures(values)
        for model, *values in conn.execute(
            f"SELECT model, {_TOTAL_SUMS} FROM totals GROUP BY model ORDER BY model"
        )
    }
    totals = conn.execute(f"SELECT {_TOTAL_SUMS} FROM totals").fetchone()
    windows = [
        controller_pb2.TokenWindow(
            window=name,
            since=start,
            figures=token_figures(
                conn.execute(f"SELECT {_SUMS} FROM requests WHERE ts >= ?", (start,)).fetchone()
            ),
        )
        for name, start in window_starts(now).items()
    ]
    return controller_pb2.TokenStats(
        totals=token_figures(totals), by_model=by_model, windows=windows
    )


def breakdown(conn: sqlite3.Connection) -> controller_pb2.Traffic:
    """Lifetime traffic and errors by worker and category, and the latest errors."""
    traffic = controller_pb2.Traffic()
    workers: dict[str, controller_pb2.WorkerTraffic] = {}
    for worker, requests, errors, last_ts in conn.execute(
        "SELECT worker, SUM(requests), SUM(CASE WHEN status != 'ok' THEN requests ELSE 0 "
        "END), MAX(last_ts) FROM totals GROUP BY worker"
    ):
        workers[worker] = traffic.workers.add(
            worker=worker, requests=requests, errors=errors, last_request_at=last_ts
        )
    for worker, category, count in conn.execute(
        "SELECT worker, error_category, SUM(requests) FROM totals WHERE status != 'ok' "
        "GROUP BY worker, error_category"
    ):
        workers[worker].errors_by_category[category] = count
        traffic.errors_by_category[category] += count
    for model, worker, status, n in conn.execute(
        "SELECT model, worker, status, SUM(requests) FROM totals "
        "GROUP BY model, worker, status ORDER BY model, worker, status"
    ):
        traffic.request_counts.add(model=model, worker=worker, status=status, requests=n)
    traffic.recent_errors.extend(_recent_errors(conn))
    return traffic


def _recent_errors(conn: sqlite3.Connection) -> list[controller_pb2.RecentError]:
    found = conn.execute(
        "SELECT ts, request_id, worker, model, error_category, status FROM requests "
        "WHERE status != 'ok' ORDER BY id DESC LIMIT ?",
        (RECENT_ERRORS,),
    )
    return [
        controller_pb2.RecentError(
            ts=ts, request_id=request_id, worker=worker, model=model, category=c, status=status
        )
        for ts, request_id, worker, model, c, status in found
    ]


def histograms(conn: sqlite3.Connection) -> controller_pb2.Latency:
    latency = controller_pb2.Latency()
    for metric in HISTOGRAMS:
        counts = dict(
            conn.execute(
                "SELECT le, count FROM histogram_buckets WHERE metric = ?", (metric,)
            ).fetchall()
        )
        sums = conn.execute(
            "SELECT count, sum_s FROM histogram_sums WHERE metric = ?", (metric,)
        ).fetchone() or (0, 0.0)
        histogram: controller_pb2.Histogram = getattr(latency, metric)
        histogram.count, histogram.sum_s = sums
        for bound, count in cumulative(metric, counts):
            histogram.buckets.add(le_s=bound, count=count)
    return latency


def history(
    conn: sqlite3.Connection, spec: HistorySpec, now: float
) -> tuple[float, float, list[dict[str, Any]]]:
    """Per-bucket figures over the window, every bucket present, oldest first."""
    first, end = history_range(spec, now)
    found: dict[float, dict[str, Any]] = {}
    for bucket, requests, errors, prompt, output, ttft, duration in conn.execute(
        "SELECT CAST((ts - ?) / ? AS INTEGER), COUNT(*), SUM(status != 'ok'), "
        "SUM(input_tokens + cache_read_tokens + cache_write_tokens), SUM(output_tokens), "
        "AVG(ttft_ms), AVG(duration_ms) FROM requests WHERE ts >= ? AND ts < ? "
        "GROUP BY 1",
        (first, spec.bucket_s, first, end),
    ):
        found[first + bucket * spec.bucket_s] = {
            "requests": requests,
            "errors": errors,
            "input": prompt,
            "output": output,
            "avgTtftMs": None if ttft is None else round(ttft, 1),
            "avgDurationMs": None if duration is None else round(duration, 1),
        }
    return first, end, fill_buckets(spec, first, found)
