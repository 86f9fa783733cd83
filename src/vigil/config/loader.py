"""Loading ``vigil.yml``: the top level, ``global`` and ``storage``; scrape jobs in scrape_section.

A ``prometheus.yml`` loads unchanged: its ``global`` and ``scrape_configs`` are
used, and the sections vigil does not implement (``rule_files``, ``alerting``,
``remote_write``, ...) are accepted and ignored with a logged note. Unknown
keys inside the sections vigil implements are errors, with a suggestion when
it looks like a typo. Every problem found is reported at once.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.nodes import Field, NodeReader, compose
from vigil.config.scrape_section import read_scrape_config
from vigil.config.types import (
    DEFAULT_EVALUATION_INTERVAL,
    DEFAULT_GLOBAL_SCRAPE_INTERVAL,
    DEFAULT_GLOBAL_SCRAPE_TIMEOUT,
    GlobalConfig,
    ScrapeConfig,
    StorageConfig,
    VigilConfig,
)

__all__ = ["load_config", "parse_config"]

log = logging.getLogger("vigil.config")

_TOP_KEYS = ("global", "scrape_configs", "storage", "rule_files")
# Prometheus sections that vigil reads past (later issues implement some of them).
_TOP_IGNORED = (
    "alerting",
    "remote_write",
    "remote_read",
    "tracing",
    "runtime",
    "otlp",
    "scrape_config_files",
)
_GLOBAL_KEYS = (
    "scrape_interval",
    "scrape_timeout",
    "evaluation_interval",
    "external_labels",
    "query_log_file",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
)
_GLOBAL_IGNORED = (
    "scrape_protocols",
    "rule_query_offset",
    "scrape_failure_log_file",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "scrape_native_histograms",
    "convert_classic_histograms_to_nhcb",
    "always_scrape_classic_histograms",
    "extra_scrape_metrics",
)
_LIMITS = (
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
)


def load_config(
    path: str | os.PathLike[str], *, logger: logging.Logger | None = None
) -> VigilConfig:
    """Read and validate the config file at ``path``.

    Relative file names inside (``password_file``, ``file_sd_configs`` files,
    TLS files) are resolved against the file's directory. Raises
    :class:`ConfigError` listing every problem, or ``ConfigError`` saying the
    file cannot be read.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8") as fh:
            text = fh.read()
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError(
            [ConfigProblem(f"cannot read config file: {reason}", "", None, name)]
        ) from None
    return parse_config(text, name, base_dir=os.path.dirname(os.path.abspath(name)), logger=logger)


def parse_config(
    text: str,
    filename: str | None = None,
    *,
    base_dir: str | None = None,
    logger: logging.Logger | None = None,
) -> VigilConfig:
    """Parse and validate config ``text``; ``filename`` is used in messages only.

    Ignored sections and settings are logged at INFO on ``logger`` (default
    ``vigil.config``) and listed in :attr:`VigilConfig.ignored`.
    """
    r = NodeReader(text, filename, base_dir)
    root = compose(text, filename)
    fields = r.mapping(root, "")
    if fields is None:
        raise ConfigError(r.problems)
    r.check_keys(fields, _TOP_KEYS, _TOP_IGNORED)
    g = _read_global(r, fields.get("global"))
    storage = _read_storage(r, fields.get("storage"))
    scrape_configs = _read_scrape_configs(r, fields.get("scrape_configs"), g)
    rule_files = _read_rule_files(r, fields.get("rule_files"))
    if r.problems:
        raise ConfigError(r.problems)
    out = logger or log
    for note in r.notes:
        out.info("config: %s", note)
    return VigilConfig(
        global_config=g,
        scrape_configs=tuple(scrape_configs),
        storage=storage,
        rule_files=rule_files,
        ignored=tuple(r.notes),
        source=filename,
    )


