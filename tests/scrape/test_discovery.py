"""Static and file-based discovery: formats, polling, bad files keep old targets."""

from __future__ import annotations

import asyncio
import json
import logging
import os
from pathlib import Path

import pytest

from vigil.config import Duration, FileSDConfig, ScrapeConfig, StaticConfig, parse_config
from vigil.scrape.discovery import (
    FILEPATH_LABEL,
    Discovery,
    FileDiscovery,
    FileFormatError,
    TargetGroup,
    parse_target_groups,
    static_groups,
)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def write(path: Path, text: str) -> None:
    """Write and bump the mtime so a poll sees a change even within one clock tick."""
    old = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    st = path.stat()
    if st.st_mtime_ns <= old:
        os.utime(path, ns=(st.st_atime_ns, old + 1_000_000))


def test_static_groups() -> None:
    sc = ScrapeConfig(
        job_name="j",
        static_configs=(
            StaticConfig(targets=("a:1", "b:2"), labels={"env": "p"}),
            StaticConfig(targets=("c:3",)),
        ),
    )
    assert static_groups(sc) == [
        TargetGroup("0", ({"__address__": "a:1"}, {"__address__": "b:2"}), {"env": "p"}),
        TargetGroup("1", ({"__address__": "c:3"},), {}),
    ]


def test_parse_yaml_and_json_groups() -> None:
    y = parse_target_groups(
        "- targets: [a:1, b:2]\n  labels: {env: prod}\n- targets: [c:3]\n", "/sd/x.yml"
    )
    j = parse_target_groups(
        json.dumps([{"targets": ["a:1", "b:2"], "labels": {"env": "prod"}}, {"targets": ["c:3"]}]),
        "/sd/x.json",
    )
    for groups, path in ((y, "/sd/x.yml"), (j, "/sd/x.json")):
        assert [g.source for g in groups] == [f"{path}:0", f"{path}:1"]
        assert groups[0].targets == ({"__address__": "a:1"}, {"__address__": "b:2"})
        assert groups[0].labels == {"env": "prod", FILEPATH_LABEL: path}
        assert groups[1].labels == {FILEPATH_LABEL: path}
    assert parse_target_groups("", "/e.yml") == []
    assert parse_target_groups("null", "/e.json") == []


@pytest.mark.parametrize(
    ("text", "path", "where"),
    [
        (
            "- targets: [a:1]\n  labels: {a-b: c}\n",
            "f.yml",
            "f.yml:2:12: [0].labels.a-b: 'a-b' is not a valid label name",
        ),
        ("- targets: a:1\n", "f.yml", "f.yml:1:12: [0].targets: expected a list"),
        ("- targets: [a:1]\n  lables: {}\n", "f.yml", "f.yml:2:3: [0].lables: unknown field"),
        ("- targets: [a:1\n", "f.yml", "f.yml:2:1: YAML syntax"),
        ('[{"targets": ["a:1"],}]', "f.json", "f.json:1:22: "),
        ('{"targets": []}', "f.json", "f.json: expected a list"),
        ('[{"targets": [1]}]', "f.json", "f.json: [0].targets: expected a list of strings"),
        (
            '[{"targets": [], "labels": {"a": 1}}]',
            "f.json",
            "f.json: [0].labels.a: expected a string",
        ),
    ],
)
def test_bad_files_say_where(text: str, path: str, where: str) -> None:
    with pytest.raises(FileFormatError) as info:
        parse_target_groups(text, path)
    assert str(info.value).startswith(where), str(info.value)


