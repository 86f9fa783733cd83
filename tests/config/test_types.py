"""The config value types: defaults, validation in constructors, documentation."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from vigil.config import (
    Duration,
    GlobalConfig,
    RelabelAction,
    RelabelConfig,
    ScrapeConfig,
    Secret,
    TLSConfig,
    VigilConfig,
)
from vigil.config.types import is_valid_relabel_target

DOCS = Path(__file__).resolve().parents[2] / "docs" / "configuration.md"


def test_prometheus_defaults() -> None:
    sc = ScrapeConfig(job_name="x")
    assert sc.scrape_interval == Duration(60_000)
    assert sc.scrape_timeout == Duration(10_000)
    assert (sc.metrics_path, sc.scheme) == ("/metrics", "http")
    assert not sc.honor_labels
    assert sc.honor_timestamps
    assert sc.tls_config == TLSConfig()
    rc = RelabelConfig(target_label="a")
    assert (rc.separator, rc.regex, rc.replacement, rc.action) == (
        ";",
        "(.*)",
        "$1",
        RelabelAction.REPLACE,
    )


def test_values_are_immutable_and_comparable() -> None:
    a = ScrapeConfig(job_name="x", relabel_configs=(RelabelConfig(target_label="a"),))
    b = ScrapeConfig(job_name="x", relabel_configs=(RelabelConfig(target_label="a"),))
    assert a == b  # reloads compare configs to keep unchanged scrape loops
    with pytest.raises(dataclasses.FrozenInstanceError):
        a.job_name = "y"  # type: ignore[misc]
    assert VigilConfig(scrape_configs=(a,)).scrape_config("x") is a


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"action": "hashmod", "target_label": "a"}, "requires non-zero modulus"),
        ({"action": "replace"}, "requires 'target_label'"),
        ({"action": "replace", "target_label": "a-b"}, "invalid 'target_label'"),
        ({"action": "labeldrop", "source_labels": ("a",)}, "requires only 'regex'"),
        ({"regex": "a("}, "invalid regular expression"),
        ({"action": "nope"}, "nope"),
    ],
)
def test_relabel_config_validates_on_construction(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RelabelConfig(**kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "ok"),
    [
        ("a", True),
        ("${1}x", True),
        ("$1", True),
        ("_a$b", True),
        ("1a", False),
        ("a-b", False),
        ("$", False),
        ("${}", False),
        ("a" * 200 + "!", False),
        ("é", False),
    ],
)
def test_relabel_target_rule(text: str, ok: bool) -> None:
    assert is_valid_relabel_target(text) is ok


def test_secret_in_dataclass_repr() -> None:
    assert "<secret>" in repr(TLSConfig(key=Secret("PRIVATE")))
    assert "PRIVATE" not in repr(TLSConfig(key=Secret("PRIVATE")))


@pytest.mark.parametrize("cls", [GlobalConfig, ScrapeConfig, RelabelConfig])
def test_every_setting_is_documented(cls: type) -> None:
    text = DOCS.read_text()
    internal = {"compiled", "engine"}
    missing = [
        f.name for f in dataclasses.fields(cls) if f.name not in internal and f.name not in text
    ]
    assert not missing, f"undocumented in docs/configuration.md: {missing}"
