"""Write-ahead log: numbered segment files of checksummed records, and checkpoints.

One commit is one :meth:`WAL.log` (a single ``write``) followed by
:meth:`WAL.sync`; concurrent committers share fsyncs (group commit): whoever
reaches the sync lock first fsyncs everything written so far, and the others
find their bytes already durable. The byte layout is in ``FORMAT.md`` ("WAL").

Replay (:func:`read_records`) stops at the first torn or corrupted record of
a segment: the segment is cut there, later segments are removed, and a
warning says what was dropped. Everything before it is recovered.
"""

from __future__ import annotations

import contextlib
import logging
import os
import struct
import threading
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from vigil.model.labels import Labels
from vigil.storage.interface import StorageError

__all__ = [
    "REC_CUT",
    "REC_SAMPLES",
    "REC_SERIES",
    "WAL",
    "Record",
    "WALCorruptionError",
    "decode_samples",
    "decode_series",
    "encode_samples",
    "encode_series",
    "frame",
    "list_checkpoints",
    "list_segments",
    "read_records",
    "write_checkpoint",
]

log = logging.getLogger("vigil.tsdb.wal")

REC_SERIES = 1
REC_SAMPLES = 2
REC_CUT = 3  # a compressed head page set; only in checkpoints

_HEADER = struct.Struct("<IIB")  # payload length, crc32 of type+payload, type
HEADER_SIZE = _HEADER.size
MAX_RECORD = 1 << 30
SEGMENT_SIZE = 64 << 20
_SEP = "\xff"  # never valid inside UTF-8 text, so it cannot occur in a label


WriteFn = Callable[[int, bytes | memoryview], int]


class WALCorruptionError(StorageError):
    """A checkpoint (written atomically, so never torn) failed its checksum."""


@dataclass(frozen=True, slots=True)
class Record:
    type: int
    payload: memoryview


# -- record encoding ----------------------------------------------------------------


def frame(rtype: int, payload: bytes) -> bytes:
    crc = zlib.crc32(payload, zlib.crc32(bytes((rtype,))))
    return _HEADER.pack(len(payload), crc, rtype) + payload


def encode_series(series: list[tuple[int, Labels]]) -> bytes:
    """``count u32``, then per series ``ref u64, len u32, utf-8 of n\\xffv\\xffn\\xffv``."""
    parts = [struct.pack("<I", len(series))]
    for ref, labels in series:
        text = _SEP.join(_SEP.join(p) for p in labels.pairs).encode()
        parts.append(struct.pack("<QI", ref, len(text)))
        parts.append(text)
    return b"".join(parts)


def decode_series(payload: memoryview) -> list[tuple[int, Labels]]:
    (count,) = struct.unpack_from("<I", payload, 0)
    pos = 4
    out: list[tuple[int, Labels]] = []
    for _ in range(count):
        ref, size = struct.unpack_from("<QI", payload, pos)
        pos += 12
        text = bytes(payload[pos : pos + size]).decode()
        pos += size
        items = text.split(_SEP) if text else []
        pairs = tuple(zip(items[0::2], items[1::2], strict=True))
        out.append((ref, Labels._trusted(pairs)))
    return out


_SAMPLES_HEAD = struct.Struct("<BIqq")  # flags, count, first ref, first timestamp
_WIDTHS = (1, 2, 4, 8)
_TS_CONST = 0x10


def _narrow(d: npt.NDArray[np.int64]) -> int:
    """Index into _WIDTHS of the smallest signed width holding every element."""
    if not len(d):
        return 0
    lo, hi = int(d.min()), int(d.max())
    for i, w in enumerate(_WIDTHS):
        bound = 1 << (8 * w - 1)
        if -bound <= lo and hi < bound:
            return i
    return 3


