"""Reading one entry of ``scrape_configs`` (and its relabel rules, auth, TLS, discovery)."""

from __future__ import annotations

import re
from typing import Any

import yaml

from vigil.config.nodes import Field, NodeReader
from vigil.config.types import (
    DEFAULT_FILE_SD_REFRESH,
    Authorization,
    BasicAuth,
    FileSDConfig,
    GlobalConfig,
    RelabelAction,
    RelabelConfig,
    ScrapeConfig,
    Secret,
    StaticConfig,
    TLSConfig,
)
from vigil.model import is_valid_label_name
from vigil.model.matchers import RegexError, compile_anchored

__all__ = ["read_relabel_configs", "read_scrape_config"]

_SCRAPE_KEYS = {
    "job_name",
    "honor_labels",
    "honor_timestamps",
    "params",
    "scrape_interval",
    "scrape_timeout",
    "metrics_path",
    "scheme",
    "body_size_limit",
    "sample_limit",
    "target_limit",
    "label_limit",
    "label_name_length_limit",
    "label_value_length_limit",
    "keep_dropped_targets",
    "basic_auth",
    "authorization",
    "bearer_token",
    "bearer_token_file",
    "tls_config",
    "proxy_url",
    "follow_redirects",
    "enable_http2",
    "enable_compression",
    "static_configs",
    "file_sd_configs",
    "relabel_configs",
    "metric_relabel_configs",
}
# Prometheus scrape settings vigil reads but does not act on (plus every *_sd_configs).
_SCRAPE_IGNORED = {
    "oauth2",
    "no_proxy",
    "proxy_from_environment",
    "proxy_connect_header",
    "http_headers",
    "track_timestamps_staleness",
    "scrape_protocols",
    "fallback_scrape_protocol",
    "scrape_classic_histograms",
    "scrape_native_histograms",
    "always_scrape_classic_histograms",
    "convert_classic_histograms_to_nhcb",
    "native_histogram_bucket_limit",
    "native_histogram_min_bucket_factor",
    "metric_name_validation_scheme",
    "metric_name_escaping_scheme",
    "scrape_failure_log_file",
    "extra_scrape_metrics",
}
_RELABEL_KEYS = (
    "source_labels",
    "separator",
    "regex",
    "modulus",
    "target_label",
    "replacement",
    "action",
)
_TLS_KEYS = (
    "ca_file",
    "cert_file",
    "key_file",
    "ca",
    "cert",
    "key",
    "server_name",
    "insecure_skip_verify",
    "min_version",
)
_TLS_IGNORED = ("ca_ref", "cert_ref", "key_ref", "max_version")
_TLS_VERSIONS = ("TLS10", "TLS11", "TLS12", "TLS13")
# Prometheus's rule for file_sd paths: a '*' only in the last element, .json/.yml/.yaml.
_FILE_SD_NAME = re.compile(r"^[^*]*(\*[^/]*)?\.(json|yml|yaml|JSON|YML|YAML)$")


def _get(fields: dict[str, Field], name: str) -> yaml.Node | None:
    f = fields.get(name)
    return f.value if f is not None else None


def read_relabel_configs(r: NodeReader, node: yaml.Node | None, path: str) -> list[RelabelConfig]:
    out: list[RelabelConfig] = []
    for i, item in enumerate(r.sequence(node, path) or ()):
        p = f"{path}[{i}]"
        if r.is_null(item):
            r.error(item, p, "empty or null relabeling rule")
            continue
        rc = read_relabel_config(r, item, p)
        if rc is not None:
            out.append(rc)
    return out


