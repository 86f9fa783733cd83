"""``check_rules``: promtool's verdicts on its own test data, and its output shape."""

from __future__ import annotations

import io
import subprocess
from pathlib import Path

import pytest

from vigil.rules.check import check_rules

from ._helpers import conformance_dir

PROMTOOL = conformance_dir() / "promtool"

# The rule files of promtool's test data (the others are unit-test files) -> exit code.
VERDICTS = {
    "at-modifier.yml": 0,
    "bad-rules-error.yml": 0,  # fails only when evaluated (many-to-many), not when checked
    "bad-rules-syntax.yml": 1,
    "negative-offset.yml": 0,
    "prometheus-rules.lint.yml": 0,  # lint finding: reported, not fatal
    "rules-bad.yml": 1,  # "$label" is not a template variable
    "rules.yml": 0,
    "rules_duplicates.yml": 0,  # lint finding: reported, not fatal
    "rules_extrafields.yml": 1,  # unknown fields, unless ignored
    "rules_large.yml": 0,  # lint finding: reported, not fatal
}


def _run(*paths: Path, **kwargs: object) -> tuple[int, str]:
    out = io.StringIO()
    code = check_rules(list(paths), out, **kwargs)  # type: ignore[arg-type]
    return code, out.getvalue()


@pytest.mark.parametrize(("name", "code"), sorted(VERDICTS.items()))
def test_promtool_rule_files(name: str, code: int) -> None:
    got, text = _run(PROMTOOL / name)
    assert got == code, text
    assert text.startswith(f"Checking {PROMTOOL / name}\n")
    assert ("  FAILED:\n" in text) == (code != 0 or "duplicate" in text)


def test_success_output() -> None:
    code, text = _run(PROMTOOL / "rules.yml")
    assert code == 0
    assert text == f"Checking {PROMTOOL / 'rules.yml'}\n  SUCCESS: 5 rules found\n\n"


def test_failure_output_has_positions() -> None:
    path = PROMTOOL / "bad-rules-syntax.yml"
    code, text = _run(path)
    assert code == 1
    assert text == (
        f"Checking {path}\n  FAILED:\n"
        f'{path}:7:22: groups[0].rules[0].expr: group "bad-syntax", rule 1, "x": '
        "could not parse expression: 1:7: parse error: unexpected end of input\n\n"
    )


def test_template_error_is_reported() -> None:
    code, text = _run(PROMTOOL / "rules-bad.yml")
    assert code == 1
    assert 'group "alerts", rule 1, "InstanceDown": annotation "summary": ' in text
    assert "groups[0].rules[0].annotations.summary" in text


def test_duplicate_rules_lint() -> None:
    path = PROMTOOL / "rules_duplicates.yml"
    code, text = _run(path)
    assert code == 0
    assert text == (
        f"Checking {path}\n  FAILED:\nlint error 1 duplicate rule(s) found.\n"
        "Metric: job:test:count_over_time1m\nLabel(s):\n"
        "Might cause inconsistency while recording expressions\n\n"
    )
    assert _run(path, lint_fatal=True)[0] == 3
    code, text = _run(path, lint="none")
    assert code == 0
    assert "SUCCESS: 5 rules found" in text
    code, text = _run(PROMTOOL / "prometheus-rules.lint.yml")
    assert "Metric: HighRequestLatency\nLabel(s):\n\tseverity: page\n" in text


def test_several_files_and_flags() -> None:
    code, text = _run(PROMTOOL / "rules.yml", PROMTOOL / "bad-rules-syntax.yml")
    assert code == 1
    assert text.count("Checking ") == 2
    code, _ = _run(PROMTOOL / "rules_extrafields.yml", ignore_unknown_fields=True)
    assert code == 0
    _, text = _run(PROMTOOL / "rules.yml", lint="bogus")
    assert text.startswith("WARNING: unknown lint option bogus\n")


def _promtool_failed(path: Path) -> bool:
    proc = subprocess.run(
        ["/usr/bin/promtool", "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    return "FAILED" in proc.stdout + proc.stderr


@pytest.mark.parametrize("name", sorted(VERDICTS))
def test_same_verdict_as_promtool(name: str) -> None:
    # Differential: the real promtool (2.42) fails or passes the same files.
    path = PROMTOOL / name
    _, text = _run(path)
    assert ("FAILED" in text) == _promtool_failed(path)