def test_file_discovery_polls_changes_and_keeps_targets_of_bad_files(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    a = tmp_path / "a.yml"
    b = tmp_path / "b.json"
    write(a, "- targets: [a:1]\n")
    clock = Clock()
    fd = FileDiscovery(
        FileSDConfig(files=(str(tmp_path / "*.yml"), str(tmp_path / "*.json"))), clock=clock
    )
    assert fd.poll() is True
    assert [g.targets for g in fd.groups()] == [({"__address__": "a:1"},)]
    assert fd.poll() is False  # nothing changed

    write(b, json.dumps([{"targets": ["b:1"]}]))  # a new file matching the glob
    assert fd.poll() is True
    assert {t["__address__"] for g in fd.groups() for t in g.targets} == {"a:1", "b:1"}

    write(a, "- targets: [a:1, a:2]\n")  # changed
    assert fd.poll() is True
    assert len(fd.groups()[0].targets) == 2

    with caplog.at_level(logging.ERROR, logger="vigil.scrape.discovery"):
        write(a, "- targets: [a:1\n")  # broken: the previous targets stay
        assert fd.poll() is False
    assert len(fd.groups()[0].targets) == 2
    assert str(a) in fd.errors
    assert f"{a}:2:1: YAML syntax" in caplog.text
    assert "keeping the 1 previous groups" in caplog.text

    write(a, "- targets: [a:9]\n")  # fixed
    assert fd.poll() is True
    assert not fd.errors
    assert fd.groups()[0].targets == ({"__address__": "a:9"},)

    b.unlink()  # vanished: its targets go
    assert fd.poll() is True
    assert [g.source for g in fd.groups()] == [f"{a}:0"]


def test_refresh_interval_rereads_even_without_mtime_change(tmp_path: Path) -> None:
    a = tmp_path / "a.yml"
    write(a, "- targets: [a:1]\n")
    st = a.stat()
    clock = Clock()
    fd = FileDiscovery(
        FileSDConfig(files=(str(a),), refresh_interval=Duration(60_000)), clock=clock
    )
    fd.poll()
    # Same size, same mtime: invisible to polling.
    a.write_text("- targets: [b:1]\n")
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns))
    clock.now += 30
    assert fd.poll() is False
    clock.now += 31
    assert fd.poll() is True
    assert fd.groups()[0].targets == ({"__address__": "b:1"},)


def test_discovery_combines_static_and_files_into_targets(tmp_path: Path) -> None:
    (tmp_path / "sd").mkdir()
    write(tmp_path / "sd" / "t.yml", "- targets: [f:1, s:1]\n  labels: {team: x}\n")
    conf = tmp_path / "vigil.yml"
    conf.write_text(
        "scrape_configs:\n"
        "  - job_name: j\n"
        "    static_configs: [{targets: ['s:1']}]\n"
        "    file_sd_configs: [{files: ['sd/*.yml']}]\n"
        "    relabel_configs:\n"
        "      - {source_labels: [__meta_filepath], regex: '.*/(.*)', target_label: file}\n"
    )
    from vigil.config import load_config

    (sc,) = load_config(conf).scrape_configs
    d = Discovery(sc, clock=Clock())
    assert d.poll() is True
    targets, dropped = d.targets()
    assert not dropped
    # s:1 appears twice with different labels, so both are distinct targets.
    assert sorted((t.address, t.labels.get("file"), t.labels.get("team")) for t in targets) == [
        ("f:1", "t.yml", "x"),
        ("s:1", "", ""),
        ("s:1", "t.yml", "x"),
    ]


def test_identical_targets_are_deduplicated() -> None:
    sc = parse_config(
        "scrape_configs:\n  - job_name: j\n    static_configs: [{targets: [a:1]}, {targets: [a:1]}]\n"
    ).scrape_configs[0]
    targets, _ = Discovery(sc).targets()
    assert len(targets) == 1


def test_run_reports_initial_groups_and_changes(tmp_path: Path) -> None:
    f = tmp_path / "t.json"
    write(f, json.dumps([{"targets": ["a:1"]}]))
    sc = ScrapeConfig(job_name="j", file_sd_configs=(FileSDConfig(files=(str(f),)),))
    seen: list[list[TargetGroup]] = []

    async def main() -> None:
        ticks = 0

        async def sleep(_: float) -> None:
            nonlocal ticks
            ticks += 1
            if ticks == 2:
                write(f, json.dumps([{"targets": ["a:1", "b:1"]}]))
            if ticks == 4:
                raise asyncio.CancelledError
            await asyncio.sleep(0)

        with pytest.raises(asyncio.CancelledError):
            await Discovery(sc).run(seen.append, tick=0.01, sleep=sleep)

    asyncio.run(main())
    assert [len(groups[0].targets) for groups in seen] == [1, 2]


def test_run_without_files_reports_once() -> None:
    sc = ScrapeConfig(job_name="j", static_configs=(StaticConfig(targets=("a:1",)),))
    seen: list[list[TargetGroup]] = []

    async def on_change(groups: list[TargetGroup]) -> None:
        seen.append(groups)

    asyncio.run(Discovery(sc).run(on_change))
    assert len(seen) == 1