def _read_rule_files(r: NodeReader, f: Field | None) -> tuple[str, ...]:
    """Rule file patterns (globs in the last path element), made absolute against the config's folder."""
    if f is None:
        return ()
    out: list[str] = []
    for i, (pattern, node) in enumerate(r.string_list(f.value, "rule_files")):
        if not pattern:
            r.error(node, f"rule_files[{i}]", "empty file pattern")
            continue
        head = pattern.rpartition("/")[0]
        if any(c in head for c in "*?["):
            r.error(
                node,
                f"rule_files[{i}]",
                f"{pattern!r}: wildcards are only allowed in the last path element",
            )
            continue
        out.append(r.file_path(pattern))
    return tuple(out)


def _read_global(r: NodeReader, f: Field | None) -> GlobalConfig:
    if f is None:
        return GlobalConfig()
    fields = r.mapping(f.value, "global")
    if fields is None:
        return GlobalConfig()
    r.check_keys(fields, _GLOBAL_KEYS, _GLOBAL_IGNORED)

    def node(name: str) -> yaml.Node | None:
        x = fields.get(name)
        return x.value if x is not None else None

    interval = r.duration(node("scrape_interval"), "global.scrape_interval")
    timeout = r.duration(node("scrape_timeout"), "global.scrape_timeout")
    evaluation = r.duration(node("evaluation_interval"), "global.evaluation_interval")
    if not interval:
        interval = DEFAULT_GLOBAL_SCRAPE_INTERVAL
    if timeout and timeout > interval:
        r.error(
            node("scrape_timeout"),
            "global.scrape_timeout",
            f"global scrape timeout ({timeout}) greater than scrape interval ({interval})",
        )
    if not timeout:
        timeout = min(DEFAULT_GLOBAL_SCRAPE_TIMEOUT, interval)
    limits = {name: r.uint(node(name), f"global.{name}") or 0 for name in _LIMITS}
    return GlobalConfig(
        scrape_interval=interval,
        scrape_timeout=timeout,
        evaluation_interval=evaluation or DEFAULT_EVALUATION_INTERVAL,
        external_labels=r.label_map(node("external_labels"), "global.external_labels"),
        query_log_file=r.string(node("query_log_file"), "global.query_log_file"),
        body_size_limit=r.size(node("body_size_limit"), "global.body_size_limit") or 0,
        **limits,
    )


def _read_storage(r: NodeReader, f: Field | None) -> StorageConfig:
    """Vigil's ``retention_time``/``retention_size``, or Prometheus's ``tsdb.retention``."""
    if f is None:
        return StorageConfig()
    fields = r.mapping(f.value, "storage")
    if fields is None:
        return StorageConfig()
    r.check_keys(fields, ("retention_time", "retention_size", "tsdb"), ("exemplars",))
    time_node = fields.get("retention_time")
    size_node = fields.get("retention_size")
    if "tsdb" in fields:
        tsdb = r.mapping(fields["tsdb"].value, "storage.tsdb") or {}
        r.check_keys(tsdb, ("retention",), ("out_of_order_time_window",))
        if "retention" in tsdb:
            ret = r.mapping(tsdb["retention"].value, "storage.tsdb.retention") or {}
            r.check_keys(ret, ("time", "size"))
            time_node = time_node or ret.get("time")
            size_node = size_node or ret.get("size")
    retention = r.duration(time_node.value, time_node.path) if time_node else None
    size = r.size(size_node.value, size_node.path) if size_node else None
    return StorageConfig(retention_time=retention or None, retention_size=size or 0)


def _read_scrape_configs(r: NodeReader, f: Field | None, g: GlobalConfig) -> Iterable[ScrapeConfig]:
    if f is None:
        return []
    out: list[ScrapeConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(r.sequence(f.value, "scrape_configs") or ()):
        path = f"scrape_configs[{i}]"
        sc = read_scrape_config(r, item, path, g)
        job_node = _job_name_node(item)
        job = job_node.value if job_node is not None else None
        if job and job in seen:
            r.error(
                job_node,
                f"{path}.job_name",
                f"found multiple scrape configs with job name {job!r} "
                f"(first is scrape_configs[{seen[job]}])",
            )
            continue
        if job:
            seen[job] = i
        if sc is not None:
            out.append(sc)
    return out


def _job_name_node(node: yaml.Node) -> yaml.ScalarNode | None:
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.value == "job_name":
                return value if isinstance(value, yaml.ScalarNode) else None
    return None
