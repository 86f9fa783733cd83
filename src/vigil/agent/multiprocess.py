"""Metrics summed over the workers of a multi-process server, with no setup.

Under gunicorn, ``uvicorn --workers N`` or hypercorn, each worker is a process
with its own memory; a scrape reaches one of them.  prometheus_client solves
this with *multi-process mode* (each worker writes its values to memory-mapped
files in a shared directory, and the scrape sums the files), but it needs the
``PROMETHEUS_MULTIPROC_DIR`` environment variable set, and the directory
created and cleaned, by hand.  This module does all of that itself:

Detection
    :func:`setup` (run when :mod:`vigil.agent.metrics` is imported) walks the
    process's ancestors with psutil.  The outermost one whose command line
    runs ``gunicorn``, ``uvicorn``, ``hypercorn`` or ``fastapi run`` is the
    *server root*.  gunicorn always serves from forked workers, so the mode is
    on in the master (for ``--preload``) and in the workers; for the others it
    is on only in child processes of the root (``uvicorn --workers 2`` or
    ``--reload``), never in a single-process ``uvicorn app:app``.
    ``VIGIL_MULTIPROCESS=1`` forces the mode on (keyed by the server root, or
    by the current process when there is none), ``VIGIL_MULTIPROCESS=0`` forces
    it off; ``setup(enabled=...)`` does the same from code.

Shared directory
    ``<tempdir>/vigil-multiproc-<uid>/<root pid>-<root start time in ms>``, so
    every worker of one server run finds the same directory and a restarted
    server starts from zero, as Prometheus expects of counters.  Directories
    of servers that are gone are removed at setup.  ``PROMETHEUS_MULTIPROC_DIR``
    is set to it (child processes inherit it) and
    ``prometheus_client.values.ValueClass`` becomes ``MultiProcessValue`` so
    metrics created *afterwards* write to the files.  A directory the user set
    in ``PROMETHEUS_MULTIPROC_DIR`` beforehand is used as it is.

Collection
    :func:`collection_registry` gives a registry holding a
    :class:`MultiProcessAggregator`, which sums the files under a shared file
    lock.  Counters, histograms and summaries are summed; gauges follow their
    ``multiprocess_mode``.  Info and Enum metrics, custom collectors and the
    process/platform/GC collectors are per process and not in the aggregate
    (the same as prometheus_client).

Dead workers
    Before each collection (and when a worker starts), files of processes
    that no longer run are folded, under an exclusive lock, into one archive
    file per type (``counter_archive.db``, ``histogram_archive.db``,
    ``summary_archive.db``, ``gauge_<mode>_archive.db``) and deleted, so the
    number of files stays bounded while totals stay exact.  Gauges in the
    ``live*`` modes, and in the default ``all`` mode (one series per worker,
    labelled ``pid``), lose the dead worker's series; ``sum``, ``min``,
    ``max`` and ``mostrecent`` gauges keep its last value in the archive.  The
    archive files use prometheus_client's own file format, so its stock
    ``MultiProcessCollector`` still reads the directory correctly (though
    without the lock).
"""

from __future__ import annotations

import contextlib
import glob
import logging
import os
import shutil
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import psutil
from prometheus_client import REGISTRY, CollectorRegistry, values
from prometheus_client.metrics_core import Metric
from prometheus_client.mmap_dict import MmapedDict
from prometheus_client.multiprocess import MultiProcessCollector

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows has no prefork servers
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "ENV_VAR",
    "MultiProcessAggregator",
    "ServerInfo",
    "cleanup_dead_workers",
    "collection_registry",
    "detect_server",
    "directory",
    "is_active",
    "mark_process_dead",
    "server_kind",
    "setup",
]

#: Environment variable overriding detection: 1/true/yes/on or 0/false/no/off.
ENV_VAR = "VIGIL_MULTIPROCESS"
PROMETHEUS_ENV_VAR = "PROMETHEUS_MULTIPROC_DIR"

_LOGGER = logging.getLogger("vigil.agent")

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"0", "false", "no", "off"})

