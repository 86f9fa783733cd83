"""The embedded TSDB: a head (memory + WAL) in front of immutable blocks, with retention.

``TSDB.open(path)`` replays the WAL (checkpoint first, then the segments after
it), opens the blocks, and from then on:

* ``appender()`` gives one transaction; ``commit()`` returns once the samples
  are in the WAL *and fsynced* (group commit shares fsyncs between threads);
* ``querier(mint, maxt)`` merges the blocks overlapping the range with the head;
* ``compact()`` (run by a background thread unless ``background=False``)
  writes the oldest ``block_duration`` of the head as a block once the head
  spans more than 1.5x that, truncates the WAL behind a checkpoint, merges
  small blocks into bigger ones, and applies retention by time and size.

Layout of the data directory::

    lock                 held (flock) while a process has the store open
    wal/00000012         WAL segments
    wal/checkpoint.00000012
    01HV...(ULID)/       blocks (meta.json, index, chunks): see block.py
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import itertools
import logging
import os
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vigil.model.labels import Labels
from vigil.model.value import now_ms
from vigil.storage.interface import AppendError, ImportStats, Series, StorageError
from vigil.tsdb.appender import HeadAppender
from vigil.tsdb.block import Block, BlockMeta, remove_tmp_dirs, write_block
from vigil.tsdb.compact import compact as compact_blocks
from vigil.tsdb.compact import compaction_ranges, plan, superseded
from vigil.tsdb.head import DEAD_T, EMPTY_T, Head
from vigil.tsdb.pages import Cut, decode_cut, encode_cut
from vigil.tsdb.querier import TSDBQuerier
from vigil.tsdb.wal import (
    REC_CUT,
    REC_SAMPLES,
    REC_SERIES,
    WAL,
    Record,
    WriteFn,
    decode_samples,
    decode_series,
    encode_samples,
    encode_series,
    frame,
    list_checkpoints,
    list_segments,
    read_checkpoint,
    read_records,
    write_checkpoint,
)

__all__ = ["TSDB", "TSDBStats"]

log = logging.getLogger("vigil.tsdb")

DAY_MS = 86_400_000
HOUR_MS = 3_600_000
IMPORT_QUIET_S = 20.0
"""Seconds after a bulk import before the background thread merges blocks again."""


MMAP_THRESHOLD = 4 << 20
"""glibc's mmap threshold, fixed (see :func:`_steady_malloc`)."""
TRIM_THRESHOLD = 16 << 20
"""Free bytes at the top of a glibc heap kept rather than returned (see :func:`_steady_malloc`)."""


def _steady_malloc() -> None:
    """Fix glibc's mmap and trim thresholds (4 MiB, 16 MiB) for the whole process.

    Left alone, glibc raises the mmap threshold each time a large mmapped block is
    freed, up to 32 MiB, so after the first multi-megabyte NumPy temporaries (cutting
    the head buffer, writing a block) they come from the heap instead, interleaved with
    the long-lived small page objects; freed, they cannot be returned and the heap only
    grows (measured on 5,000 series x 3 h: 7.0 KB of RSS per series against 3.1 KB with
    the threshold fixed). Fixing it at glibc's default 128 KiB, as this did first, cost
    queries instead: every array past 16,000 elements was a fresh mapping, page-faulted
    in and unmapped again, 10x slower per NumPy operation (bench/RESULTS.md, H7 and
    H7b). 4 MiB keeps a query's temporaries (rows of a few hundred series x steps) on
    the heap and still maps the head's and the block writer's big buffers; the trim
    threshold keeps up to 16 MiB of freed heap top for the next query instead of
    returning and faulting it in again. Process-wide, idempotent, and a no-op where
    there is no glibc.
    """
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3
    mallopt(m_mmap_threshold, MMAP_THRESHOLD)
    mallopt(m_trim_threshold, TRIM_THRESHOLD)


class _Throttle:
    """Lets a message through at most once per interval (VictoriaMetrics' log throttler)."""

    def __init__(self, clock: Callable[[], int], interval_ms: int) -> None:
        self._clock = clock
        self._interval = interval_ms
        self._next = -(2**63)
        self.suppressed = 0

    def allow(self) -> bool:
        now = self._clock()
        if now >= self._next:
            self._next = now + self._interval
            return True
        self.suppressed += 1
        return False


