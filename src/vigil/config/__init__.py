"""Typed configuration read from YAML with positions.

:func:`load_config` / :func:`parse_config` read a ``vigil.yml`` or an unchanged
``prometheus.yml`` (its ``global`` and ``scrape_configs`` sections; other
Prometheus sections are accepted and ignored). Errors are :class:`ConfigError`,
which lists every problem found as ``file:line:col: field.path: problem``.
"""

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.loader import load_config, parse_config
from vigil.config.types import (
    Authorization,
    BasicAuth,
    FileSDConfig,
    GlobalConfig,
    RelabelAction,
    RelabelConfig,
    ScrapeConfig,
    Secret,
    StaticConfig,
    StorageConfig,
    TLSConfig,
    VigilConfig,
)
from vigil.config.units import Duration, format_duration, parse_duration, parse_size

__all__ = [
    "Authorization",
    "BasicAuth",
    "ConfigError",
    "ConfigProblem",
    "Duration",
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
    "format_duration",
    "load_config",
    "parse_config",
    "parse_duration",
    "parse_size",
]
