"""Alertmanager's template functions (``toUpper``, ``reReplaceAll``, ``date``, ``tz``, ``since``...)."""

from __future__ import annotations

import html as htmllib
import time
import urllib.parse
import zoneinfo
from collections.abc import Callable, Iterable
from datetime import UTC, tzinfo
from typing import Any

import re2

from vigil.gotmpl.gotime import GoDuration, GoTime
from vigil.gotmpl.prometheus import humanize_duration, regex_replace_all
from vigil.notify.template_data import SafeHTML

__all__ = ["template_funcs"]


def _title(text: str) -> str:
    """Go's ``strings.Title``: upper-case the first letter of every word."""

    def separator(c: str) -> bool:
        if c.isascii():
            return not (c.isalnum() or c == "_")
        if c.isalpha() or c.isdigit():
            return False
        return c.isspace()

    out: list[str] = []
    prev = " "
    for c in text:
        out.append(c.upper() if separator(prev) else c)
        prev = c
    return "".join(out)


def _url_unescape(text: str) -> str:
    """Go's ``url.QueryUnescape``: ``+`` is a space, a bad ``%`` escape is an error."""
    i = text.find("%")
    while i != -1:
        escape = text[i : i + 3]
        if len(escape) < 3 or any(c not in "0123456789abcdefABCDEF" for c in escape[1:]):
            raise ValueError(f'invalid URL escape "{escape}"')
        i = text.find("%", i + 3)
    return urllib.parse.unquote_plus(text)


class _Regexes:
    """A bounded cache of compiled RE2 patterns, owned by one template set."""

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    def get(self, pattern: str) -> Any:
        compiled = self._cache.get(pattern)
        if compiled is None:
            try:
                compiled = re2.compile(pattern)
            except re2.error as exc:
                raise ValueError(f"error parsing regexp {pattern!r}: {exc}") from None
            if len(self._cache) > 256:
                self._cache.clear()
            self._cache[pattern] = compiled
        return compiled

    def match(self, pattern: str, text: str) -> bool:
        return self.get(pattern).search(str(text)) is not None

    def replace_all(self, pattern: str, repl: str, text: str) -> str:
        """Go's ``ReplaceAllString`` (no empty match right after a previous match)."""
        return regex_replace_all(self.get(pattern), str(repl), str(text))


def template_funcs(clock: Callable[[], float] = time.time) -> dict[str, Callable[..., Any]]:
    """Alertmanager's template functions; ``since`` measures against ``clock``."""
    regexes = _Regexes()

    def join(sep: str, items: Iterable[Any]) -> str:
        return str(sep).join(str(i) for i in items)

    def date(layout: str, t: GoTime) -> str:
        return t.Format(layout)

    def tz(name: str, t: GoTime) -> GoTime:
        try:
            zone: tzinfo = UTC if name in ("", "UTC") else zoneinfo.ZoneInfo(name)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {name}") from None
        return t.In(zone)

    def since(t: GoTime) -> GoDuration:
        return GoDuration.from_seconds(clock() - t.unix_seconds())

    def html(*args: Any) -> str:
        text = "".join(str(a) for a in args)
        if len(args) == 1 and isinstance(args[0], SafeHTML):
            return text
        return htmllib.escape(text, quote=True).replace("&#x27;", "&#39;")

    return {
        "toUpper": lambda s: str(s).upper(),
        "toLower": lambda s: str(s).lower(),
        "title": lambda s: _title(str(s)),
        "trimSpace": lambda s: str(s).strip(),
        "join": join,
        "match": regexes.match,
        "reReplaceAll": regexes.replace_all,
        "safeHtml": lambda s: SafeHTML(s),
        "safeUrl": lambda s: str(s),
        "urlUnescape": _url_unescape,
        "stringSlice": lambda *s: [str(x) for x in s],
        "date": date,
        "tz": tz,
        "since": since,
        "humanizeDuration": humanize_duration,
        "html": html,
    }
