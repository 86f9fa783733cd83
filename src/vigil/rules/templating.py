"""Alert label and annotation templates, expanded as Prometheus does.

Prometheus prepends four convenience variables to every template of an
alerting rule, names it ``__alert_<alertname>`` and executes it with
``missingkey=zero``; a template that fails to expand leaves
``<error expanding template: ...>`` in its place. The Go template engine is
:mod:`vigil.gotmpl`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vigil.gotmpl import Template, TemplateError, TemplateExecError
from vigil.gotmpl.prometheus import QueryResultSample, prometheus_funcs
from vigil.model import Labels

__all__ = ["PREAMBLE", "AlertTemplateData", "available", "check", "expand"]

PREAMBLE = (
    "{{$labels := .Labels}}"
    "{{$externalLabels := .ExternalLabels}}"
    "{{$externalURL := .ExternalURL}}"
    "{{$value := .Value}}"
)

TemplateQuery = Callable[[str], list[tuple[Labels, float]]]


@dataclass
class AlertTemplateData:
    """What an alert template sees as ``.``."""

    Labels: Mapping[str, str] = field(default_factory=dict)
    ExternalLabels: Mapping[str, str] = field(default_factory=dict)
    ExternalURL: str = ""
    Value: float = 0.0


def available() -> bool:
    """Whether the template engine is there (it is, since vigil.gotmpl landed)."""
    return True


def check(text: str, name: str) -> str | None:
    """Why ``text`` (with the preamble) does not parse as a template, or None."""
    try:
        Template(name, funcs=prometheus_funcs(), missingkey="zero").parse(PREAMBLE + text)
    except TemplateError as exc:
        return str(exc)
    return None


def expand(
    text: str,
    name: str,
    data: AlertTemplateData,
    *,
    query: TemplateQuery | None = None,
    external_url: str = "",
) -> str:
    """``text`` expanded over ``data``; an error leaves ``<error expanding template: ...>``."""
    if "{{" not in text:
        return text

    def run_query(q: str) -> list[QueryResultSample]:
        assert query is not None
        return [QueryResultSample(lb.to_dict(), v) for lb, v in query(q)]

    funcs = prometheus_funcs(
        query=run_query if query is not None else None, external_url=external_url
    )
    try:
        tmpl = Template(name, funcs=funcs, missingkey="zero").parse(PREAMBLE + text)
        return tmpl.execute(data)
    except (TemplateError, TemplateExecError) as exc:
        return f"<error expanding template: {exc}>"
    except Exception as exc:  # a template function that failed in an unexpected way
        return f"<error expanding template: {exc}>"