@dataclass(frozen=True, slots=True)
class TSDBStats:
    """Figures for self-monitoring (the server's /metrics)."""

    head_series: int
    head_samples_appended: int
    head_min_time: int | None
    head_max_time: int | None
    head_chunk_bytes: int
    rejected: dict[str, int] = field(default_factory=dict)
    wal_bytes: int = 0
    wal_write_errors: int = 0
    head_compactions: int = 0
    block_compactions: int = 0
    blocks: int = 0
    block_bytes: int = 0
    bytes_on_disk: int = 0
    series_created: int = 0
    series_removed: int = 0


class TSDB:
    """Appendable and Queryable over a data directory. Build it with :meth:`open`."""

    def __init__(
        self,
        path: Path,
        *,
        retention_ms: int | None,
        retention_bytes: int | None,
        block_duration_ms: int,
        clock: Callable[[], int],
    ) -> None:
        self.path = path
        self.retention_ms = retention_ms
        self.retention_bytes = retention_bytes
        self.block_duration_ms = block_duration_ms
        self._clock = clock
        self.head = Head(on_write_error=self._on_write_error)
        self._blocks: tuple[Block, ...] = ()
        self._wal: WAL | None = None
        self._lock_fd = -1
        self._compact_lock = threading.Lock()
        self._write_log = _Throttle(clock, 10_000)
        self._bg: threading.Thread | None = None
        self._stop = threading.Event()
        self._wake = threading.Event()
        self.head_compactions = 0
        self.block_compactions = 0
        self.imported_blocks = 0
        self._import_lock = threading.Lock()
        self._last_import = -float("inf")  # monotonic time the last bulk import ended
        self._closed = False

    # -- opening --------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        retention_ms: int | None = 15 * DAY_MS,
        retention_bytes: int | None = None,
        block_duration_ms: int = 2 * HOUR_MS,
        clock: Callable[[], int] = now_ms,
        background: bool = True,
        compact_interval_s: float = 60.0,
        wal_segment_size: int = 64 << 20,
        wal_write: WriteFn = os.write,
    ) -> TSDB:
        """Open (creating it if needed) the store in *path*; replays the WAL.

        *clock* returns milliseconds (retention, log throttling). With
        *background* a thread runs :meth:`compact` every *compact_interval_s*
        and whenever the head grows past 1.5 block durations. *wal_write*
        replaces ``os.write`` for the WAL (fault injection in tests).
        """
        if block_duration_ms <= 0:
            raise ValueError(f"block_duration_ms must be positive, got {block_duration_ms}")
        started = time.monotonic()
        _steady_malloc()
        root = Path(path)
        log.info("opening storage at %s", root)
        db = cls(
            root,
            retention_ms=retention_ms,
            retention_bytes=retention_bytes,
            block_duration_ms=block_duration_ms,
            clock=clock,
        )
        try:
            root.mkdir(parents=True, exist_ok=True)
            db._take_lock()
            wal_dir = root / "wal"
            wal_dir.mkdir(exist_ok=True)
            db._open_blocks()
            if db._blocks:
                db.head.min_valid_t = max(b.meta.maxt for b in db._blocks)
            first = db._replay(wal_dir)
            segs = list_segments(wal_dir)
            start = max([first, *(n + 1 for n, _ in segs)])
            db._wal = WAL(wal_dir, start, segment_size=wal_segment_size, write=wal_write)
            db.head.wal = db._wal
            db.head.compact_hook = db._maybe_wake
            if background:
                db.head.encode_hook = db._maybe_wake
            db.head.compact_span = block_duration_ms * 3 // 2
        except BaseException:
            db._release_lock()
            raise
        log.info(
            "opened storage at %s in %.3f s: %d series in the head, %d blocks",
            root,
            time.monotonic() - started,
            db.head.series_count(),
            len(db._blocks),
        )
        if background:
            db._bg = threading.Thread(
                target=db._background, args=(compact_interval_s,), name="vigil-tsdb", daemon=True
            )
            db._bg.start()
        return db

    def _take_lock(self) -> None:
        fd = os.open(self.path / "lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            raise StorageError(
                f"{self.path}: the data directory is in use by another process (lock held)"
            ) from None
        self._lock_fd = fd

    def _release_lock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    def _open_blocks(self) -> None:
        for p in remove_tmp_dirs(self.path):
            log.warning("removed unfinished block directory %s", p)
        metas: list[BlockMeta] = []
        for p in sorted(self.path.iterdir()):
            if p.is_dir() and (p / "meta.json").exists():
                metas.append(BlockMeta.read(p))
        gone = superseded(metas)
        blocks = []
        for m in metas:
            if m.ulid in gone:
                log.info("removing block %s: already merged into a newer block", m.path)
                shutil.rmtree(m.path, ignore_errors=True)
                continue
            blocks.append(Block.open(m.path))
        self._blocks = tuple(sorted(blocks, key=lambda b: (b.meta.mint, b.meta.ulid)))

    def _replay(self, wal_dir: Path) -> int:
        """Load the newest checkpoint and the segments after it; returns the first segment."""
        head = self.head
        alias: dict[int, int] = {}
        first = 0
        checkpoints = list_checkpoints(wal_dir)
        done = [(n, p) for n, p in checkpoints if not p.name.endswith(".tmp")]
        for _, p in checkpoints:
            if p.name.endswith(".tmp"):
                p.unlink()
        dropped = 0
        records = 0
        if done:
            first, path = done[-1]
            for rec in read_checkpoint(path):
                dropped += self._replay_record(rec, alias)
                records += 1
        for rec in read_records(wal_dir, first):
            dropped += self._replay_record(rec, alias)
            records += 1
        # Leftovers of an interrupted truncation.
        for n, p in list_segments(wal_dir):
            if n < first:
                p.unlink()
        for _, p in done[:-1]:
            p.unlink()
        if records:
            log.info(
                "replayed %d WAL records: %d series, %d samples (%d already stored or too old)",
                records,
                head.series_count(),
                head.samples_appended,
                dropped,
            )
        return first

    def _replay_record(self, rec: Record, alias: dict[int, int]) -> int:
        head = self.head
        if rec.type == REC_SERIES:
            for ref, labels in decode_series(rec.payload):
                got = head.create_with_ref(ref, labels)
                if got != ref:
                    alias[ref] = got
            return 0
        if rec.type == REC_SAMPLES:
            refs, ts, vs = decode_samples(rec.payload)
            return head.replay_samples(refs, ts, vs, alias)
        if rec.type == REC_CUT:
            cut = decode_cut(rec.payload)
            if alias:
                refs = np.array([alias.get(r, r) for r in cut.refs.tolist()], dtype=np.int64)
                cut = Cut(cut.mint, cut.maxt, refs, cut.starts, cut.page_series, cut.pages)
            head.add_cut(cut)
        return 0

    # -- the storage seams ------------------------------------------------------------

    def appender(self) -> HeadAppender:
        if self._closed:
            raise StorageError(f"{self.path}: the store is closed")
        return self.head.appender()

    def querier(self, mint: int, maxt: int) -> TSDBQuerier:
        return TSDBQuerier(self, mint, maxt)

    @property
    def blocks(self) -> tuple[Block, ...]:
        return self._blocks

    # -- bulk import (backfill) ---------------------------------------------------------

    def import_series(self, series: Sequence[Series]) -> ImportStats:
        """Store whole series at once (``BulkImportable``); all or nothing, durable on return.

        The rule: samples older than the *cutoff* are written straight into blocks, one
        per ``block_duration`` range they touch (aligned as the head's blocks are), each
        fsynced, then registered so queriers see them at once; where they overlap other
        blocks, compaction merges them later (queriers merge them meanwhile), the
        imported value winning at an equal timestamp. Samples at or after the cutoff go
        through one head transaction with the head's rules (out of order, duplicate:
        :class:`AppendError`, nothing stored).

        The cutoff is the start of the ``block_duration`` range holding the head's
        oldest sample (or the current time when the head is empty), and never below
        the head's lower bound. When some samples fall before it, the head's lower
        bound is raised to the cutoff first, so that no sample the head accepts
        later falls behind a block (WAL replay would drop it). A crash during an
        import may leave some of its blocks in place (the import was not
        acknowledged; importing it again is idempotent).
        """
        if self._closed:
            raise StorageError(f"{self.path}: the store is closed")
        bd = self.block_duration_ms
        head = self.head
        t0 = time.monotonic()
        tmin = min((int(s.timestamps[0]) for s in series if len(s)), default=None)
        with self._import_lock:
            with head.lock:
                now = self._clock()
                lo = head.mint if head.mint != DEAD_T else now
                cutoff = max((min(lo, now) // bd) * bd, head.min_valid_t)
                if tmin is not None and tmin < cutoff:
                    # From now on the head refuses what belongs in the blocks written below.
                    head.min_valid_t = cutoff
            ranges: dict[int, list[tuple[Labels, np.ndarray, np.ndarray]]] = {}
            recent: list[Series] = []
            seen: set[Labels] = set()
            samples = 0
            for s in series:
                ts, vs = s.timestamps, s.values
                _check_import(s)
                if s.labels in seen:
                    raise ValueError(f"series {s.labels} is given twice")
                seen.add(s.labels)
                n = len(ts)
                if not n:
                    continue
                samples += n
                k = int(np.searchsorted(ts, cutoff, side="left"))
                if k < n:
                    recent.append(Series(s.labels, ts[k:], vs[k:]))
                if not k:
                    continue
                first = int(ts[0]) // bd
                last = int(ts[k - 1]) // bd
                if first == last:
                    ranges.setdefault(first, []).append((s.labels, ts[:k], vs[:k]))
                    continue
                bounds = np.arange(first + 1, last + 1, dtype=np.int64) * bd
                cuts = [0, *np.searchsorted(ts[:k], bounds, side="left").tolist(), k]
                for r, (a, b) in enumerate(itertools.pairwise(cuts), start=first):
                    if b > a:
                        ranges.setdefault(r, []).append((s.labels, ts[a:b], vs[a:b]))
            app = head.appender() if recent else None
            head_samples = 0
            try:
                if app is not None:
                    for s in recent:
                        ref = 0
                        try:
                            for t, v in zip(s.timestamps.tolist(), s.values.tolist(), strict=True):
                                ref = app.append(ref, s.labels if not ref else None, t, v)
                        except AppendError as exc:
                            raise type(exc)(f"series {s.labels}: {exc}") from None
                        head_samples += len(s)
                written: list[Block] = []
                try:
                    # Ids newer than every block's: readers and compaction let the block
                    # with the greater id win at equal timestamps.
                    stamp = max(self._clock(), self._newest_block_ms() + 1) if ranges else 0
                    for r in sorted(ranges):
                        meta = write_block(
                            self.path, ranges[r], mint=r * bd, maxt=(r + 1) * bd, now_ms=stamp
                        )
                        written.append(Block.open(meta.path))
                    if written:
                        with head.lock:
                            head.min_valid_t = max(
                                head.min_valid_t, max(b.meta.maxt for b in written)
                            )
                    if app is not None:
                        app.commit()
                        app = None
                except BaseException:
                    for b in written:
                        self._delete_block(b)
                    raise
            finally:
                if app is not None:
                    app.rollback()
            if written:
                with head.lock:
                    self._blocks = tuple(
                        sorted((*self._blocks, *written), key=lambda b: (b.meta.mint, b.meta.ulid))
                    )
                self.imported_blocks += len(written)
            self._last_import = time.monotonic()
        log.info(
            "imported %d samples of %d series in %.3f s: %d into %d blocks, %d into the head",
            samples,
            len(seen),
            time.monotonic() - t0,
            samples - head_samples,
            len(written),
            head_samples,
        )
        return ImportStats(
            series=len(seen), samples=samples, blocks=len(written), head_samples=head_samples
        )

    def _newest_block_ms(self) -> int:
        return max((_ulid_ms(b.meta.ulid) for b in self._blocks), default=0)

    # -- writes failing ------------------------------------------------------------

    def _on_write_error(self, exc: StorageError) -> None:
        if self._write_log.allow():
            suppressed = self._write_log.suppressed
            self._write_log.suppressed = 0
            log.error(
                "cannot write samples: %s (%d similar errors suppressed); reads keep working, "
                "writes resume when the disk has room",
                exc,
                suppressed,
            )

    # -- compaction and retention -------------------------------------------------------

    def _maybe_wake(self) -> None:
        self._wake.set()

    def _background(self, interval_s: float) -> None:
        throttle = _Throttle(self._clock, 60_000)
        while not self._stop.is_set():
            self._wake.wait(interval_s)
            self._wake.clear()
            if self._stop.is_set():
                return
            try:
                self.head.encode_frozen()
                quiet = time.monotonic() - self._last_import >= IMPORT_QUIET_S
                self.compact(merge_blocks=quiet)
            except Exception:
                if throttle.allow():
                    log.exception("compaction failed in %s (will retry)", self.path)

    def compact(self, *, merge_blocks: bool = True) -> bool:
        """Write head blocks, merge blocks, apply retention; returns whether anything changed.

        The background thread passes ``merge_blocks=False`` while a bulk import is under
        way (within :data:`IMPORT_QUIET_S` of the last one), so that it merges the
        imported blocks once at the end rather than again after every request.
        """
        with self._compact_lock:
            changed = False
            self.head.encode_frozen()
            while self._compact_head_once():
                changed = True
            while merge_blocks and self._compact_blocks_once():
                changed = True
            changed |= self._apply_retention()
            return changed

    def _compact_head_once(self) -> bool:
        head = self.head
        bd = self.block_duration_ms
        with head.lock:
            if head.maxt == EMPTY_T or head.mint == DEAD_T:
                return False
            if head.maxt - head.mint <= bd * 3 // 2:
                return False
            start = (head.mint // bd) * bd
            end = start + bd
            head.min_valid_t = max(head.min_valid_t, end)
            head.force_cut_locked()
            cuts = head.cuts
        t0 = time.monotonic()
        meta = write_block(
            self.path, head.iter_range(cuts, start, end), mint=start, maxt=end, now_ms=self._clock()
        )
        block = Block.open(meta.path)
        new_cuts = head.truncated_cuts(cuts, end)
        wal = self._wal
        assert wal is not None
        with head.lock:
            removed = head.truncate(cuts, new_cuts, end)
            self._blocks = tuple(
                sorted((*self._blocks, block), key=lambda b: (b.meta.mint, b.meta.ulid))
            )
            segment = wal.rotate()
            series = head.live_labels()
            snap_cuts = head.cuts
            snap = head.snapshot_locked()
        self._checkpoint(segment, series, snap_cuts, snap)
        self.head_compactions += 1
        log.info(
            "compacted head [%d, %d) into block %s: %d series, %d samples, %d bytes in %.3f s; "
            "%d series left the head",
            start,
            end,
            meta.ulid,
            meta.num_series,
            meta.num_samples,
            meta.size_bytes,
            time.monotonic() - t0,
            removed,
        )
        return True

    def _checkpoint(
        self,
        segment: int,
        series: list[tuple[int, Labels]],
        cuts: tuple[Cut, ...],
        buf: tuple[np.ndarray, np.ndarray, np.ndarray],
    ) -> None:
        wal_dir = self.path / "wal"

        def records() -> Iterator[bytes]:
            for i in range(0, len(series), 10_000):
                yield frame(REC_SERIES, encode_series(series[i : i + 10_000]))
            for cut in cuts:
                yield frame(REC_CUT, encode_cut(cut))
            refs, ts, vs = buf
            for i in range(0, len(refs), 1 << 20):
                sl = slice(i, i + (1 << 20))
                yield frame(REC_SAMPLES, encode_samples(refs[sl], ts[sl], vs[sl]))

        write_checkpoint(wal_dir, segment, records())
        for n, p in list_segments(wal_dir):
            if n < segment:
                p.unlink()
        for n, p in list_checkpoints(wal_dir):
            if n < segment:
                p.unlink()

    def _compact_blocks_once(self) -> bool:
        blocks = self._blocks
        group = plan([b.meta for b in blocks], self._ranges())
        if not group:
            return False
        ids = {m.ulid for m in group}
        parts = [b for b in blocks if b.meta.ulid in ids]
        meta = compact_blocks(self.path, parts, now_ms=self._clock())
        merged = Block.open(meta.path)
        with self.head.lock:
            rest = [b for b in self._blocks if b.meta.ulid not in ids]
            self._blocks = tuple(sorted((*rest, merged), key=lambda b: (b.meta.mint, b.meta.ulid)))
        for b in parts:
            self._delete_block(b)
        self.block_compactions += 1
        log.info("merged %d blocks into %s [%d, %d)", len(parts), meta.ulid, meta.mint, meta.maxt)
        return True

    def _ranges(self) -> list[int]:
        """Merge windows, none longer than a tenth of the retention (as Prometheus), so
        that retention, which deletes whole blocks, stays close to what was asked."""
        ranges = compaction_ranges(self.block_duration_ms)
        if self.retention_ms is not None:
            ranges = [
                r for r in ranges if r <= max(self.block_duration_ms, self.retention_ms // 10)
            ]
        return ranges

    def _delete_block(self, block: Block) -> None:
        block.close()
        path = block.meta.path
        doomed = path.with_name(path.name + ".tmp")  # cleared at start if we crash mid-way
        with contextlib.suppress(FileNotFoundError):
            os.rename(path, doomed)
        shutil.rmtree(doomed, ignore_errors=True)

    def _apply_retention(self) -> bool:
        blocks = list(self._blocks)
        doomed: list[Block] = []
        if self.retention_ms is not None:
            limit = self._clock() - self.retention_ms
            doomed += [b for b in blocks if b.meta.maxt <= limit]
        if self.retention_bytes is not None:
            left = [b for b in blocks if b not in doomed]
            total = sum(b.meta.size_bytes for b in left) + (
                self._wal.size_bytes() if self._wal else 0
            )
            while left and total > self.retention_bytes:
                b = left.pop(0)
                doomed.append(b)
                total -= b.meta.size_bytes
        if not doomed:
            return False
        with self.head.lock:
            self._blocks = tuple(b for b in self._blocks if b not in doomed)
        for b in doomed:
            log.info(
                "retention: deleting block %s [%d, %d), %d bytes",
                b.meta.ulid,
                b.meta.mint,
                b.meta.maxt,
                b.meta.size_bytes,
            )
            self._delete_block(b)
        return True

    # -- the rest ----------------------------------------------------------------------

    def stats(self) -> TSDBStats:
        head = self.head
        blocks = self._blocks
        wal_bytes = self._wal.size_bytes() if self._wal is not None else 0
        block_bytes = sum(b.meta.size_bytes for b in blocks)
        empty = head.maxt == EMPTY_T
        return TSDBStats(
            head_series=head.series_count(),
            head_samples_appended=head.samples_appended,
            head_min_time=None if empty else head.mint,
            head_max_time=None if empty else head.maxt,
            head_chunk_bytes=sum(c.nbytes for c in head.cuts),
            rejected=dict(head.rejected),
            wal_bytes=wal_bytes,
            wal_write_errors=head.write_errors,
            head_compactions=self.head_compactions,
            block_compactions=self.block_compactions,
            blocks=len(blocks),
            block_bytes=block_bytes,
            bytes_on_disk=block_bytes + wal_bytes,
            series_created=head.series_created,
            series_removed=head.series_removed,
        )

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._stop.set()
        self._wake.set()
        if self._bg is not None:
            self._bg.join()
        with self._compact_lock:
            if self._wal is not None:
                self._wal.close()
            for b in self._blocks:
                b.close()
        self._release_lock()

    def __enter__(self) -> TSDB:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _check_import(s: Series) -> None:
    ts = s.timestamps
    if ts.ndim != 1 or ts.shape != s.values.shape:
        raise ValueError(f"series {s.labels}: timestamps {ts.shape} and values differ in shape")
    if len(ts) > 1 and not bool(np.all(ts[1:] > ts[:-1])):
        raise ValueError(f"series {s.labels}: timestamps must increase")


def _ulid_ms(ulid: str) -> int:
    """The milliseconds a block id was made at (its first 10 Crockford base32 digits)."""
    ms = 0
    for ch in ulid[:10]:
        ms = ms * 32 + _CROCKFORD.index(ch)
    return ms


_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