# Server commands, and whether the root process itself serves (True for
# prefork servers whose master imports the app with --preload).
_SERVERS: dict[str, bool] = {"gunicorn": True, "uvicorn": False, "hypercorn": False}

# prometheus_client's multi-process helpers have no annotations.
_multi_process_value: Callable[[], Any] = values.MultiProcessValue
_mmaped_dict: Callable[[str], Any] = MmapedDict
_read_file: Callable[[str], Iterable[tuple[str, float, float, int]]] = (
    MmapedDict.read_all_values_from_file
)
_merge: Callable[[list[str], bool], Iterable[Metric]] = MultiProcessCollector.merge

_ARCHIVE_PID = "archive"
_HEADER_SIZE = 8  # "used" (4 bytes) and padding at the start of every file
_LOCK_NAME = ".lock"

# How the values of a dead worker fold into the archive, by file prefix.
_SUMMED_PREFIXES = frozenset({"counter", "histogram", "summary", "gauge_sum"})
_DROPPED_GAUGE_MODES = frozenset(
    {"all", "liveall", "livesum", "livemin", "livemax", "livemostrecent"}
)


@dataclass(frozen=True)
class ServerInfo:
    """The multi-process server this process runs under."""

    kind: str  # "gunicorn", "uvicorn", "hypercorn"
    root_pid: int
    root_create_time: float
    is_root: bool  # this process is the server's root process

    @property
    def serves_from_workers(self) -> bool:
        """Whether metrics of this process must be shared with sibling processes."""
        return _SERVERS[self.kind] or not self.is_root


def server_kind(cmdline: Sequence[str]) -> str | None:
    """The server a command line runs (``"gunicorn"``, ``"uvicorn"``, ...), or ``None``.

    Understands ``gunicorn ...``, ``/venv/bin/uvicorn ...``,
    ``python /venv/bin/gunicorn ...``, ``python -m uvicorn ...``,
    ``fastapi run ...`` (uvicorn) and gunicorn's setproctitle titles
    (``gunicorn: worker [app]``).  Arguments are never searched, so
    ``pytest test_gunicorn.py`` is not a server.
    """
    if not cmdline:
        return None
    first = cmdline[0]
    if first.startswith("gunicorn:"):
        return "gunicorn"
    args = list(cmdline)
    program = _program_name(args[0])
    if program.startswith("python") or program == "pypy3" or program == "pypy":
        rest = args[1:]
        index = 0
        while index < len(rest):
            arg = rest[index]
            if arg == "-m" and index + 1 < len(rest):
                return _kind_of(rest[index + 1].split(".")[0], rest[index + 2 :])
            if arg.startswith("-m") and len(arg) > 2:
                return _kind_of(arg[2:].split(".")[0], rest[index + 1 :])
            if arg in ("-c",):
                return None
            if arg in ("-W", "-X"):
                index += 2
                continue
            if arg.startswith("-"):
                index += 1
                continue
            return _kind_of(_program_name(arg), rest[index + 1 :])
        return None
    return _kind_of(program, args[1:])


def _program_name(path: str) -> str:
    name = os.path.basename(path)
    for suffix in (".exe", ".py"):
        if name.endswith(suffix):
            name = name[: -len(suffix)]
    return name


def _kind_of(program: str, rest: Sequence[str]) -> str | None:
    if program in _SERVERS:
        return program
    if program == "fastapi" and rest and rest[0] in ("run", "dev"):
        return "uvicorn"
    return None


def detect_server(process: psutil.Process | None = None) -> ServerInfo | None:
    """Find the outermost server process among *process* (default: this one) and its ancestors."""
    proc = process if process is not None else psutil.Process()
    chain = [proc]
    with contextlib.suppress(psutil.Error):
        chain.extend(proc.parents())
    root: tuple[psutil.Process, str] | None = None
    for candidate in chain:
        try:
            kind = server_kind(candidate.cmdline())
        except psutil.Error:
            continue
        if kind is not None:
            root = (candidate, kind)  # keep going: the outermost one wins
    if root is None:
        return None
    root_proc, kind = root
    try:
        create_time = root_proc.create_time()
    except psutil.Error:
        return None
    return ServerInfo(kind, root_proc.pid, create_time, root_proc.pid == proc.pid)


