"""What survives: kill -9 under load, torn WAL tails, a full disk."""

from __future__ import annotations

import errno
import logging
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from vigil.model.labels import Labels
from vigil.model.matchers import Matcher, MatchType
from vigil.storage.interface import StorageError
from vigil.tsdb.db import TSDB
from vigil.tsdb.wal import list_segments

ALL = [Matcher(MatchType.REGEX, "__name__", ".+")]

WRITER = textwrap.dedent(
    """
    import sys, threading
    from vigil.model.labels import Labels
    from vigil.tsdb.db import TSDB

    db = TSDB.open(sys.argv[1], block_duration_ms=1000, retention_ms=None, compact_interval_s=0.05)
    out_lock = threading.Lock()
    lockstep = threading.Barrier(3)  # writers stay within a step: none falls behind the head

    def writer(k):
        labels = [Labels.from_dict({"__name__": "load", "w": str(k), "i": str(i)}) for i in range(50)]
        refs = [0] * 50
        step = 0
        while True:
            lockstep.wait()
            app = db.appender()
            t = step * 10
            for i in range(50):
                refs[i] = app.append(refs[i], labels[i], t, float(step * 1000 + i))
            app.commit()  # durable once this returns: only then acknowledge
            with out_lock:
                sys.stdout.write(f"{k} {step}\\n")
                sys.stdout.flush()
            step += 1

    for k in range(3):
        threading.Thread(target=writer, args=(k,), daemon=True).start()
    threading.Event().wait()
    """
)


def test_kill_9_under_load_loses_no_acknowledged_sample(tmp_path: Path) -> None:
    data = tmp_path / "data"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(data)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked = {0: -1, 1: -1, 2: -1}
    try:
        assert proc.stdout is not None
        # Run until every writer is well past several block ranges (steps are 10 ms of
        # data, blocks 1,000 ms: compaction starts past 1,500 ms), then a little more;
        # bounded, so a slow machine gives a clear failure instead of hanging.
        deadline = time.monotonic() + 30.0
        while time.monotonic() < deadline and min(acked.values()) < 400:
            line = proc.stdout.readline()
            if not line:
                break
            k, step = map(int, line.split())
            acked[k] = max(acked[k], step)
        time.sleep(0.2)  # kill in the middle of the load, not at a quiet moment
        proc.send_signal(signal.SIGKILL)
        for line in proc.stdout:  # acks written before the kill landed
            k, step = map(int, line.split())
            acked[k] = max(acked[k], step)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        if proc.stdout is not None:
            proc.stdout.close()
    assert min(acked.values()) >= 400, acked  # enough load for several head compactions
    with TSDB.open(data, background=False, block_duration_ms=1000, retention_ms=None) as db:
        assert db.blocks, "the load should have produced blocks"
        got = db.querier(-(2**62), 2**62).select(ALL)
        by_key = {(s.labels.get("w"), s.labels.get("i")): s for s in got}
        for k, last in acked.items():
            for i in range(50):
                s = by_key[(str(k), str(i))]
                ts = s.timestamps.tolist()
                # every acknowledged step is there (later, unacknowledged ones may be too)
                assert ts[: last + 1] == [step * 10 for step in range(last + 1)], (k, i)
                want = np.arange(last + 1) * 1000.0 + i
                assert (s.values[: last + 1] == want).all()


def fill(db: TSDB, steps: range) -> None:
    ref = 0
    for t in steps:
        app = db.appender()
        ref = app.append(ref, Labels.from_dict({"__name__": "m"}), t, float(t))
        app.commit()


def timestamps(db: TSDB) -> list[int]:
    got = db.querier(-(2**62), 2**62).select(ALL)
    return got[0].timestamps.tolist() if got else []


@pytest.mark.parametrize("damage", ["truncate", "garbage", "flip"])
def test_torn_or_corrupted_wal_tail_is_cut_and_the_rest_recovered(
    tmp_path: Path, damage: str, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "d"
    with TSDB.open(path, background=False) as db:
        fill(db, range(1, 21))
    seg = list_segments(path / "wal")[-1][1]
    size = seg.stat().st_size
    if damage == "truncate":
        with open(seg, "r+b") as f:
            f.truncate(size - 3)  # a crash mid-write of the last commit
    elif damage == "garbage":
        with open(seg, "ab") as f:
            f.write(b"\x00\x13\x37" * 5)  # half a header
    else:
        raw = bytearray(seg.read_bytes())
        raw[-2] ^= 0x01  # a bit flip inside the last record
        seg.write_bytes(bytes(raw))
    with caplog.at_level(logging.WARNING), TSDB.open(path, background=False) as db:
        got = timestamps(db)
        fill(db, range(100, 103))  # and writing goes on
        after = timestamps(db)
    assert "cutting the segment there" in caplog.text
    expected = list(range(1, 21)) if damage == "garbage" else list(range(1, 20))
    assert got == expected
    assert after == [*expected, 100, 101, 102]
    with TSDB.open(path, background=False) as db:
        assert timestamps(db) == after


def test_disk_full_fails_writes_keeps_reads_and_recovers(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    full = {"on": False}

    def write(fd: int, data: bytes | memoryview) -> int:
        if full["on"]:
            raise OSError(errno.ENOSPC, "No space left on device")
        return os.write(fd, data)

    path = tmp_path / "d"
    with TSDB.open(path, background=False, wal_write=write) as db:
        fill(db, range(1, 6))
        full["on"] = True
        with caplog.at_level(logging.ERROR, logger="vigil.tsdb"):
            for t in (6, 7, 8):
                with pytest.raises(StorageError, match="No space left"):
                    fill(db, range(t, t + 1))
        assert db.stats().wal_write_errors == 3
        assert caplog.text.count("cannot write samples") == 1  # throttled
        assert timestamps(db) == [1, 2, 3, 4, 5]  # reads work, nothing half-written shows
        full["on"] = False
        fill(db, range(9, 11))
        assert timestamps(db) == [1, 2, 3, 4, 5, 9, 10]
    with TSDB.open(path, background=False) as db:
        assert timestamps(db) == [1, 2, 3, 4, 5, 9, 10]


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root")
    res = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=512k", "tmpfs", str(mnt)], capture_output=True
    )
    if res.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {res.stderr.decode().strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], check=False)


def test_a_really_full_disk(tiny_disk: Path) -> None:
    path = tiny_disk / "d"
    with TSDB.open(path, background=False) as db:
        labels = [Labels.from_dict({"__name__": "big", "i": str(i)}) for i in range(500)]
        filler = tiny_disk / "filler"
        fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
        try:
            with pytest.raises(OSError, match="No space left"):  # noqa: PT012
                while True:
                    os.write(fd, b"\0" * 4096)
        finally:
            os.close(fd)
        failures = 0
        committed = 0
        for t in range(50):
            app = db.appender()
            for lb in labels:
                app.append(0, lb, t, 1.0)
            try:
                app.commit()
                committed += 1
            except StorageError:
                failures += 1
        assert failures > 0
        assert db.stats().wal_write_errors == failures
        seen = len(db.querier(0, 100).select(ALL))
        assert seen == (500 if committed else 0)
        filler.unlink()  # space comes back
        app = db.appender()
        for lb in labels:
            app.append(0, lb, 1000, 2.0)
        app.commit()
        assert len(db.querier(1000, 1000).select(ALL)) == 500
    with TSDB.open(path, background=False) as db:
        assert len(db.querier(1000, 1000).select(ALL)) == 500
