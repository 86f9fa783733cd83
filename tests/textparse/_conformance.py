"""Where the shared conformance data lives: ../shared/conformance from the repo root,
or $VIGIL_CONFORMANCE_DIR. Read in place, never copied into the repository."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def conformance_dir() -> Path:
    env = os.environ.get("VIGIL_CONFORMANCE_DIR")
    return Path(env) if env else REPO.parent / "shared" / "conformance"


OPENMETRICS = conformance_dir() / "openmetrics"
TEXTPARSE = conformance_dir() / "textparse"


def openmetrics_cases() -> list[Path]:
    if not OPENMETRICS.is_dir():
        return []
    return sorted(p for p in OPENMETRICS.iterdir() if (p / "test.json").is_file())


def textparse_body(name: str) -> bytes:
    path = TEXTPARSE / name
    if not path.is_file():
        pytest.fail(f"conformance body {path} is missing; set VIGIL_CONFORMANCE_DIR")
    return path.read_bytes()
