"""The notification log: what was last sent to each integration for each group.

Like Alertmanager's ``nflog/nflog.go``, one entry per (group key, receiver
name, integration name, integration index) holds when the last successful
notification went out and the fingerprints of the firing and resolved alerts
it carried. The dedup stage of the pipeline reads it (:func:`needs_update`) to
decide whether a group's state is news for that integration; entries expire
``retention`` after they were written. The log is snapshotted to a JSON file
atomically, so a restart does not repeat notifications.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from vigil.notify.silence import atomic_write

__all__ = ["Entry", "NotificationLog", "ReceiverKey", "needs_update"]

log = logging.getLogger(__name__)

DEFAULT_RETENTION = 120 * 3600.0


@dataclass(frozen=True, slots=True, order=True)
class ReceiverKey:
    """One integration of one receiver: ``team-x/webhook/0``."""

    group_name: str  # the receiver's name
    integration: str
    index: int

    def __str__(self) -> str:
        return f"{self.group_name}/{self.integration}/{self.index}"


@dataclass(frozen=True, slots=True)
class Entry:
    group_key: str
    receiver: ReceiverKey
    timestamp: float
    firing_alerts: frozenset[int] = frozenset()
    resolved_alerts: frozenset[int] = frozenset()
    expires_at: float = 0.0

    def is_firing_subset(self, subset: Iterable[int]) -> bool:
        return all(fp in self.firing_alerts for fp in subset)

    def is_resolved_subset(self, subset: Iterable[int]) -> bool:
        return all(fp in self.resolved_alerts for fp in subset)


def needs_update(
    entry: Entry | None,
    firing: frozenset[int] | set[int],
    resolved: frozenset[int] | set[int],
    repeat_interval: float,
    send_resolved: bool,
    *,
    now: float,
) -> bool:
    """Alertmanager's ``DedupStage.needsUpdate``: whether to notify the integration."""
    if entry is None:
        # never notified: only if something fires
        return len(firing) > 0
    if not entry.is_firing_subset(firing):
        return True
    if not firing:
        # all resolved: notify (whatever send_resolved says, to clear the log) only if the
        # receiver was told about firing alerts
        return len(entry.firing_alerts) > 0
    if send_resolved and not entry.is_resolved_subset(resolved):
        return True
    # nothing changed: only once the repeat interval has passed
    return entry.timestamp < now - repeat_interval


def _entry_json(e: Entry) -> dict[str, Any]:
    return {
        "group_key": e.group_key,
        "receiver": {
            "group_name": e.receiver.group_name,
            "integration": e.receiver.integration,
            "idx": e.receiver.index,
        },
        "timestamp": e.timestamp,
        "firing_alerts": [f"{fp:016x}" for fp in sorted(e.firing_alerts)],
        "resolved_alerts": [f"{fp:016x}" for fp in sorted(e.resolved_alerts)],
        "expires_at": e.expires_at,
    }


def _entry_from_json(d: dict[str, Any]) -> Entry:
    r = d["receiver"]
    return Entry(
        group_key=str(d["group_key"]),
        receiver=ReceiverKey(str(r["group_name"]), str(r["integration"]), int(r["idx"])),
        timestamp=float(d["timestamp"]),
        firing_alerts=frozenset(int(x, 16) for x in d["firing_alerts"]),
        resolved_alerts=frozenset(int(x, 16) for x in d["resolved_alerts"]),
        expires_at=float(d["expires_at"]),
    )


@dataclass
class NotificationLog:
    """Entries by (group key, receiver key). ``path`` is the snapshot file (None: in memory)."""

    path: Path | None = None
    clock: Callable[[], float] = time.time
    retention: float = DEFAULT_RETENTION
    load_error: str | None = None
    _entries: dict[tuple[str, ReceiverKey], Entry] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.path is not None:
            self.load()

    def log(
        self,
        receiver: ReceiverKey,
        group_key: str,
        firing: Iterable[int],
        resolved: Iterable[int],
    ) -> Entry:
        now = self.clock()
        entry = Entry(
            group_key=group_key,
            receiver=receiver,
            timestamp=now,
            firing_alerts=frozenset(firing),
            resolved_alerts=frozenset(resolved),
            expires_at=now + self.retention,
        )
        self._entries[(group_key, receiver)] = entry
        return entry

    def query(self, group_key: str, receiver: ReceiverKey) -> Entry | None:
        return self._entries.get((group_key, receiver))

    def entries(self) -> list[Entry]:
        return list(self._entries.values())

    def gc(self) -> int:
        """Delete expired entries; returns how many."""
        now = self.clock()
        gone = [k for k, e in self._entries.items() if e.expires_at <= now]
        for k in gone:
            del self._entries[k]
        return len(gone)

    def load(self) -> None:
        """Read the snapshot; a missing file is an empty log, a bad one is logged and ignored."""
        if self.path is None or not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_bytes())
            loaded = [_entry_from_json(d) for d in doc["entries"]]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            self.load_error = f"{self.path}: cannot read notification log snapshot: {exc}"
            log.error("%s; starting with an empty notification log", self.load_error)
            return
        now = self.clock()
        self._entries = {(e.group_key, e.receiver): e for e in loaded if e.expires_at > now}
        log.info("loaded %d notification log entries from %s", len(self._entries), self.path)

    def snapshot(self) -> int:
        """Write the live entries to ``path``; returns the number written."""
        if self.path is None:
            return 0
        doc = {"version": 1, "entries": [_entry_json(e) for e in self._entries.values()]}
        atomic_write(self.path, json.dumps(doc).encode())
        return len(self._entries)

    def __len__(self) -> int:
        return len(self._entries)
