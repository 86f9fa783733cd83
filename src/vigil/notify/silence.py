"""Silences: matchers that mute alerts for a time, kept and persisted like Alertmanager's.

Semantics follow Alertmanager's ``silence/silence.go``:

* a silence is *pending* before ``starts_at``, *active* until ``ends_at``, then
  *expired*; it is deleted ``retention`` (default 120 h) after it ends;
* :meth:`Silences.set` with a known id updates that silence in place only when
  its matchers are unchanged and the time change is allowed for its state
  (an active silence keeps its start and cannot end in the past; a pending one
  cannot start in the past); otherwise the old one is expired (unless it
  already is) and a new silence with a new UUID is created;
* a new silence never starts in the past: its start is moved up to now;
* :meth:`Silences.expire` ends an active silence now, and a pending one
  before it started.

The store is snapshotted to one JSON file, written atomically (temporary file,
fsync, rename); a file that cannot be read is reported with its path and the
store starts empty.
"""

from __future__ import annotations

import builtins
import json
import logging
import os
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from vigil.model import Labels, VigilError, validate_label_name
from vigil.model.alert import fingerprint
from vigil.model.matchers import Matcher, MatchType, RegexError
from vigil.notify.store import Marker

__all__ = [
    "ACTIVE",
    "EXPIRED",
    "PENDING",
    "Silence",
    "SilenceError",
    "SilenceNotFoundError",
    "Silencer",
    "Silences",
    "atomic_write",
]

log = logging.getLogger(__name__)

PENDING = "pending"
ACTIVE = "active"
EXPIRED = "expired"

DEFAULT_RETENTION = 120 * 3600.0


class SilenceError(VigilError):
    """A silence that cannot be stored; the message says why."""


class SilenceNotFoundError(SilenceError):
    """No silence has the given id."""


