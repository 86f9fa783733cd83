"""``vigil check rules``: promtool's ``check rules``, with positions in every error.

For each file it prints ``Checking FILE`` then ``  SUCCESS: N rules found`` or
``  FAILED:`` and one line per problem. The ``duplicate-rules`` lint reports
rules with the same name and labels (group labels included) as promtool does;
a lint finding alone fails the check only with ``lint_fatal``.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from pathlib import Path
from typing import TextIO

from vigil.config.errors import ConfigError
from vigil.rules.file import NameValidation, RuleGroupSpec, load_rule_files

__all__ = ["check_rules", "duplicate_rules"]

LINT_OPTIONS = ("all", "duplicate-rules", "none")


def duplicate_rules(
    groups: Sequence[RuleGroupSpec],
) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    """Rules sharing a name and label set, each reported once, sorted like promtool."""
    keys = sorted(
        (rule.name, tuple(sorted({**g.labels, **rule.labels}.items())))
        for g in groups
        for rule in g.rules
    )
    out: list[tuple[str, tuple[tuple[str, str], ...]]] = []
    for prev, cur in itertools.pairwise(keys):
        if prev == cur and (not out or out[-1] != cur):
            out.append(cur)
    return out


def check_rules(
    paths: Sequence[str | Path],
    out: TextIO,
    *,
    lint: str = "duplicate-rules",
    lint_fatal: bool = False,
    ignore_unknown_fields: bool = False,
    name_validation: NameValidation = "utf8",
) -> int:
    """Check rule files, writing promtool-style output to ``out``.

    Returns 1 when a file has errors, 3 when only lint findings and ``lint_fatal``
    (promtool's codes), else 0.
    """
    settings = {s.strip() for s in lint.split(",") if s.strip()}
    for s in sorted(settings - set(LINT_OPTIONS)):
        out.write(f"WARNING: unknown lint option {s}\n")
    lint_duplicates = bool(settings & {"all", "duplicate-rules"})
    failed = False
    lint_failed = False
    for p in paths:
        out.write(f"Checking {p}\n")
        try:
            groups = load_rule_files(
                [p], ignore_unknown_fields=ignore_unknown_fields, name_validation=name_validation
            )
        except ConfigError as exc:
            out.write("  FAILED:\n")
            out.write(exc.format() + "\n\n")
            failed = True
            continue
        n = sum(len(g.rules) for g in groups)
        dups = duplicate_rules(groups) if lint_duplicates else []
        if dups:
            lint_failed = True
            out.write("  FAILED:\n")
            out.write(f"lint error {len(dups)} duplicate rule(s) found.\n")
            for name, labels in dups:
                out.write(f"Metric: {name}\nLabel(s):\n")
                for k, v in labels:
                    out.write(f"\t{k}: {v}\n")
            out.write("Might cause inconsistency while recording expressions\n\n")
            continue
        out.write(f"  SUCCESS: {n} rules found\n\n")
    if failed:
        return 1
    if lint_failed and lint_fatal:
        return 3
    return 0