def encode_samples(
    refs: npt.NDArray[np.int64], ts: npt.NDArray[np.int64], vs: npt.NDArray[np.float64]
) -> bytes:
    """``flags u8, count u32, first ref i64, first t i64``, ref deltas, timestamp deltas
    (absent when all timestamps are equal), value bits: deltas in the narrowest of 1, 2,
    4 or 8 signed LE bytes (flags: bits 0-1 ref width, 2-3 timestamp width, 4 one t).

    No general compressor: a scrape's refs ascend by one, its timestamps are equal, so
    a sample costs about 9 bytes at the price of a few vector operations."""
    n = len(refs)
    if n == 0:
        return _SAMPLES_HEAD.pack(0, 0, 0, 0)
    rd = np.diff(refs)
    rw = _narrow(rd)
    parts = [b"", rd.astype(f"<i{_WIDTHS[rw]}").tobytes()]
    flags = rw
    t0 = int(ts[0])
    if int(ts.min()) == t0 == int(ts.max()):
        flags |= _TS_CONST
    else:
        td = np.diff(ts)
        tw = _narrow(td)
        flags |= tw << 2
        parts.append(td.astype(f"<i{_WIDTHS[tw]}").tobytes())
    parts.append(vs.astype("<f8", copy=False).tobytes())
    parts[0] = _SAMPLES_HEAD.pack(flags, n, int(refs[0]), t0)
    return b"".join(parts)


def decode_samples(
    payload: memoryview,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    flags, n, r0, t0 = _SAMPLES_HEAD.unpack_from(payload, 0)
    pos = _SAMPLES_HEAD.size
    if n == 0:
        e = np.empty(0, dtype=np.int64)
        return e, e.copy(), np.empty(0, dtype=np.float64)

    def deltas(width: int, first: int) -> npt.NDArray[np.int64]:
        nonlocal pos
        d = np.frombuffer(payload, dtype=f"<i{width}", count=n - 1, offset=pos)
        pos += width * (n - 1)
        out = np.empty(n, dtype=np.int64)
        out[0] = first
        np.cumsum(d, out=out[1:])
        out[1:] += first
        return out

    refs = deltas(_WIDTHS[flags & 3], r0)
    if flags & _TS_CONST:
        ts = np.full(n, t0, dtype=np.int64)
    else:
        ts = deltas(_WIDTHS[(flags >> 2) & 3], t0)
    vs = np.frombuffer(payload, dtype="<f8", count=n, offset=pos).astype(np.float64)
    pos += 8 * n
    if pos != len(payload):
        raise ValueError(f"samples record has {len(payload) - pos} unexpected trailing bytes")
    return refs, ts, vs


# -- files ----------------------------------------------------------------------------


def list_segments(wal_dir: Path) -> list[tuple[int, Path]]:
    out = [(int(p.name), p) for p in wal_dir.iterdir() if p.name.isdigit() and p.is_file()]
    return sorted(out)


def list_checkpoints(wal_dir: Path) -> list[tuple[int, Path]]:
    out = []
    for p in wal_dir.iterdir():
        name, _, num = p.name.partition(".")
        if name == "checkpoint" and num.isdigit():
            out.append((int(num), p))
    return sorted(out)


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _parse(data: bytes) -> tuple[list[Record], int, str]:
    """Records of a segment, the offset where good data ends, and why it ends there ("" = EOF)."""
    records: list[Record] = []
    view = memoryview(data)
    pos = 0
    end = len(data)
    while pos < end:
        if end - pos < HEADER_SIZE:
            return records, pos, f"torn record header ({end - pos} bytes)"
        length, crc, rtype = _HEADER.unpack_from(data, pos)
        if length > MAX_RECORD or rtype not in (REC_SERIES, REC_SAMPLES, REC_CUT):
            return records, pos, f"corrupt record header (type {rtype}, length {length})"
        start = pos + HEADER_SIZE
        if start + length > end:
            return records, pos, f"torn record ({end - start} of {length} bytes)"
        payload = view[start : start + length]
        if zlib.crc32(payload, zlib.crc32(bytes((rtype,)))) != crc:
            return records, pos, "checksum mismatch"
        records.append(Record(rtype, payload))
        pos = start + length
    return records, pos, ""


def read_records(wal_dir: Path, first_segment: int) -> Iterator[Record]:
    """Records of segments numbered >= *first_segment*, repairing a torn or corrupted tail."""
    segments = [(n, p) for n, p in list_segments(wal_dir) if n >= first_segment]
    for i, (_num, path) in enumerate(segments):
        data = path.read_bytes()
        records, good, why = _parse(data)
        yield from records
        if why:
            later = segments[i + 1 :]
            log.warning(
                "wal: %s: %s at offset %d; cutting the segment there (%d bytes dropped) "
                "and removing %d later segment(s); the %d records before it are recovered",
                path,
                why,
                good,
                len(data) - good,
                len(later),
                len(records),
            )
            with open(path, "r+b") as f:
                f.truncate(good)
                os.fsync(f.fileno())
            for _, p in later:
                p.unlink()
            _fsync_dir(wal_dir)
            return


def read_checkpoint(path: Path) -> list[Record]:
    data = path.read_bytes()
    records, _, why = _parse(data)
    if why:
        raise WALCorruptionError(f"{path}: {why}; the checkpoint is damaged (restore from backup)")
    return records


def write_checkpoint(wal_dir: Path, number: int, chunks: Iterator[bytes]) -> Path:
    """Write framed records to ``checkpoint.<number>`` atomically (tmp, fsync, rename)."""
    final = wal_dir / f"checkpoint.{number:08d}"
    tmp = wal_dir / f"checkpoint.{number:08d}.tmp"
    with open(tmp, "wb") as f:
        for chunk in chunks:
            f.write(chunk)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, final)
    _fsync_dir(wal_dir)
    return final


