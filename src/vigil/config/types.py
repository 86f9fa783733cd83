"""The typed configuration: what ``vigil.yml`` (or an unchanged ``prometheus.yml``) means.

Everything here is an immutable value with Prometheus's defaults, so code and
tests can build configs directly (``ScrapeConfig(job_name="x")``) as well as
through :func:`vigil.config.parse_config`. The loader fills what Prometheus
inherits from ``global`` (interval, timeout, limits) into each
:class:`ScrapeConfig`, so consumers read one place.

Secrets (passwords, tokens, private keys) are :class:`Secret`: ``str()`` and
``repr()`` print ``<secret>``; ``.reveal()`` gives the value to the one piece
of code that needs it (the HTTP client).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import re2

from vigil.config.units import Duration
from vigil.model import is_valid_label_name
from vigil.model.matchers import compile_anchored

__all__ = [
    "DEFAULT_GLOBAL_SCRAPE_INTERVAL",
    "DEFAULT_GLOBAL_SCRAPE_TIMEOUT",
    "Authorization",
    "BasicAuth",
    "FileSDConfig",
    "GlobalConfig",
    "RelabelAction",
    "RelabelConfig",
    "ScrapeConfig",
    "Secret",
    "StaticConfig",
    "StorageConfig",
    "TLSConfig",
    "VigilConfig",
    "is_valid_relabel_target",
]

DEFAULT_GLOBAL_SCRAPE_INTERVAL = Duration(60_000)
DEFAULT_GLOBAL_SCRAPE_TIMEOUT = Duration(10_000)
DEFAULT_EVALUATION_INTERVAL = Duration(60_000)
DEFAULT_FILE_SD_REFRESH = Duration(300_000)


class Secret:
    """A string that never prints itself: ``str()``/``repr()`` are ``<secret>``."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "<secret>"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Secret):
            return self._value == other._value
        return NotImplemented

    def __hash__(self) -> int:
        return hash(("Secret", self._value))

    def __bool__(self) -> bool:
        return bool(self._value)


# ---------------------------------------------------------------------------
# relabelling


class RelabelAction(enum.Enum):
    REPLACE = "replace"
    KEEP = "keep"
    DROP = "drop"
    KEEPEQUAL = "keepequal"
    DROPEQUAL = "dropequal"
    HASHMOD = "hashmod"
    LABELMAP = "labelmap"
    LABELDROP = "labeldrop"
    LABELKEEP = "labelkeep"
    LOWERCASE = "lowercase"
    UPPERCASE = "uppercase"

    def __str__(self) -> str:
        return self.value


# Prometheus's rule for a target label that contains $-references: letters,
# digits, underscores and $name / ${name} references, not starting with a digit.
# RE2, because the equivalent backtracking pattern is exponential on bad input.
_RELABEL_TARGET = re2.compile(r"^(?:[a-zA-Z_]|\$(?:\{\w+\}|\w+))(?:\w|\$(?:\{\w+\}|\w+))*$")


def is_valid_relabel_target(text: str) -> bool:
    """Whether ``text`` is a label name, possibly with ``$1``/``${name}`` references."""
    return text.isascii() and _RELABEL_TARGET.match(text) is not None


DEFAULT_REGEX = "(.*)"
DEFAULT_SEPARATOR = ";"
DEFAULT_REPLACEMENT = "$1"