# --------------------------------------------------------------------------- state


@dataclass
class _State:
    active: bool = False
    path: str | None = None
    # What setup() replaced, to restore on setup(False).
    previous_value_class: Any = None
    previous_env: str | None = None
    changed_env: bool = False


_state = _State()
_state_lock = threading.Lock()


def is_active() -> bool:
    """Whether this process shares its metrics with the other workers."""
    return _state.active


def directory() -> str | None:
    """The shared directory of multi-process mode, when active."""
    return _state.path if _state.active else None


def _parse_env(raw: str | None) -> bool | None:
    if raw is None or not raw.strip():
        return None
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError(
        f"{ENV_VAR}={raw!r} is not valid: use 1/true/yes/on to force multi-process metrics on, "
        f"0/false/no/off to force them off, or leave it unset to detect the server"
    )


def base_directory() -> str:
    """The parent of every server's shared directory (private to this user)."""
    uid = os.getuid() if hasattr(os, "getuid") else 0
    return os.path.join(tempfile.gettempdir(), f"vigil-multiproc-{uid}")


def _private_dir(path: str) -> str:
    """Create *path* (mode 0700) or check that an existing one is ours and not a link."""
    os.makedirs(path, mode=0o700, exist_ok=True)
    info = os.lstat(path)
    if os.path.islink(path) or (hasattr(os, "getuid") and info.st_uid != os.getuid()):
        raise PermissionError(
            f"refusing to use {path} for multi-process metrics: it is a symlink or owned by "
            f"another user (uid {info.st_uid})"
        )
    return path


def _server_directory(root_pid: int, root_create_time: float) -> str:
    return os.path.join(base_directory(), f"{root_pid}-{int(root_create_time * 1000)}")


def _remove_stale_directories(base: str, keep: str) -> None:
    """Remove shared directories of server runs that have ended."""
    try:
        names = os.listdir(base)
    except OSError:
        return
    for name in names:
        full = os.path.join(base, name)
        if full == keep:
            continue
        pid_text, sep, millis_text = name.partition("-")
        if not sep or not pid_text.isdigit() or not millis_text.isdigit():
            continue
        try:
            alive = int(psutil.Process(int(pid_text)).create_time() * 1000) == int(millis_text)
        except psutil.Error:
            alive = False
        if not alive:
            shutil.rmtree(full, ignore_errors=True)


def setup(enabled: bool | None = None) -> bool:
    """Turn multi-process mode on or off; return whether it is active.

    ``enabled=None`` reads ``VIGIL_MULTIPROCESS`` and, when it is unset,
    detects the server.  Only metrics created after the mode is turned on are
    shared between workers.  ``setup(False)`` restores prometheus_client's
    previous value class and ``PROMETHEUS_MULTIPROC_DIR``.
    """
    with _state_lock:
        if enabled is None:
            enabled = _parse_env(os.environ.get(ENV_VAR))
        if enabled is False:
            _deactivate()
            return False
        if _state.active:
            return True
        user_dir = os.environ.get(PROMETHEUS_ENV_VAR)
        if user_dir:
            path = user_dir
        else:
            server = detect_server()
            if server is None:
                if not enabled:
                    return False
                me = psutil.Process()
                path = _server_directory(me.pid, me.create_time())
            elif not (server.serves_from_workers or enabled):
                return False
            else:
                path = _server_directory(server.root_pid, server.root_create_time)
            _private_dir(base_directory())
            _remove_stale_directories(base_directory(), keep=path)
        _private_dir(path)
        _activate(path, set_env=not user_dir)
    try:
        cleanup_dead_workers(path)
    except OSError as exc:  # never fail an app's start-up over housekeeping
        _LOGGER.warning("could not clean up dead workers' metric files in %s: %s", path, exc)
    return True


