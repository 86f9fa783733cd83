"""Alertmanager's notification templates: the data they see, their functions, the defaults.

Integrations render their texts (Slack titles, e-mail subjects, PagerDuty
summaries...) with Go text/template (:mod:`vigil.gotmpl`) over :class:`Data`,
the shape of Alertmanager's ``template.Data`` (:mod:`vigil.notify.template_data`),
with Alertmanager's functions (:mod:`vigil.notify.template_funcs`).

:class:`TemplateSet` holds the default templates (:data:`DEFAULT_TEMPLATES`,
in :mod:`vigil.notify.template_default`) with the user's ``templates:`` files
parsed on top, so a user file can redefine ``slack.default.title`` and so on.

Label and annotation values are data, never markup: for HTML (the e-mail
body) :meth:`TemplateSet.data` is built with ``html=True``, which escapes every
value at the source, so no template, default or user-written, can emit a
label's markup unescaped.
"""

from __future__ import annotations

import glob as globlib
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from vigil import gotmpl
from vigil.config.errors import ConfigError, ConfigProblem
from vigil.gotmpl.gotime import GoDuration, GoTime, go_format, rfc3339nano
from vigil.model import VigilError
from vigil.notify.template_data import KV, Alert, Alerts, Data, Pair, Pairs, SafeHTML
from vigil.notify.template_default import DEFAULT_TEMPLATES
from vigil.notify.template_funcs import template_funcs

__all__ = [
    "DEFAULT_TEMPLATES",
    "KV",
    "Alert",
    "Alerts",
    "Data",
    "GoDuration",
    "GoTime",
    "Pair",
    "Pairs",
    "SafeHTML",
    "TemplateRenderError",
    "TemplateSet",
    "go_format",
    "rfc3339nano",
    "template_funcs",
]


# -- the template set -------------------------------------------------------------


class TemplateRenderError(VigilError):
    """A notification text failed to render: a template error, with the text's field."""


_ROOT = "__vigil_templates"
_SNIPPET = "__vigil_text"
_MAX_SNIPPETS = 512


class TemplateSet:
    """The default templates plus the user's template files, ready to render notifications.

    Build it with :meth:`load` (from the ``templates:`` globs of
    ``alertmanager.yml``) or :meth:`default`; then :meth:`data` makes the data
    of one notification and :meth:`expand` renders a config field's template
    text over it, as Alertmanager's ``ExecuteTextString`` does.
    """

    def __init__(
        self, base: gotmpl.Template, *, files: Sequence[str] = (), clock: Callable[[], float]
    ) -> None:
        self._base = base
        self._clock = clock
        self.files: tuple[str, ...] = tuple(files)
        self._snippets: dict[str, gotmpl.Template] = {}

    @classmethod
    def default(cls, *, clock: Callable[[], float] = time.time) -> TemplateSet:
        return cls.load((), clock=clock)

    @classmethod
    def load(
        cls,
        patterns: Iterable[str] = (),
        *,
        base_dir: str | Path | None = None,
        clock: Callable[[], float] = time.time,
    ) -> TemplateSet:
        """Parse the defaults, then every file matching ``patterns`` (globs, sorted per pattern).

        Relative patterns are taken from ``base_dir`` (the config file's
        directory). A pattern that matches nothing is not an error (as in
        Alertmanager); a file that cannot be read or parsed is a
        :class:`ConfigError` naming the file and the line:col of the problem.
        """
        base = gotmpl.Template(_ROOT, funcs=template_funcs(clock), missingkey="zero")
        base.parse(DEFAULT_TEMPLATES, source="<vigil default templates>")
        problems: list[ConfigProblem] = []
        files: list[str] = []
        for pattern in patterns:
            full = pattern
            if base_dir is not None and not Path(pattern).is_absolute():
                full = str(Path(base_dir) / pattern)
            for name in sorted(globlib.glob(full)):
                path = Path(name)
                if path.is_dir():
                    continue
                try:
                    text = path.read_text(encoding="utf-8")
                except (OSError, UnicodeDecodeError) as exc:
                    problems.append(ConfigProblem(f"cannot read template: {exc}", source=name))
                    continue
                try:
                    base.parse(text, source=name)
                except gotmpl.TemplateError as exc:
                    problems.append(ConfigProblem(exc.message, position=exc.position, source=name))
                    continue
                files.append(name)
        if problems:
            raise ConfigError(problems)
        return cls(base, files=files, clock=clock)

    def names(self) -> list[str]:
        """The names of every defined template."""
        return sorted(n for n in self._base.names() if n != _ROOT)

    data = staticmethod(Data.build)
    """:meth:`Data.build`; ``html=True`` for texts rendered into HTML (escaped data)."""

    def execute(self, name: str, data: Any) -> str:
        """Run the defined template ``name`` over ``data``."""
        try:
            return self._base.execute(data, name=name)
        except (gotmpl.TemplateError, gotmpl.TemplateExecError) as exc:
            raise TemplateRenderError(f"template {name!r}: {exc}") from exc

    def expand(self, text: str, data: Any, *, field: str = "") -> str:
        """Render ``text`` (a config field's template, e.g. ``{{ template "x" . }}``) over ``data``.

        Empty text renders as empty. Errors raise :class:`TemplateRenderError`
        naming ``field``.
        """
        if not text:
            return ""
        if "{{" not in text:
            return text
        try:
            compiled = self._snippets.get(text)
            if compiled is None:
                compiled = self._base.clone()
                compiled.parse(text, source=field or None)
                if len(self._snippets) >= _MAX_SNIPPETS:
                    self._snippets.clear()
                self._snippets[text] = compiled
            return compiled.execute(data)
        except (gotmpl.TemplateError, gotmpl.TemplateExecError) as exc:
            where = f"{field}: " if field else ""
            raise TemplateRenderError(f"{where}{exc}") from exc
