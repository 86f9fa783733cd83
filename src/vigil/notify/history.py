"""Alert history: every state change and every notification, kept in SQLite, queryable.

Rules report state changes (pending, firing, resolved); the notifier reports
each delivery (sent or failed). Both land here as :class:`AlertEvent` rows in
one table. The API filters them by time, alert name, severity and kind, and
:meth:`AlertHistory.stats` counts alerts by name and severity per time bucket
and measures how long alerts took to resolve.

SQLite (stdlib) keeps it durable without a server; one connection behind a
lock serves the rule evaluator, the notifier and API readers.
"""

from __future__ import annotations

import json
import sqlite3
import statistics
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["AlertEvent", "AlertHistory", "HistoryStats"]

STATE = "state"
NOTIFICATION = "notification"
_KINDS = (STATE, NOTIFICATION)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    id INTEGER PRIMARY KEY,
    time REAL NOT NULL,
    kind TEXT NOT NULL,
    alertname TEXT NOT NULL,
    severity TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    labels TEXT NOT NULL,
    state TEXT NOT NULL,
    previous TEXT NOT NULL,
    value REAL,
    receiver TEXT NOT NULL,
    integration TEXT NOT NULL,
    outcome TEXT NOT NULL,
    detail TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS events_time ON events (time);
CREATE INDEX IF NOT EXISTS events_name_time ON events (alertname, time);
"""
_COLUMNS = (
    "time, kind, alertname, severity, fingerprint, labels, state, previous, value, "
    "receiver, integration, outcome, detail"
)


@dataclass(frozen=True, slots=True)
class AlertEvent:
    """One thing that happened to one alert.

    ``kind`` is ``state`` (``state`` is the new state: pending, firing,
    resolved; ``previous`` the old one) or ``notification`` (``state`` is
    firing or resolved as sent, ``outcome`` is ``sent`` or ``failed``).
    """

    time: float
    kind: str
    alertname: str
    fingerprint: str
    state: str
    labels: Mapping[str, str] = field(default_factory=dict)
    severity: str = ""
    previous: str = ""
    value: float | None = None
    receiver: str = ""
    integration: str = ""
    outcome: str = ""
    detail: str = ""

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"event kind {self.kind!r} is not one of {', '.join(_KINDS)}")

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "time": self.time,
            "kind": self.kind,
            "alertname": self.alertname,
            "severity": self.severity,
            "fingerprint": self.fingerprint,
            "labels": dict(self.labels),
            "state": self.state,
        }
        if self.kind == STATE:
            out["previous"] = self.previous
            out["value"] = self.value
        else:
            out.update(
                receiver=self.receiver,
                integration=self.integration,
                outcome=self.outcome,
                detail=self.detail,
            )
        return out


@dataclass(frozen=True, slots=True)
class HistoryStats:
    """Counts of alerts that started firing, by name and severity, per bucket; time to resolve by name."""

    start: float
    end: float
    step: float
    # (alertname, severity) -> one count per bucket [start + i*step, start + (i+1)*step)
    firing_counts: dict[tuple[str, str], list[int]]
    # alertname -> durations in seconds from firing to resolved, for alerts resolved in the window
    resolve_seconds: dict[str, list[float]]

    def to_json(self) -> dict[str, Any]:
        def summary(values: list[float]) -> dict[str, float | int]:
            return {
                "count": len(values),
                "mean": statistics.fmean(values),
                "median": statistics.median(values),
                "max": max(values),
            }

        return {
            "start": self.start,
            "end": self.end,
            "step": self.step,
            "firing": [
                {"alertname": name, "severity": sev, "counts": counts, "total": sum(counts)}
                for (name, sev), counts in sorted(self.firing_counts.items())
            ],
            "timeToResolve": {
                name: summary(values) for name, values in sorted(self.resolve_seconds.items())
            },
        }


class AlertHistory:
    """The event log. ``path`` None keeps it in memory (embedded mode without a data dir, tests)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        target = ":memory:"
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            target = str(path)
        self._lock = threading.Lock()
        self._db = sqlite3.connect(target, check_same_thread=False, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def record(self, events: Iterable[AlertEvent]) -> int:
        """Store ``events`` in one transaction; returns how many."""
        rows = [
            (
                e.time,
                e.kind,
                e.alertname,
                e.severity,
                e.fingerprint,
                json.dumps(dict(e.labels), sort_keys=True),
                e.state,
                e.previous,
                e.value,
                e.receiver,
                e.integration,
                e.outcome,
                e.detail,
            )
            for e in events
        ]
        if not rows:
            return 0
        with self._lock:
            self._db.execute("BEGIN")
            try:
                self._db.executemany(
                    f"INSERT INTO events ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", rows
                )
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        return len(rows)

    def query(
        self,
        *,
        start: float | None = None,
        end: float | None = None,
        alertname: str | None = None,
        severity: str | None = None,
        kind: str | None = None,
        limit: int = 1000,
    ) -> list[AlertEvent]:
        """Events in ``[start, end]`` matching the filters, newest first, at most ``limit``."""
        if kind is not None and kind not in _KINDS:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(_KINDS)}")
        if limit <= 0:
            raise ValueError(f"limit must be positive, got {limit}")
        where, args = _where(start, end, alertname, severity, kind)
        sql = f"SELECT {_COLUMNS} FROM events{where} ORDER BY time DESC, id DESC LIMIT ?"
        with self._lock:
            rows = self._db.execute(sql, [*args, limit]).fetchall()
        return [_event(row) for row in rows]

    def stats(
        self, *, start: float, end: float, step: float, alertname: str | None = None
    ) -> HistoryStats:
        """Alerts that began firing per bucket, and firing-to-resolved durations, over ``[start, end)``."""
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        if end <= start:
            raise ValueError(f"end {end} is not after start {start}")
        buckets = int((end - start + step - 1e-9) // step)
        if buckets > 11_000:
            raise ValueError(f"{buckets} buckets is too many: raise step (at most 11,000 buckets)")
        where, args = _where(start, end, alertname, None, STATE)
        with self._lock:
            rows = self._db.execute(
                f"SELECT time, alertname, severity, fingerprint, state FROM events{where} "
                "ORDER BY time, id",
                args,
            ).fetchall()
            # Firing transitions before the window, for alerts resolved inside it.
            fps = sorted({r[3] for r in rows if r[4] == "resolved"})
            earlier = self._last_firing_before(start, fps)
        counts: dict[tuple[str, str], list[int]] = {}
        resolve: dict[str, list[float]] = {}
        firing_since: dict[str, float] = dict(earlier)
        for t, name, severity, fp, state in rows:
            if state == "firing":
                series = counts.setdefault((name, severity), [0] * buckets)
                series[min(int((t - start) // step), buckets - 1)] += 1
                firing_since[fp] = t
            elif state == "resolved" and fp in firing_since:
                resolve.setdefault(name, []).append(t - firing_since.pop(fp))
        return HistoryStats(start, end, step, counts, resolve)

    def _last_firing_before(self, start: float, fingerprints: Sequence[str]) -> dict[str, float]:
        out: dict[str, float] = {}
        for fp in fingerprints:
            row = self._db.execute(
                "SELECT time, state FROM events WHERE kind = ? AND fingerprint = ? AND time < ? "
                "AND state IN ('firing', 'resolved') ORDER BY time DESC, id DESC LIMIT 1",
                (STATE, fp, start),
            ).fetchone()
            if row is not None and row[1] == "firing":
                out[fp] = row[0]
        return out

    def prune(self, before: float) -> int:
        """Delete events older than ``before``; returns how many went."""
        with self._lock:
            cur = self._db.execute("DELETE FROM events WHERE time < ?", (before,))
            return cur.rowcount


def _where(
    start: float | None,
    end: float | None,
    alertname: str | None,
    severity: str | None,
    kind: str | None,
) -> tuple[str, list[Any]]:
    terms: list[str] = []
    args: list[Any] = []
    for column, op, value in (
        ("time", ">=", start),
        ("time", "<=", end),
        ("alertname", "=", alertname),
        ("severity", "=", severity),
        ("kind", "=", kind),
    ):
        if value is not None:
            terms.append(f"{column} {op} ?")
            args.append(value)
    return (" WHERE " + " AND ".join(terms) if terms else ""), args


def _event(row: tuple[Any, ...]) -> AlertEvent:
    (
        t,
        kind,
        name,
        severity,
        fp,
        labels,
        state,
        previous,
        value,
        receiver,
        integration,
        outcome,
        detail,
    ) = row
    return AlertEvent(
        time=t,
        kind=kind,
        alertname=name,
        severity=severity,
        fingerprint=fp,
        labels=json.loads(labels),
        state=state,
        previous=previous,
        value=value,
        receiver=receiver,
        integration=integration,
        outcome=outcome,
        detail=detail,
    )