def read_relabel_config(r: NodeReader, node: yaml.Node, path: str) -> RelabelConfig | None:
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _RELABEL_KEYS)
    ok = True
    kw: dict[str, Any] = {}
    if "source_labels" in fields:
        f = fields["source_labels"]
        names = []
        for name, item in r.string_list(f.value, f.path):
            if not is_valid_label_name(name):
                r.error(item, f.path, f"{name!r} is not a valid label name")
                ok = False
            names.append(name)
        kw["source_labels"] = tuple(names)
    for key in ("separator", "target_label", "replacement"):
        if key in fields:
            text = r.string(fields[key].value, fields[key].path)
            if text is not None:
                kw[key] = text
    if "regex" in fields:
        f = fields["regex"]
        text = r.string(f.value, f.path)
        regex = "" if text is None else text
        try:
            compile_anchored(regex)
        except RegexError as exc:
            r.error(f.value, f.path, str(exc))
            ok = False
        kw["regex"] = regex
    if "modulus" in fields:
        modulus = r.uint(fields["modulus"].value, fields["modulus"].path)
        if modulus is not None:
            kw["modulus"] = modulus
    if "action" in fields:
        f = fields["action"]
        text = r.string(f.value, f.path)
        if not text:
            r.error(f.value, f.path, "relabel action cannot be empty")
            ok = False
        else:
            try:
                kw["action"] = RelabelAction(text.lower())
            except ValueError:
                choices = ", ".join(a.value for a in RelabelAction)
                r.error(f.value, f.path, f"unknown relabel action {text!r} (one of {choices})")
                ok = False
    if not ok:
        return None
    try:
        return RelabelConfig(**kw)
    except ValueError as exc:
        r.error(node, path, str(exc))
        return None


def _basic_auth(r: NodeReader, f: Field) -> BasicAuth | None:
    fields = r.mapping(f.value, f.path)
    if fields is None:
        return None
    r.check_keys(fields, ("username", "username_file", "password", "password_file"))
    password = r.string(_get(fields, "password"), _join(f, "password"))
    password_file = r.string(_get(fields, "password_file"), _join(f, "password_file"))
    username = r.string(_get(fields, "username"), _join(f, "username")) or ""
    username_file = r.string(_get(fields, "username_file"), _join(f, "username_file"))
    if password and password_file:
        r.error(
            f.value, f.path, "at most one of basic_auth password & password_file must be configured"
        )
    if username and username_file:
        r.error(
            f.value, f.path, "at most one of basic_auth username & username_file must be configured"
        )
    return BasicAuth(
        username=username,
        password=Secret(password) if password else None,
        password_file=r.file_path(password_file) if password_file else None,
        username_file=r.file_path(username_file) if username_file else None,
    )


def _authorization(r: NodeReader, f: Field) -> Authorization | None:
    fields = r.mapping(f.value, f.path)
    if fields is None:
        return None
    r.check_keys(fields, ("type", "credentials", "credentials_file"))
    kind = r.string(_get(fields, "type"), _join(f, "type")) or "Bearer"
    creds = r.string(_get(fields, "credentials"), _join(f, "credentials"))
    creds_file = r.string(_get(fields, "credentials_file"), _join(f, "credentials_file"))
    if kind.lower() == "basic":
        r.error(
            fields["type"].value,
            _join(f, "type"),
            'authorization type cannot be set to "basic", use "basic_auth" instead',
        )
    if creds and creds_file:
        r.error(
            f.value,
            f.path,
            "at most one of authorization credentials & credentials_file must be configured",
        )
    return Authorization(
        type=kind,
        credentials=Secret(creds) if creds else None,
        credentials_file=r.file_path(creds_file) if creds_file else None,
    )


def _tls(r: NodeReader, f: Field) -> TLSConfig:
    fields = r.mapping(f.value, f.path)
    if fields is None:
        return TLSConfig()
    r.check_keys(fields, _TLS_KEYS, _TLS_IGNORED)
    s: dict[str, str | None] = {
        k: r.string(_get(fields, k), _join(f, k)) for k in _TLS_KEYS if k != "insecure_skip_verify"
    }
    skip = r.boolean(_get(fields, "insecure_skip_verify"), _join(f, "insecure_skip_verify"))
    for a, b in (("ca", "ca_file"), ("cert", "cert_file"), ("key", "key_file")):
        if s[a] and s[b]:
            r.error(f.value, f.path, f"at most one of {a} and {b} must be configured")
    has_cert = bool(s["cert"] or s["cert_file"])
    has_key = bool(s["key"] or s["key_file"])
    if has_cert and not has_key:
        r.error(f.value, f.path, "a client certificate (cert/cert_file) needs a key (key/key_file)")
    if has_key and not has_cert:
        r.error(f.value, f.path, "a client key (key/key_file) needs a certificate (cert/cert_file)")
    if s["min_version"] and s["min_version"] not in _TLS_VERSIONS:
        r.error(
            fields["min_version"].value,
            _join(f, "min_version"),
            f"unknown TLS version {s['min_version']!r} (one of {', '.join(_TLS_VERSIONS)})",
        )
    files = {k: r.file_path(s[k] or "") or None for k in ("ca_file", "cert_file", "key_file")}
    return TLSConfig(
        ca_file=files["ca_file"],
        cert_file=files["cert_file"],
        key_file=files["key_file"],
        ca=s["ca"],
        cert=s["cert"],
        key=Secret(s["key"]) if s["key"] else None,
        server_name=s["server_name"],
        insecure_skip_verify=bool(skip),
        min_version=s["min_version"],
    )