@dataclass(frozen=True, slots=True)
class RelabelConfig:
    """One relabelling rule with Prometheus's defaults and validation.

    The regex is RE2, anchored at both ends. Construction raises ``ValueError``
    (Prometheus's wording) when the fields do not fit the action.
    """

    source_labels: tuple[str, ...] = ()
    separator: str = DEFAULT_SEPARATOR
    regex: str = DEFAULT_REGEX
    modulus: int = 0
    target_label: str = ""
    replacement: str = DEFAULT_REPLACEMENT
    action: RelabelAction = RelabelAction.REPLACE
    compiled: Any = field(default=None, init=False, compare=False, hash=False, repr=False)
    # Scratch space for the relabelling engine (vigil.scrape.relabel) to keep
    # its compiled form of this rule; not part of the value.
    engine: dict[str, Any] = field(
        default_factory=dict, init=False, compare=False, hash=False, repr=False
    )

    def __post_init__(self) -> None:
        if isinstance(self.source_labels, list):
            object.__setattr__(self, "source_labels", tuple(self.source_labels))
        if isinstance(self.action, str):
            object.__setattr__(self, "action", RelabelAction(self.action.lower()))
        object.__setattr__(self, "compiled", compile_anchored(self.regex))
        problems = self.problems()
        if problems:
            raise ValueError(problems[0])

    def problems(self) -> list[str]:
        """What is wrong with the combination of fields, in Prometheus's words."""
        a = self.action
        out: list[str] = []
        for name in self.source_labels:
            if not is_valid_label_name(name):
                out.append(f"{name!r} is not a valid label name in 'source_labels'")
        if self.modulus < 0:
            out.append("'modulus' must not be negative")
        if a is RelabelAction.HASHMOD and self.modulus == 0:
            out.append("relabel configuration for hashmod requires non-zero modulus")
        needs_target = (
            RelabelAction.REPLACE,
            RelabelAction.HASHMOD,
            RelabelAction.LOWERCASE,
            RelabelAction.UPPERCASE,
            RelabelAction.KEEPEQUAL,
            RelabelAction.DROPEQUAL,
        )
        t = self.target_label
        if a in needs_target and t == "":
            out.append(f"relabel configuration for {a} action requires 'target_label' value")
        elif a is RelabelAction.REPLACE:
            if ("$" in t and not is_valid_relabel_target(t)) or (
                "$" not in t and not is_valid_label_name(t)
            ):
                out.append(f"{t!r} is invalid 'target_label' for {a} action")
        elif a in needs_target and not is_valid_label_name(t):
            out.append(f"{t!r} is invalid 'target_label' for {a} action")
        simple = (
            RelabelAction.LOWERCASE,
            RelabelAction.UPPERCASE,
            RelabelAction.KEEPEQUAL,
            RelabelAction.DROPEQUAL,
        )
        if a in simple and self.replacement != DEFAULT_REPLACEMENT:
            out.append(f"'replacement' can not be set for {a} action")
        if a is RelabelAction.LABELMAP and not is_valid_relabel_target(self.replacement):
            out.append(f"{self.replacement!r} is invalid 'replacement' for {a} action")
        if a in (RelabelAction.KEEPEQUAL, RelabelAction.DROPEQUAL) and (
            self.regex != DEFAULT_REGEX
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            out.append(
                f"{a} action requires only 'source_labels' and `target_label`, and no other fields"
            )
        if a in (RelabelAction.LABELDROP, RelabelAction.LABELKEEP) and (
            self.source_labels
            or self.target_label
            or self.modulus != 0
            or self.separator != DEFAULT_SEPARATOR
            or self.replacement != DEFAULT_REPLACEMENT
        ):
            out.append(f"{a} action requires only 'regex', and no other fields")
        return out


# ---------------------------------------------------------------------------
# HTTP client settings


@dataclass(frozen=True, slots=True)
class BasicAuth:
    username: str = ""
    password: Secret | None = None
    password_file: str | None = None
    username_file: str | None = None


@dataclass(frozen=True, slots=True)
class Authorization:
    """An ``Authorization: <type> <credentials>`` header (``bearer_token`` becomes one)."""

    type: str = "Bearer"
    credentials: Secret | None = None
    credentials_file: str | None = None


@dataclass(frozen=True, slots=True)
class TLSConfig:
    ca_file: str | None = None
    cert_file: str | None = None
    key_file: str | None = None
    ca: str | None = None
    cert: str | None = None
    key: Secret | None = None
    server_name: str | None = None
    insecure_skip_verify: bool = False
    min_version: str | None = None


# ---------------------------------------------------------------------------
# discovery


@dataclass(frozen=True, slots=True)
class StaticConfig:
    """A fixed target group: ``targets`` are ``host:port`` addresses."""

    targets: tuple[str, ...] = ()
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FileSDConfig:
    """Files (globs allowed in the last path element) holding target groups as YAML or JSON."""

    files: tuple[str, ...] = ()
    refresh_interval: Duration = DEFAULT_FILE_SD_REFRESH


# ---------------------------------------------------------------------------
# scrape and global


@dataclass(frozen=True, slots=True)
class GlobalConfig:
    scrape_interval: Duration = DEFAULT_GLOBAL_SCRAPE_INTERVAL
    scrape_timeout: Duration = DEFAULT_GLOBAL_SCRAPE_TIMEOUT
    evaluation_interval: Duration = DEFAULT_EVALUATION_INTERVAL
    external_labels: Mapping[str, str] = field(default_factory=dict)
    query_log_file: str | None = None
    # Limits every scrape config inherits unless it sets its own (0 = none).
    body_size_limit: int = 0
    sample_limit: int = 0
    target_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    keep_dropped_targets: int = 0


@dataclass(frozen=True, slots=True)
class ScrapeConfig:
    """One scrape job. Limits are 0 for "no limit"; ``body_size_limit`` is in bytes.

    ``bearer_token``/``bearer_token_file`` are the legacy spellings; the loader
    turns them into ``authorization`` as Prometheus does, so the HTTP client
    only needs to look at ``basic_auth`` and ``authorization``.
    """

    job_name: str
    scrape_interval: Duration = DEFAULT_GLOBAL_SCRAPE_INTERVAL
    scrape_timeout: Duration = DEFAULT_GLOBAL_SCRAPE_TIMEOUT
    metrics_path: str = "/metrics"
    scheme: str = "http"
    params: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    honor_labels: bool = False
    honor_timestamps: bool = True
    basic_auth: BasicAuth | None = None
    authorization: Authorization | None = None
    bearer_token: Secret | None = None
    bearer_token_file: str | None = None
    tls_config: TLSConfig = field(default_factory=TLSConfig)
    proxy_url: str | None = None
    follow_redirects: bool = True
    enable_http2: bool = True
    enable_compression: bool = True
    static_configs: tuple[StaticConfig, ...] = ()
    file_sd_configs: tuple[FileSDConfig, ...] = ()
    relabel_configs: tuple[RelabelConfig, ...] = ()
    metric_relabel_configs: tuple[RelabelConfig, ...] = ()
    sample_limit: int = 0
    label_limit: int = 0
    label_name_length_limit: int = 0
    label_value_length_limit: int = 0
    body_size_limit: int = 0
    target_limit: int = 0
    keep_dropped_targets: int = 0


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Vigil's own ``storage:`` section (Prometheus's ``storage:`` is ignored).

    ``retention_time`` None means the server's default; ``retention_size`` is
    bytes, 0 for no size bound.
    """

    retention_time: Duration | None = None
    retention_size: int = 0


@dataclass(frozen=True, slots=True)
class VigilConfig:
    """The whole file. ``ignored`` names the top-level sections read but not used."""

    global_config: GlobalConfig = field(default_factory=GlobalConfig)
    scrape_configs: tuple[ScrapeConfig, ...] = ()
    storage: StorageConfig = field(default_factory=StorageConfig)
    rule_files: tuple[str, ...] = ()  # absolute patterns; globs in the last element
    ignored: tuple[str, ...] = ()
    source: str | None = None

    def scrape_config(self, job_name: str) -> ScrapeConfig | None:
        for sc in self.scrape_configs:
            if sc.job_name == job_name:
                return sc
        return None
