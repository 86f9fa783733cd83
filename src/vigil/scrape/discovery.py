"""Target discovery: static groups from the config, and file-based discovery (``file_sd``).

A :class:`TargetGroup` is a list of target label sets (each with at least
``__address__``) plus labels shared by the group, named by ``source``.

:class:`FileDiscovery` reads the files of a ``file_sd_configs`` entry (YAML or
JSON, globs allowed in the last path element) in Prometheus's format::

    - targets: ['host1:9100', 'host2:9100']
      labels: {env: prod}

Every group gets ``__meta_filepath``. Files are polled: a file whose
modification time, size or inode changed is re-read whenever :meth:`poll`
runs, and every file is re-read each ``refresh_interval``. A file that cannot
be read or parsed keeps the targets it had before, and the error (with
``file:line:col``) is logged and kept in :attr:`FileDiscovery.errors`. Vanished
files lose their targets.

:class:`Discovery` combines the static and file groups of one scrape config
and turns them into targets.
"""

from __future__ import annotations

import asyncio
import glob
import json
import logging
import os
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field

from vigil.config.errors import ConfigError
from vigil.config.nodes import NodeReader, compose
from vigil.config.types import FileSDConfig, ScrapeConfig
from vigil.model import is_valid_label_name
from vigil.scrape.targets import ADDRESS_LABEL, DroppedTarget, Target, targets_from_group

__all__ = [
    "FILEPATH_LABEL",
    "Discovery",
    "FileDiscovery",
    "TargetGroup",
    "parse_target_groups",
    "static_groups",
]

FILEPATH_LABEL = "__meta_filepath"

log = logging.getLogger("vigil.scrape.discovery")