def _join(f: Field, key: str) -> str:
    return f"{f.path}.{key}"


def _static_configs(r: NodeReader, f: Field, check_urls: bool) -> list[StaticConfig]:
    out = []
    for i, item in enumerate(r.sequence(f.value, f.path) or ()):
        p = f"{f.path}[{i}]"
        fields = r.mapping(item, p)
        if fields is None:
            continue
        r.check_keys(fields, ("targets", "labels"))
        targets = []
        for text, node in r.string_list(_get(fields, "targets"), f"{p}.targets"):
            if check_urls and "/" in text:
                r.error(node, f"{p}.targets", f"{text!r} is not a valid hostname")
            targets.append(text)
        labels = r.label_map(_get(fields, "labels"), f"{p}.labels")
        out.append(StaticConfig(targets=tuple(targets), labels=labels))
    return out


def _file_sd_configs(r: NodeReader, f: Field) -> list[FileSDConfig]:
    out = []
    for i, item in enumerate(r.sequence(f.value, f.path) or ()):
        p = f"{f.path}[{i}]"
        fields = r.mapping(item, p)
        if fields is None:
            continue
        r.check_keys(fields, ("files", "refresh_interval"))
        files = []
        for text, node in r.string_list(_get(fields, "files"), f"{p}.files"):
            if not _FILE_SD_NAME.match(text):
                r.error(node, f"{p}.files", f"path name {text!r} is not valid for file discovery")
            files.append(r.file_path(text))
        if not files:
            r.error(item, p, "file service discovery config must contain at least one path name")
        refresh = r.duration(_get(fields, "refresh_interval"), f"{p}.refresh_interval")
        out.append(FileSDConfig(tuple(files), refresh or DEFAULT_FILE_SD_REFRESH))
    return out


def _params(r: NodeReader, f: Field) -> dict[str, tuple[str, ...]]:
    fields = r.mapping(f.value, f.path)
    out: dict[str, tuple[str, ...]] = {}
    for name, pf in (fields or {}).items():
        out[name] = tuple(text for text, _ in r.string_list(pf.value, pf.path))
    return out