def _activate(path: str, *, set_env: bool) -> None:
    _warn_about_earlier_metrics()
    _state.previous_value_class = values.ValueClass
    _state.previous_env = os.environ.get(PROMETHEUS_ENV_VAR)
    _state.changed_env = set_env
    if set_env:
        os.environ[PROMETHEUS_ENV_VAR] = path
    if not getattr(values.ValueClass, "_multiprocess", False):
        values.ValueClass = _multi_process_value()
    _state.path = path
    _state.active = True
    _LOGGER.debug("multi-process metrics on, shared directory %s", path)


def _deactivate() -> None:
    if not _state.active:
        return
    values.ValueClass = _state.previous_value_class
    if _state.changed_env:
        if _state.previous_env is None:
            os.environ.pop(PROMETHEUS_ENV_VAR, None)
        else:
            os.environ[PROMETHEUS_ENV_VAR] = _state.previous_env
    _state.active = False
    _state.path = None
    _state.previous_value_class = None
    _state.previous_env = None
    _state.changed_env = False


def _warn_about_earlier_metrics() -> None:
    """Metrics created before the switch stay per process; say which, once."""
    collectors: dict[Any, Any] = getattr(REGISTRY, "_collector_to_names", {})
    early = sorted(
        str(getattr(c, "_name", ""))
        for c in list(collectors)
        if hasattr(c, "_metric_init") and not getattr(c, "_labelvalues", ())
    )
    if early:
        _LOGGER.warning(
            "metrics created before multi-process mode was enabled are per worker and not in "
            "the /metrics aggregate: %s; import vigil before creating them",
            ", ".join(early),
        )


def collection_registry() -> CollectorRegistry:
    """The registry a scrape should read.

    When multi-process mode is active: a registry holding a
    :class:`MultiProcessAggregator` over the shared directory (the sum over
    all workers); otherwise the process default ``REGISTRY``.
    """
    path = directory()
    if path is None:
        return REGISTRY
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MultiProcessAggregator(path))
    return registry


# --------------------------------------------------------------------------- files