@dataclass(frozen=True, slots=True)
class TargetGroup:
    """Targets sharing ``labels``; a target's own labels win over the group's."""

    source: str
    targets: tuple[Mapping[str, str], ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


def static_groups(scrape_config: ScrapeConfig) -> list[TargetGroup]:
    """The ``static_configs`` of a scrape config as groups (sources ``"0"``, ``"1"``, ...)."""
    return [
        TargetGroup(
            source=str(i),
            targets=tuple({ADDRESS_LABEL: t} for t in sc.targets),
            labels=dict(sc.labels),
        )
        for i, sc in enumerate(scrape_config.static_configs)
    ]


class FileFormatError(ValueError):
    """A file_sd file that is not a list of target groups; ``str()`` says where."""


def parse_target_groups(text: str, path: str) -> list[TargetGroup]:
    """The groups in one file_sd file (JSON if ``path`` ends in .json, else YAML).

    Raises :class:`FileFormatError` with ``file:line:col: problem``.
    """
    if path.lower().endswith(".json"):
        return _parse_json(text, path)
    try:
        root = compose(text, path)
    except ConfigError as exc:
        raise FileFormatError(exc.format()) from None
    r = NodeReader(text, path)
    groups: list[TargetGroup] = []
    for i, item in enumerate(r.sequence(root, "") or ()):
        p = f"[{i}]"
        fields = r.mapping(item, p)
        if fields is None:
            continue
        r.check_keys(fields, ("targets", "labels"))
        tf = fields.get("targets")
        targets = r.string_list(tf.value if tf else None, f"{p}.targets")
        lf = fields.get("labels")
        labels = r.label_map(lf.value if lf else None, f"{p}.labels")
        groups.append(_group(path, i, [t for t, _ in targets], labels))
    if r.problems:
        raise FileFormatError("\n".join(str(p) for p in r.problems))
    return groups


def _parse_json(text: str, path: str) -> list[TargetGroup]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FileFormatError(f"{path}:{exc.lineno}:{exc.colno}: {exc.msg}") from None
    if data is None:
        return []
    if not isinstance(data, list):
        raise FileFormatError(f"{path}: expected a list of target groups")
    groups = []
    for i, item in enumerate(data):
        where = f"{path}: [{i}]"
        if not isinstance(item, dict):
            raise FileFormatError(f"{where}: expected an object with targets and labels")
        unknown = set(item) - {"targets", "labels"}
        if unknown:
            raise FileFormatError(f"{where}: unknown field {sorted(unknown)[0]!r}")
        targets = item.get("targets") or []
        labels = item.get("labels") or {}
        if not isinstance(targets, list) or not all(isinstance(t, str) for t in targets):
            raise FileFormatError(f"{where}.targets: expected a list of strings")
        if not isinstance(labels, dict):
            raise FileFormatError(f"{where}.labels: expected an object")
        for name, value in labels.items():
            if not is_valid_label_name(name):
                raise FileFormatError(f"{where}.labels: {name!r} is not a valid label name")
            if not isinstance(value, str):
                raise FileFormatError(f"{where}.labels.{name}: expected a string")
        groups.append(_group(path, i, targets, labels))
    return groups


def _group(path: str, i: int, targets: list[str], labels: Mapping[str, str]) -> TargetGroup:
    merged = dict(labels)
    merged[FILEPATH_LABEL] = path
    return TargetGroup(
        source=f"{path}:{i}",
        targets=tuple({ADDRESS_LABEL: t} for t in targets),
        labels=merged,
    )


_Stamp = tuple[int, int, int]  # mtime_ns, size, inode


class FileDiscovery:
    """Polls the files of one ``file_sd_configs`` entry; see the module doc."""

    def __init__(
        self,
        config: FileSDConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.config = config
        self._clock = clock
        self._log = logger or log
        self._stamps: dict[str, _Stamp] = {}
        self._groups: dict[str, list[TargetGroup]] = {}
        self._last_full: float | None = None
        self.errors: dict[str, str] = {}

    def files(self) -> list[str]:
        found: set[str] = set()
        for pattern in self.config.files:
            found.update(glob.glob(pattern))
        return sorted(found)

    def groups(self) -> list[TargetGroup]:
        return [g for path in sorted(self._groups) for g in self._groups[path]]

    def poll(self) -> bool:
        """Re-read changed files (all of them once per refresh_interval); True if groups changed."""
        now = self._clock()
        due = (
            self._last_full is None or now - self._last_full >= self.config.refresh_interval.seconds
        )
        if due:
            self._last_full = now
        return self.refresh(force=due)

    def refresh(self, *, force: bool = False) -> bool:
        before = self.groups()
        present = self.files()
        for path in list(self._groups):
            if path not in present:
                del self._groups[path]
                self._stamps.pop(path, None)
                self.errors.pop(path, None)
        for path in present:
            try:
                st = os.stat(path)
            except OSError:
                continue  # vanished between glob and stat: next poll removes it
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
            if not force and self._stamps.get(path) == stamp:
                continue
            self._stamps[path] = stamp
            self._read(path)
        return self.groups() != before

    def _read(self, path: str) -> None:
        try:
            with open(path, encoding="utf-8") as fh:
                text = fh.read()
            groups = parse_target_groups(text, path)
        except (OSError, UnicodeDecodeError) as exc:
            self._failed(path, f"{path}: cannot read: {exc}")
            return
        except FileFormatError as exc:
            self._failed(path, str(exc))
            return
        if path in self.errors:
            self._log.info("file_sd: %s is valid again (%d groups)", path, len(groups))
            del self.errors[path]
        self._groups[path] = groups

    def _failed(self, path: str, message: str) -> None:
        kept = len(self._groups.get(path, ()))
        self.errors[path] = message
        self._log.error("file_sd: %s (keeping the %d previous groups of this file)", message, kept)


class Discovery:
    """Static plus file-discovered groups of one scrape config, and their targets."""

    def __init__(
        self,
        scrape_config: ScrapeConfig,
        *,
        clock: Callable[[], float] = time.monotonic,
        logger: logging.Logger | None = None,
    ) -> None:
        self.scrape_config = scrape_config
        self._static = static_groups(scrape_config)
        self.files = [
            FileDiscovery(c, clock=clock, logger=logger) for c in scrape_config.file_sd_configs
        ]

    @property
    def errors(self) -> dict[str, str]:
        out: dict[str, str] = {}
        for f in self.files:
            out.update(f.errors)
        return out

    def poll(self) -> bool:
        """Poll every file discovery; True if any group changed."""
        changed = False
        for f in self.files:
            changed = f.poll() or changed
        return changed

    def groups(self) -> list[TargetGroup]:
        out = list(self._static)
        for f in self.files:
            out.extend(f.groups())
        return out

    def targets(self) -> tuple[list[Target], list[DroppedTarget]]:
        """All targets of all groups (duplicates removed, first wins) and the dropped ones."""
        active: dict[Target, None] = {}
        dropped: list[DroppedTarget] = []
        for g in self.groups():
            ts, ds = targets_from_group(g.labels, g.targets, self.scrape_config)
            for t in ts:
                active.setdefault(t, None)
            dropped.extend(ds)
        return list(active), dropped

    async def run(
        self,
        on_change: Callable[[list[TargetGroup]], Awaitable[None] | None],
        *,
        tick: float = 1.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        """Call ``on_change(groups)`` now and whenever a poll (every ``tick`` s) changes them.

        Runs until cancelled. File reads are small and done inline.
        """
        self.poll()
        result = on_change(self.groups())
        if result is not None:
            await result
        if not self.files:
            return
        while True:
            await sleep(tick)
            if self.poll():
                result = on_change(self.groups())
                if result is not None:
                    await result