def read_scrape_config(
    r: NodeReader, node: yaml.Node, path: str, g: GlobalConfig
) -> ScrapeConfig | None:
    """One scrape config with the globals folded in; None (problems recorded) if unusable."""
    if r.is_null(node):
        r.error(node, path, "empty or null scrape config section")
        return None
    fields = r.mapping(node, path)
    if fields is None:
        return None
    r.check_keys(fields, _SCRAPE_KEYS, _SCRAPE_IGNORED)
    n_problems = len(r.problems)

    def val(name: str) -> yaml.Node | None:
        return _get(fields, name)

    def p(name: str) -> str:
        return f"{path}.{name}"

    job = r.string(val("job_name"), p("job_name"))
    if not job:
        r.error(
            node if "job_name" not in fields else val("job_name"),
            p("job_name"),
            "job_name is empty",
        )
    kw: dict[str, Any] = {}
    for name in (
        "honor_labels",
        "honor_timestamps",
        "follow_redirects",
        "enable_http2",
        "enable_compression",
    ):
        b = r.boolean(val(name), p(name))
        if b is not None:
            kw[name] = b
    metrics_path = r.string(val("metrics_path"), p("metrics_path"))
    if metrics_path is not None:
        kw["metrics_path"] = metrics_path
    scheme = r.string(val("scheme"), p("scheme"))
    if scheme is not None:
        if scheme not in ("http", "https"):
            r.error(val("scheme"), p("scheme"), f"scheme must be http or https, got {scheme!r}")
        kw["scheme"] = scheme
    if "params" in fields:
        kw["params"] = _params(r, fields["params"])

    interval = r.duration(val("scrape_interval"), p("scrape_interval"))
    timeout = r.duration(val("scrape_timeout"), p("scrape_timeout"))
    if not interval:
        interval = g.scrape_interval
    if timeout and timeout > interval:
        r.error(
            val("scrape_timeout"),
            p("scrape_timeout"),
            f"scrape timeout ({timeout}) greater than scrape interval ({interval}) "
            f"for scrape config with job name {job!r}",
        )
    if not timeout:
        timeout = min(g.scrape_timeout, interval)
    kw["scrape_interval"] = interval
    kw["scrape_timeout"] = timeout

    body = r.size(val("body_size_limit"), p("body_size_limit"))
    kw["body_size_limit"] = body or g.body_size_limit
    for name in (
        "sample_limit",
        "target_limit",
        "label_limit",
        "label_name_length_limit",
        "label_value_length_limit",
        "keep_dropped_targets",
    ):
        v = r.uint(val(name), p(name))
        kw[name] = v or getattr(g, name)

    _http_client(r, fields, path, kw)

    relabel = read_relabel_configs(r, val("relabel_configs"), p("relabel_configs"))
    kw["relabel_configs"] = tuple(relabel)
    kw["metric_relabel_configs"] = tuple(
        read_relabel_configs(r, val("metric_relabel_configs"), p("metric_relabel_configs"))
    )
    if "static_configs" in fields:
        check_urls = not fields.get("relabel_configs") or r.is_null(val("relabel_configs"))
        kw["static_configs"] = tuple(_static_configs(r, fields["static_configs"], check_urls))
    if "file_sd_configs" in fields:
        kw["file_sd_configs"] = tuple(_file_sd_configs(r, fields["file_sd_configs"]))

    if len(r.problems) > n_problems or not job:
        return None
    return ScrapeConfig(job_name=job, **kw)


def _http_client(r: NodeReader, fields: dict[str, Field], path: str, kw: dict[str, Any]) -> None:
    """Auth, TLS and proxy settings with Prometheus's "at most one of" rules."""
    basic = _basic_auth(r, fields["basic_auth"]) if "basic_auth" in fields else None
    auth = _authorization(r, fields["authorization"]) if "authorization" in fields else None
    token = r.string(_get(fields, "bearer_token"), f"{path}.bearer_token")
    token_file = r.string(_get(fields, "bearer_token_file"), f"{path}.bearer_token_file")
    if token and token_file:
        r.error(
            fields["bearer_token"].value,
            f"{path}.bearer_token",
            "at most one of bearer_token & bearer_token_file must be configured",
        )
    if basic is not None and (token or token_file):
        r.error(
            fields["basic_auth"].value,
            f"{path}.basic_auth",
            "at most one of basic_auth, oauth2, bearer_token & bearer_token_file must be configured",
        )
    if basic is not None and auth is not None:
        r.error(
            fields["authorization"].value,
            f"{path}.authorization",
            "at most one of basic_auth, oauth2 & authorization must be configured",
        )
    if auth is not None and (token or token_file):
        r.error(
            fields["authorization"].value,
            f"{path}.authorization",
            "authorization is not compatible with bearer_token & bearer_token_file",
        )
    if token:
        kw["bearer_token"] = Secret(token)
        auth = auth or Authorization(credentials=Secret(token))
    if token_file:
        kw["bearer_token_file"] = r.file_path(token_file)
        auth = auth or Authorization(credentials_file=r.file_path(token_file))
    if basic is not None:
        kw["basic_auth"] = basic
    if auth is not None:
        kw["authorization"] = auth
    if "tls_config" in fields:
        kw["tls_config"] = _tls(r, fields["tls_config"])
    proxy = r.string(_get(fields, "proxy_url"), f"{path}.proxy_url")
    if proxy:
        if not re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", proxy):
            r.error(
                fields["proxy_url"].value,
                f"{path}.proxy_url",
                f"{proxy!r}: missing protocol scheme",
            )
        kw["proxy_url"] = proxy