@contextlib.contextmanager
def _locked(path: str, *, exclusive: bool) -> Iterator[None]:
    """Hold the directory's lock file, shared (collection) or exclusive (cleanup)."""
    if fcntl is None:  # pragma: no cover
        yield
        return
    fd = os.open(os.path.join(path, _LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        yield
    finally:
        os.close(fd)  # closing releases the lock


@dataclass(frozen=True)
class _File:
    path: str
    prefix: str  # "counter", "histogram", "summary" or "gauge_<mode>"
    owner: str  # a pid, or "archive"


def _files(path: str) -> list[_File]:
    found = []
    for full in glob.glob(os.path.join(path, "*.db")):
        stem = os.path.basename(full)[:-3]
        prefix, sep, owner = stem.rpartition("_")
        if not sep or not prefix:
            continue
        found.append(_File(full, prefix, owner))
    return found


def _is_alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _dead_files(path: str, only_pid: int | None = None) -> list[_File]:
    dead: list[_File] = []
    liveness: dict[int, bool] = {}
    for f in _files(path):
        if not f.owner.isdigit():
            continue
        pid = int(f.owner)
        if only_pid is not None:
            if pid == only_pid:
                dead.append(f)
            continue
        if pid not in liveness:
            liveness[pid] = _is_alive(pid)
        if not liveness[pid]:
            dead.append(f)
    return dead


def cleanup_dead_workers(path: str | None = None) -> list[int]:
    """Fold the files of processes that are gone into the archive; return their pids.

    *path* defaults to the active shared directory.  Safe to call from any
    number of processes at once: the work happens under the exclusive lock.
    """
    path = path if path is not None else directory()
    if path is None or not os.path.isdir(path):
        return []
    if not _dead_files(path):  # the common case takes no lock
        return []
    with _locked(path, exclusive=True):
        dead = _dead_files(path)  # again: another process may have done it
        _absorb(path, dead)
    return sorted({int(f.owner) for f in dead})


def mark_process_dead(pid: int, path: str | None = None) -> None:
    """Fold the files of worker *pid* into the archive now (e.g. from gunicorn's ``child_exit``).

    Not needed with vigil, which finds dead workers itself, but it makes the
    cleanup immediate.  Do not call it for a process that is still running.
    """
    path = path if path is not None else directory()
    if path is None or not os.path.isdir(path):
        return
    with _locked(path, exclusive=True):
        _absorb(path, _dead_files(path, only_pid=pid))


def _absorb(path: str, dead: Iterable[_File]) -> None:
    """Merge *dead* files into the archives of their types, then delete them (lock held)."""
    by_prefix: dict[str, list[_File]] = {}
    for f in dead:
        by_prefix.setdefault(f.prefix, []).append(f)
    for prefix, files in sorted(by_prefix.items()):
        mode = prefix[len("gauge_") :] if prefix.startswith("gauge_") else None
        if mode is None or mode not in _DROPPED_GAUGE_MODES:
            archive = os.path.join(path, f"{prefix}_{_ARCHIVE_PID}.db")
            merged = _read(archive) if os.path.exists(archive) else {}
            for f in files:
                for key, (value, timestamp) in _read(f.path).items():
                    merged[key] = _combine(prefix, merged.get(key), (value, timestamp))
            _write_atomically(archive, merged)
        # The window between the archive's replace and these unlinks is the only
        # one in which a crash could count a dead worker twice.
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(f.path)


def _has_header(filename: str) -> bool:
    """False for a file its process is still creating (or that is gone).

    prometheus_client creates a file empty and then sizes it; in between, a
    reader would fail on the missing header.  Such a file holds no values yet.
    """
    try:
        return os.path.getsize(filename) >= _HEADER_SIZE
    except FileNotFoundError:
        return False


def _read(filename: str) -> dict[str, tuple[float, float]]:
    if not _has_header(filename):
        return {}
    return {key: (value, timestamp) for key, value, timestamp, _ in _read_file(filename)}


def _combine(
    prefix: str, old: tuple[float, float] | None, new: tuple[float, float]
) -> tuple[float, float]:
    if old is None:
        return new
    if prefix in _SUMMED_PREFIXES:
        return (old[0] + new[0], max(old[1], new[1]))
    if prefix == "gauge_min":
        return old if old[0] <= new[0] else new
    if prefix == "gauge_max":
        return old if old[0] >= new[0] else new
    if prefix == "gauge_mostrecent":
        return old if old[1] >= new[1] else new
    return (old[0] + new[0], max(old[1], new[1]))  # pragma: no cover - unknown future types


def _write_atomically(filename: str, entries: dict[str, tuple[float, float]]) -> None:
    directory_ = os.path.dirname(filename)
    fd, tmp = tempfile.mkstemp(dir=directory_, prefix=".archive-", suffix=".tmp")
    os.close(fd)
    os.unlink(tmp)  # MmapedDict wants to create and size the file itself
    try:
        mmaped = _mmaped_dict(tmp)
        try:
            for key, (value, timestamp) in entries.items():
                mmaped.write_value(key, value, timestamp)
        finally:
            mmaped.close()
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, filename)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


class MultiProcessAggregator:
    """A collector summing the metric files of every worker in *path*.

    Dead workers' files are archived first; the files are then read under
    the directory's shared lock, so a concurrent cleanup never makes a scrape
    count a worker twice or not at all.
    """

    def __init__(self, path: str) -> None:
        if not os.path.isdir(path):
            raise ValueError(f"multi-process metrics directory {path!r} does not exist")
        self._path = path

    @property
    def path(self) -> str:
        return self._path

    def collect(self) -> Iterable[Metric]:
        try:
            cleanup_dead_workers(self._path)
        except OSError as exc:
            _LOGGER.warning(
                "could not clean up dead workers' metric files in %s: %s", self._path, exc
            )
        with _locked(self._path, exclusive=False):
            files = [f.path for f in _files(self._path) if _has_header(f.path)]
            return list(_merge(files, True))
