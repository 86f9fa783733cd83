"""The functions Prometheus gives alerting and console templates.

Ported from ``template/template.go`` and ``prometheus/common``'s template
helpers, with the same output formats: ``humanize(1234567)`` is ``1.235M``,
``humanizeDuration(90061)`` is ``1d 1h 1m 1s``, ``humanizePercentage(0.1234)``
is ``12.34%``. Regular expressions are RE2 (google-re2), like Go's.
"""

from __future__ import annotations

import ipaddress
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote_plus, urlsplit

import re2

from vigil.config.units import parse_duration
from vigil.gotmpl.fmt import sprintf
from vigil.gotmpl.gotime import GoDuration, GoTime
from vigil.gotmpl.values import go_type_name, sprint_value

__all__ = [
    "QueryFunc",
    "QueryResultSample",
    "convert_to_float",
    "humanize",
    "humanize1024",
    "humanize_duration",
    "humanize_percentage",
    "humanize_timestamp",
    "prometheus_funcs",
    "re_replace_all",
    "regex_replace_all",
    "strip_domain",
    "strip_port",
    "title",
]


@dataclass(frozen=True, slots=True)
class QueryResultSample:
    """One sample of a ``query`` result, as templates see it: ``.Labels`` and ``.Value``."""

    Labels: Mapping[str, str] = field(default_factory=dict)
    Value: float = 0.0


QueryFunc = Callable[[str], Sequence[QueryResultSample]]


def _g4(v: float) -> str:
    return sprintf("%.4g", [v])


def convert_to_float(i: Any) -> float:
    """Prometheus's ``ConvertToFloat``: floats, ints, numeric strings and durations (seconds)."""
    if isinstance(i, GoDuration):
        return i.Seconds()
    if isinstance(i, bool):
        raise ValueError("can't convert bool to float")
    if isinstance(i, float):
        return i
    if isinstance(i, int):
        return float(i)
    if isinstance(i, str):
        return _parse_float(i)
    raise ValueError(f"can't convert {go_type_name(i)} to float")


def _parse_float(s: str) -> float:
    """Go's ``strconv.ParseFloat(s, 64)``."""
    text = s
    if text != text.strip() or not text or "__" in text:
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": invalid syntax')
    lower = text.lower().lstrip("+-")
    try:
        if lower in ("inf", "infinity"):
            return float(text[0] + "inf") if text[0] in "+-" else math.inf
        if lower == "nan":
            return math.nan
        if lower.startswith("0x"):
            return float.fromhex(text.replace("_", ""))
        if "_" in text:
            raise ValueError
        return float(text)
    except (ValueError, OverflowError):
        raise ValueError(f'strconv.ParseFloat: parsing "{s}": invalid syntax') from None


def humanize(i: Any) -> str:
    v = convert_to_float(i)
    if v == 0 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    if abs(v) >= 1:
        prefix = ""
        for p in ("k", "M", "G", "T", "P", "E", "Z", "Y"):
            if abs(v) < 1000:
                break
            prefix = p
            v /= 1000
        return _g4(v) + prefix
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return _g4(v) + prefix


def humanize1024(i: Any) -> str:
    v = convert_to_float(i)
    if abs(v) <= 1 or math.isnan(v) or math.isinf(v):
        return _g4(v)
    prefix = ""
    for p in ("ki", "Mi", "Gi", "Ti", "Pi", "Ei", "Zi", "Yi"):
        if abs(v) < 1024:
            break
        prefix = p
        v /= 1024
    return _g4(v) + prefix


