"""The upstream PromQL test files, run through Vigil's engine (see promqltest.py).

Fails on any failing eval not listed in KNOWN_FAILURES.md and when fewer evals
pass than pinned there; prints ``PromQL conformance: N/M evals passed (X%)``.
Regenerate the list with ``python -m tests.promql.promqltest --write-known-failures``.
"""

from __future__ import annotations

import pytest

from tests.promql import promqltest as pt


@pytest.mark.timeout(900)
def test_promql_conformance(capsys: pytest.CaptureFixture[str]) -> None:
    directory = pt.conformance_dir()
    if not directory.is_dir():
        pytest.fail(f"PromQL conformance files missing at {directory}; set VIGIL_CONFORMANCE_DIR")
    report = pt.run_all(directory)
    known = pt.read_known_failures()
    with capsys.disabled():
        print("\n" + report.summary())
        gained = pt.now_passing(report, known)
        if gained:
            print(f"{len(gained)} known failures now pass; regenerate with: {pt.REGENERATE}")
    problems = pt.check_against_known(report, known)
    assert not problems, "\n".join(problems[:50]) + (
        f"\n... and {len(problems) - 50} more" if len(problems) > 50 else ""
    )


def test_every_file_parses_and_matches_the_manifest() -> None:
    directory = pt.conformance_dir()
    if not directory.is_dir():
        pytest.skip(f"no conformance files at {directory}")
    manifest = pt.load_manifest(directory)
    keys: set[str] = set()
    for path in pt.script_files(directory):
        for cmd in pt.parse_script(path.read_text(), path.name):
            if isinstance(cmd, pt.Eval):
                keys.add(cmd.key)
    assert len(keys) == 2214
    assert keys == set(manifest)