@dataclass(frozen=True, slots=True)
class Silence:
    """One silence. ``id`` is empty for a silence not stored yet."""

    matchers: tuple[Matcher, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    id: str = ""
    updated_at: float = 0.0

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return PENDING
        if now < self.ends_at:
            return ACTIVE
        return EXPIRED

    def matches(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.matchers)


def _validate(s: Silence) -> None:
    if not s.matchers:
        raise SilenceError("at least one matcher required")
    for i, m in enumerate(s.matchers):
        try:
            validate_label_name(m.name)
        except ValueError as exc:
            raise SilenceError(f"invalid label matcher {i}: {exc}") from None
    if all(m.matches_empty() for m in s.matchers):
        raise SilenceError("at least one matcher must not match the empty string")
    if not s.starts_at:
        raise SilenceError("invalid zero start timestamp")
    if not s.ends_at:
        raise SilenceError("invalid zero end timestamp")
    if s.ends_at < s.starts_at:
        raise SilenceError("end time must not be before start time")


def _can_update(old: Silence, new: Silence, now: float) -> bool:
    if sorted(map(str, old.matchers)) != sorted(map(str, new.matchers)):
        return False
    state = old.state(now)
    if state == ACTIVE:
        return new.starts_at == old.starts_at and new.ends_at >= now
    if state == PENDING:
        return new.starts_at >= now
    return False


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` so a reader sees the old file or the new one, never a part."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def _matcher_json(m: Matcher) -> dict[str, Any]:
    return {"name": m.name, "value": m.value, "type": m.type.value}


def _matcher_from_json(d: dict[str, Any]) -> Matcher:
    return Matcher(MatchType(d["type"]), str(d["name"]), str(d["value"]))


def silence_to_json(s: Silence) -> dict[str, Any]:
    return {
        "id": s.id,
        "matchers": [_matcher_json(m) for m in s.matchers],
        "starts_at": s.starts_at,
        "ends_at": s.ends_at,
        "updated_at": s.updated_at,
        "created_by": s.created_by,
        "comment": s.comment,
    }


def silence_from_json(d: dict[str, Any]) -> Silence:
    return Silence(
        id=str(d["id"]),
        matchers=tuple(_matcher_from_json(m) for m in d["matchers"]),
        starts_at=float(d["starts_at"]),
        ends_at=float(d["ends_at"]),
        updated_at=float(d.get("updated_at", 0.0)),
        created_by=str(d.get("created_by", "")),
        comment=str(d.get("comment", "")),
    )


@dataclass
class Silences:
    """The silence store. ``path`` is the snapshot file (None: in memory only)."""

    path: Path | None = None
    clock: Callable[[], float] = time.time
    retention: float = DEFAULT_RETENTION
    load_error: str | None = None
    _silences: dict[str, Silence] = field(default_factory=dict)
    _version: int = 0

    def __post_init__(self) -> None:
        if self.path is not None:
            self.load()

    # -- persistence --------------------------------------------------------

    def load(self) -> None:
        """Read the snapshot; a missing file is an empty store, a bad one is logged and ignored."""
        if self.path is None or not self.path.exists():
            return
        try:
            doc = json.loads(self.path.read_bytes())
            loaded = [silence_from_json(d) for d in doc["silences"]]
        except (OSError, ValueError, KeyError, TypeError, RegexError) as exc:
            self.load_error = f"{self.path}: cannot read silences snapshot: {exc}"
            log.error("%s; starting without silences", self.load_error)
            return
        self._silences = {s.id: s for s in loaded}
        self._version += 1
        log.info("loaded %d silences from %s", len(loaded), self.path)

    def snapshot(self) -> int:
        """Write every silence to ``path``; returns the number written."""
        if self.path is None:
            return 0
        doc = {"version": 1, "silences": [silence_to_json(s) for s in self._silences.values()]}
        atomic_write(self.path, json.dumps(doc, indent=None).encode())
        return len(self._silences)

    # -- writing ------------------------------------------------------------

    def set(self, silence: Silence) -> str:
        """Create or update a silence with Alertmanager's rules; returns the (new) id."""
        now = self.clock()
        prev = self._silences.get(silence.id) if silence.id else None
        if silence.id and prev is None:
            raise SilenceNotFoundError(f"silence {silence.id} not found")
        if prev is not None:
            if _can_update(prev, silence, now):
                self._store(replace(silence, updated_at=now))
                return silence.id
            if prev.state(now) != EXPIRED:
                # cannot update in place: end the old one and create a new one
                _validate(silence)
                self.expire(prev.id)
        new = replace(silence, id=str(uuid.uuid4()), starts_at=max(silence.starts_at, now))
        self._store(replace(new, updated_at=now))
        return new.id

    def _store(self, silence: Silence) -> None:
        _validate(silence)
        self._silences[silence.id] = silence
        self._version += 1

    def expire(self, silence_id: str) -> None:
        now = self.clock()
        s = self._silences.get(silence_id)
        if s is None:
            raise SilenceNotFoundError(f"silence {silence_id} not found")
        state = s.state(now)
        if state == EXPIRED:
            raise SilenceError(f"silence {silence_id} already expired")
        # a pending silence is moved to expired by setting both ends to now
        s = replace(s, ends_at=now) if state == ACTIVE else replace(s, starts_at=now, ends_at=now)
        self._silences[silence_id] = replace(s, updated_at=now)
        self._version += 1

    def gc(self) -> int:
        """Delete silences that ended more than ``retention`` ago; returns how many."""
        now = self.clock()
        gone = [i for i, s in self._silences.items() if s.ends_at + self.retention < now]
        for i in gone:
            del self._silences[i]
        if gone:
            self._version += 1
        return len(gone)

    # -- reading ------------------------------------------------------------

    @property
    def version(self) -> int:
        """Changes whenever a silence is added, changed or removed."""
        return self._version

    def get(self, silence_id: str) -> Silence:
        s = self._silences.get(silence_id)
        if s is None:
            raise SilenceNotFoundError(f"silence {silence_id} not found")
        return s

    def state(self, silence: Silence) -> str:
        return silence.state(self.clock())

    def list(
        self,
        *,
        states: Sequence[str] | None = None,
        matchers: Sequence[Matcher] = (),
        labels: Labels | None = None,
    ) -> list[Silence]:
        """Silences in the given states (all if None) that have every matcher of ``matchers``
        (by name, type and value, as the v2 API filters) and that match ``labels`` if given."""
        now = self.clock()
        out: list[Silence] = []
        wanted = {str(m) for m in matchers}
        for s in self._silences.values():
            if states is not None and s.state(now) not in states:
                continue
            if wanted and not wanted <= {str(m) for m in s.matchers}:
                continue
            if labels is not None and not s.matches(labels):
                continue
            out.append(s)
        return out

    def matching(self, labels: Labels) -> tuple[builtins.list[str], builtins.list[str]]:
        """The ids of active and of pending silences that match ``labels``, sorted."""
        now = self.clock()
        active: builtins.list[str] = []
        pending: builtins.list[str] = []
        for s in self._silences.values():
            state = s.state(now)
            if state == EXPIRED or not s.matches(labels):
                continue
            (active if state == ACTIVE else pending).append(s.id)
        return sorted(active), sorted(pending)

    def __len__(self) -> int:
        return len(self._silences)


class Silencer:
    """Alertmanager's ``Silencer``: mutes alerts that an active silence matches, and marks them."""

    def __init__(self, silences: Silences, marker: Marker) -> None:
        self.silences = silences
        self.marker = marker

    def mutes(self, labels: Labels) -> bool:
        active, pending = self.silences.matching(labels)
        self.marker.set_silenced(fingerprint(labels), active, pending)
        return bool(active)