def humanize_duration(i: Any) -> str:
    """``humanizeDuration``: ``90061`` -> ``1d 1h 1m 1s``, ``0.0012`` -> ``1.2ms``."""
    v = convert_to_float(i)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    if v == 0:
        return _g4(v) + "s"
    if abs(v) >= 1:
        sign = ""
        if v < 0:
            sign = "-"
            v = -v
        duration = int(v)
        seconds = duration % 60
        minutes = (duration // 60) % 60
        hours = (duration // 3600) % 24
        days = duration // 86400
        if days:
            return f"{sign}{days}d {hours}h {minutes}m {seconds}s"
        if hours:
            return f"{sign}{hours}h {minutes}m {seconds}s"
        if minutes:
            return f"{sign}{minutes}m {seconds}s"
        return f"{sign}{_g4(v)}s"
    prefix = ""
    for p in ("m", "u", "n", "p", "f", "a", "z", "y"):
        if abs(v) >= 1:
            break
        prefix = p
        v *= 1000
    return f"{_g4(v)}{prefix}s"


def humanize_percentage(i: Any) -> str:
    return _g4(convert_to_float(i) * 100) + "%"


def _float_to_time(v: float) -> GoTime:
    if math.isnan(v) or math.isinf(v):
        raise ValueError("value is NaN or Inf")
    ns = v * 1e9
    if ns > 2.0**63 - 1 or ns < -(2.0**63):
        raise ValueError(
            f"{sprint_value(v)} cannot be represented as a nanoseconds timestamp since it overflows int64"
        )
    # model.TimeFromUnixNano keeps milliseconds (Go's integer division truncates).
    nanos = int(ns)
    millis = abs(nanos) // 1_000_000 * (1 if nanos >= 0 else -1)
    return GoTime(millis * 1_000_000)


def humanize_timestamp(i: Any) -> str:
    if isinstance(i, GoTime):
        return str(i)
    v = convert_to_float(i)
    if math.isnan(v) or math.isinf(v):
        return _g4(v)
    return str(_float_to_time(v))


def to_time(i: Any) -> GoTime:
    return _float_to_time(convert_to_float(i))


def title(s: str) -> str:
    """Upper-case the first letter of every word, leave the rest (``cases.NoLower``)."""
    out: list[str] = []
    prev_word = False
    for c in s:
        if c.isalnum() or c in "_'":
            out.append(c if prev_word else c.upper())
            prev_word = True
        else:
            out.append(c)
            prev_word = False
    return "".join(out)


def _compile(pattern: str) -> Any:
    try:
        return re2.compile(pattern)
    except re2.error as exc:
        raise ValueError(f"error parsing regexp: {exc}: `{pattern}`") from None


def match(pattern: str, text: str) -> bool:
    return _compile(pattern).search(text) is not None


def _expand(template: str, m: Any, names: Mapping[str, int]) -> str:
    """Go's ``Regexp.Expand``: ``$1``, ``${1}``, ``$name``, ``${name}``, ``$$``."""
    out: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            out.append(template[i:])
            break
        out.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            out.append("$")
            i += 1
            continue
        name = ""
        if i < n and template[i] == "{":
            close = template.find("}", i + 1)
            name = template[i + 1 : close] if close > 0 else ""
            if close < 0 or not name or not all(c.isalnum() or c == "_" for c in name):
                out.append("$")  # malformed: Go keeps the "$" literally
                continue
            i = close + 1
        else:
            k = i
            while k < n and (template[k].isalnum() or template[k] == "_"):
                k += 1
            name = template[i:k]
            if not name:
                out.append("$")
                continue
            i = k
        group = int(name) if name.isdigit() else names.get(name)
        if group is not None and group <= m.re.groups:
            value = m.group(group)
            if value is not None:
                out.append(value)
    return "".join(out)


def re_replace_all(pattern: str, repl: str, text: str) -> str:
    """Go's ``regexp.MustCompile(pattern).ReplaceAllString(text, repl)``."""
    return regex_replace_all(_compile(pattern), repl, text)


def regex_replace_all(regex: Any, repl: str, text: str) -> str:
    """Go's ``regex.ReplaceAllString(text, repl)`` for a compiled RE2 ``regex``."""
    names = dict(regex.groupindex)
    out: list[str] = []
    last_end = 0
    search = 0
    end = len(text)
    while search <= end:
        m = regex.search(text, search)
        if m is None:
            break
        a, b = m.span()
        out.append(text[last_end:a])
        # No replacement for an empty match right after the previous match.
        if b > last_end or a == 0:
            out.append(_expand(repl, m, names))
        last_end = b
        search = search + 1 if search + 1 > b else b
    out.append(text[last_end:])
    return "".join(out)


def _split_host_port(host_port: str) -> tuple[str, str]:
    """Go's ``net.SplitHostPort``; ``ValueError`` where Go returns an error."""
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0:
            raise ValueError("missing ']' in address")
        rest = host_port[end + 1 :]
        if not rest.startswith(":"):
            raise ValueError("missing port in address")
        host = host_port[1:end]
        port = rest[1:]
        if ":" in port:
            raise ValueError("too many colons in address")
        return host, port
    idx = host_port.rfind(":")
    if idx < 0:
        raise ValueError("missing port in address")
    host = host_port[:idx]
    if ":" in host:
        raise ValueError("too many colons in address")
    return host, host_port[idx + 1 :]


def strip_port(host_port: str) -> str:
    try:
        return _split_host_port(host_port)[0]
    except ValueError:
        return host_port


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def strip_domain(host_port: str) -> str:
    try:
        host, port = _split_host_port(host_port)
    except ValueError:
        host, port = host_port, ""
    if _is_ip(host):
        return host_port
    host = host.split(".")[0]
    if port:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return host


def parse_duration_seconds(d: str) -> float:
    return parse_duration(d) / 1000.0


def graph_link(expr: str) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=0"


def table_link(expr: str) -> str:
    return f"/graph?g0.expr={quote_plus(expr, safe='')}&g0.tab=1"


def first(v: Sequence[Any]) -> Any:
    if len(v) > 0:
        return v[0]
    raise ValueError("first() called on vector with no elements")


def _labels_of(s: Any) -> Mapping[str, str]:
    labels = getattr(s, "Labels", None)
    if labels is None and isinstance(s, Mapping):
        labels = s.get("Labels")
    if labels is None:
        raise ValueError(f"wrong type for value; expected *template.sample; got {go_type_name(s)}")
    return labels  # type: ignore[no-any-return]


def label(name: str, s: Any) -> str:
    return _labels_of(s).get(name, "")


def value(s: Any) -> float:
    v = getattr(s, "Value", None)
    if v is None:
        raise ValueError(f"wrong type for value; expected *template.sample; got {go_type_name(s)}")
    return float(v)


def strvalue(s: Any) -> str:
    return _labels_of(s).get("__value__", "")


def sort_by_label(name: str, v: Sequence[Any]) -> list[Any]:
    return sorted(v, key=lambda s: _labels_of(s).get(name, ""))


def args(*a: Any) -> dict[str, Any]:
    return {f"arg{i}": x for i, x in enumerate(a)}


def prometheus_funcs(
    query: QueryFunc | None = None, external_url: str = ""
) -> dict[str, Callable[..., Any]]:
    """The function map of a Prometheus rule template.

    ``query`` runs an instant PromQL query at the evaluation time (the caller
    binds the time and engine); without one, ``query`` fails with a clear
    reason. ``external_url`` feeds ``externalURL`` and ``pathPrefix``.
    """

    def run_query(q: str) -> list[QueryResultSample]:
        if query is None:
            raise ValueError("no query engine available to templates")
        return list(query(q))

    path = urlsplit(external_url).path

    return {
        "query": run_query,
        "first": first,
        "label": label,
        "value": value,
        "strvalue": strvalue,
        "args": args,
        "reReplaceAll": re_replace_all,
        "safeHtml": lambda text: text,
        "match": match,
        "title": title,
        "toUpper": lambda s: s.upper(),
        "toLower": lambda s: s.lower(),
        "graphLink": graph_link,
        "tableLink": table_link,
        "sortByLabel": sort_by_label,
        "stripPort": strip_port,
        "stripDomain": strip_domain,
        "humanize": humanize,
        "humanize1024": humanize1024,
        "humanizeDuration": humanize_duration,
        "humanizePercentage": humanize_percentage,
        "humanizeTimestamp": humanize_timestamp,
        "toTime": to_time,
        "pathPrefix": lambda: path,
        "externalURL": lambda: external_url,
        "parseDuration": parse_duration_seconds,
    }
