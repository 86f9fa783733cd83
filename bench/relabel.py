"""Microbenchmark: metric relabelling of one series (what the scrape cache pays per new series).

Run: .venv/bin/python bench/relabel.py
"""

from __future__ import annotations

import timeit

from vigil.config import RelabelAction, RelabelConfig
from vigil.model import Labels
from vigil.scrape.relabel import relabel

SERIES = Labels.from_dict(
    {
        "__name__": "http_requests_total",
        "method": "GET",
        "code": "200",
        "handler": "/api/x",
        "instance": "h:1",
        "job": "j",
    }
)
RULESETS = {
    "1 drop rule (prefix regex)": [
        RelabelConfig(source_labels=("__name__",), regex="go_.*", action=RelabelAction.DROP)
    ],
    "3 rules (drop, labeldrop, replace with groups)": [
        RelabelConfig(source_labels=("__name__",), regex="go_.*", action=RelabelAction.DROP),
        RelabelConfig(regex="handler", action=RelabelAction.LABELDROP),
        RelabelConfig(
            source_labels=("code",), regex="(.)..", target_label="code_class", replacement="${1}xx"
        ),
    ],
}


def main() -> None:
    n = 100_000
    for name, rules in RULESETS.items():
        seconds = timeit.timeit(lambda rules=rules: relabel(SERIES, rules), number=n)
        print(f"{name}: {seconds / n * 1e6:.2f} us/series")


if __name__ == "__main__":
    main()
