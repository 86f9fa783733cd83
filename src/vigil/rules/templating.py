"""Alert label and annotation templates, expanded as Prometheus does.

Prometheus prepends four convenience variables to every template of an
alerting rule, names it ``__alert_<alertname>`` and executes it with
``missingkey=zero``; a template that fails to expand leaves
``<error expanding template: ...>`` in its place. The Go template engine is
:mod:`vigil.gotmpl`.

Parsing is most of the cost of a small template, and a rule expands the same
texts for each of its alerts at every evaluation: :class:`RuleTemplates` keeps
them parsed, per rule.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from vigil.gotmpl import Template, TemplateError, TemplateExecError
from vigil.gotmpl.prometheus import QueryResultSample, prometheus_funcs
from vigil.model import Labels

__all__ = ["PREAMBLE", "AlertTemplateData", "RuleTemplates", "available", "check", "expand"]

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


class RuleTemplates:
    """The templates of one rule, each text parsed once and expanded many times.

    The output is :func:`expand`'s. The ``query`` function the templates call
    is bound per :meth:`expand` call (the evaluation's time), so one parse
    serves every evaluation; a text that does not parse keeps its error.
    Safe to share between threads (expansions of one instance run one at a time).
    """

    __slots__ = ("_lock", "_name", "_parsed", "_query", "external_url")

    def __init__(self, name: str, *, external_url: str = "") -> None:
        self._name = name
        self.external_url = external_url
        self._parsed: dict[str, Template | TemplateError] = {}
        self._query: TemplateQuery | None = None
        self._lock = threading.Lock()

    def _run_query(self, q: str) -> list[QueryResultSample]:
        query = self._query
        if query is None:
            raise ValueError("no query engine available to templates")
        return [QueryResultSample(lb.to_dict(), v) for lb, v in query(q)]

    def _template(self, text: str) -> Template | TemplateError:
        parsed = self._parsed.get(text)
        if parsed is None:
            funcs = prometheus_funcs(query=self._run_query, external_url=self.external_url)
            try:
                parsed = Template(self._name, funcs=funcs, missingkey="zero").parse(PREAMBLE + text)
            except TemplateError as exc:
                parsed = exc
            self._parsed[text] = parsed
        return parsed

    def expand(
        self, text: str, data: AlertTemplateData, *, query: TemplateQuery | None = None
    ) -> str:
        """``text`` expanded over ``data``; an error leaves ``<error expanding template: ...>``."""
        if "{{" not in text:
            return text
        with self._lock:
            tmpl = self._template(text)
            if isinstance(tmpl, TemplateError):
                return f"<error expanding template: {tmpl}>"
            self._query = query
            try:
                return tmpl.execute(data)
            except TemplateExecError as exc:
                return f"<error expanding template: {exc}>"
            except Exception as exc:  # a template function that failed in an unexpected way
                return f"<error expanding template: {exc}>"
            finally:
                self._query = None