# -- the writer ---------------------------------------------------------------------


class WAL:
    """Appends framed records to numbered segments; fsyncs in groups.

    :meth:`log` is called with the head's writer lock held (so records are in
    commit order) and never leaves a partial record behind: on a failed
    write (disk full) the segment is cut back and :class:`StorageError` raised.
    :meth:`sync` is called without that lock.
    """

    def __init__(
        self,
        wal_dir: Path,
        first_segment: int,
        *,
        segment_size: int = SEGMENT_SIZE,
        write: WriteFn = os.write,
    ) -> None:
        self.dir = wal_dir
        self._segment_size = segment_size
        self._write = write
        self._sync_lock = threading.Lock()
        self._written = 0  # bytes logged since open, over all segments
        self._synced = 0
        self._fd = -1
        self._seg = first_segment - 1
        self._seg_bytes = 0
        self._open_next()

    @property
    def segment(self) -> int:
        return self._seg

    def size_bytes(self) -> int:
        total = 0
        for p in self.dir.iterdir():
            with contextlib.suppress(FileNotFoundError):
                total += p.stat().st_size
        return total

    def _open_next(self) -> None:
        self._seg += 1
        path = self.dir / f"{self._seg:08d}"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        _fsync_dir(self.dir)
        old = self._fd
        self._fd = fd
        self._seg_bytes = os.fstat(fd).st_size
        if old >= 0:
            os.close(old)

    def rotate(self) -> int:
        """Finish the current segment (fsynced) and start the next; returns its number."""
        with self._sync_lock:
            os.fsync(self._fd)
            self._synced = self._written
            self._open_next()
        return self._seg

    def log(self, data: bytes) -> int:
        """Write framed records; returns the position to pass to :meth:`sync`."""
        if self._seg_bytes and self._seg_bytes + len(data) > self._segment_size:
            try:
                self.rotate()
            except OSError as exc:
                raise StorageError(f"wal: cannot start segment {self._seg + 1}: {exc}") from exc
        fd = self._fd
        view = memoryview(data)
        done = 0
        try:
            while done < len(data):
                done += self._write(fd, view[done:])
        except OSError as exc:
            if done:
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, self._seg_bytes)
            raise StorageError(
                f"wal: writing {len(data)} bytes to segment {self.dir / f'{self._seg:08d}'} "
                f"failed: {exc}"
            ) from exc
        self._seg_bytes += done
        self._written += done
        return self._written

    def sync(self, position: int) -> None:
        """Return once every byte up to *position* is on stable storage (group fsync)."""
        if self._synced >= position:
            return
        with self._sync_lock:
            if self._synced >= position:
                return  # another committer's fsync covered ours
            target = self._written
            try:
                os.fsync(self._fd)
            except OSError as exc:
                raise StorageError(f"wal: fsync of segment {self._seg:08d} failed: {exc}") from exc
            self._synced = target

    def close(self) -> None:
        if self._fd >= 0:
            with self._sync_lock:
                with contextlib.suppress(OSError):
                    os.fsync(self._fd)
                os.close(self._fd)
                self._fd = -1
