"""Relabelling with Prometheus's semantics (``model/relabel`` in Prometheus).

:func:`relabel` applies rules in order to a label set and returns the result,
or ``None`` when a ``keep``/``drop``/``keepequal``/``dropequal`` rule drops it.
Rules see the labels as the previous rules left them. Setting a label to the
empty string removes it. ``$1``, ``${1}``, ``$name`` and ``${name}`` in
``replacement`` and ``target_label`` expand like Go's ``Regexp.Expand``: a
name runs as far as letters, digits and underscores go (``$1x`` is the group
named ``1x``, i.e. empty; write ``${1}x``), a missing group expands to nothing,
``$$`` is a literal ``$``, and a ``$`` not followed by a name stays as it is.

``hashmod`` is bit-compatible with Prometheus: the MD5 of the joined source
values, its last 8 bytes as a big-endian unsigned integer, modulo ``modulus``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

from vigil.config.types import RelabelAction, RelabelConfig
from vigil.model import Labels, is_valid_label_name

__all__ = ["expand_template", "hashmod", "relabel", "relabel_dict"]

_A = RelabelAction

_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")

# A parsed template: literal strings and group references (int index or name).
_Part = str | int | tuple[str]


@lru_cache(maxsize=1024)
def _parse_template(template: str) -> tuple[_Part, ...]:
    parts: list[_Part] = []
    lit: list[str] = []
    i = 0
    n = len(template)
    while i < n:
        j = template.find("$", i)
        if j < 0:
            lit.append(template[i:])
            break
        lit.append(template[i:j])
        i = j + 1
        if i < n and template[i] == "$":
            lit.append("$")
            i += 1
            continue
        name, end = _ref_name(template, i)
        if name is None:
            lit.append("$")  # malformed: the dollar is literal text
            continue
        i = end
        if lit:
            parts.append("".join(lit))
            lit = []
        parts.append(_ref(name))
    if lit and "".join(lit):
        parts.append("".join(lit))
    return tuple(parts)


def _ref_name(template: str, i: int) -> tuple[str | None, int]:
    """The reference name starting at ``template[i]`` (after ``$``) and where it ends."""
    n = len(template)
    brace = i < n and template[i] == "{"
    start = i + 1 if brace else i
    k = start
    while k < n and template[k] in _NAME_CHARS:
        k += 1
    if k == start:
        return None, i
    if brace:
        if k >= n or template[k] != "}":
            return None, i
        return template[start:k], k + 1
    return template[start:k], k


def _ref(name: str) -> int | tuple[str]:
    if name.isdigit() and name.isascii() and not (len(name) > 1 and name[0] == "0"):
        return int(name)
    return (name,)


Groups = tuple[str, ...]
"""A match: group 0 (the whole value) and each capture group ("" if it did not take part)."""


def expand_template(
    template: str, groups: Groups, groupindex: Mapping[str, int] | None = None
) -> str:
    """Expand ``$1``/``${name}`` references in ``template`` against a match's groups."""
    parts = _parse_template(template)
    if len(parts) == 1 and isinstance(parts[0], str):
        return parts[0]
    out: list[str] = []
    for p in parts:
        if isinstance(p, str):
            out.append(p)
        elif isinstance(p, int):
            if p < len(groups):
                out.append(groups[p])
        elif groupindex:
            idx = groupindex.get(p[0])
            if idx is not None and idx < len(groups):
                out.append(groups[idx])
    return "".join(out)


# -- matching ---------------------------------------------------------------
#
# The RE2 binding costs microseconds per call, so the shapes that dominate
# real configs are matched without it: a literal (``go_gc_duration_seconds``),
# literal alternatives (``a|b|c``, optionally in one group), ``prefix.*`` and
# ``(.*)``. Everything else goes to RE2 through a bounded memo, since the same
# values (metric names above all) come back for many series.

_META = frozenset("\\.+*?()|[]{}^$")
_MEMO_LIMIT = 4096


class _Program:
    __slots__ = ("_grouped", "groupindex", "kind", "literals", "memo", "ngroups", "prefix", "regex")

    def __init__(self, cfg: RelabelConfig) -> None:
        pattern = cfg.regex
        self.regex = cfg.compiled
        self.groupindex: Mapping[str, int] = self.regex.groupindex
        self.ngroups: int = self.regex.groups
        self.memo: dict[str, Groups | None] = {}
        self.literals: frozenset[str] = frozenset()
        self.prefix = ""
        self.kind = "re2"
        inner, grouped = pattern, False
        if pattern.startswith("(") and pattern.endswith(")") and _balanced_group(pattern):
            inner, grouped = pattern[1:-1], True
        if inner == ".*":
            self.kind = "any"
        elif not any(c in _META for c in inner.replace("|", "")):
            self.kind = "set"
            self.literals = frozenset(inner.split("|"))
        elif not grouped and inner.endswith(".*") and not any(c in _META for c in inner[:-2]):
            self.kind = "prefix"
            self.prefix = inner[:-2]
        if self.kind != "re2" and self.ngroups != (1 if grouped else 0):
            self.kind = "re2"  # defensive: the shape analysis must agree with RE2
        self._grouped = grouped

    def match(self, value: str) -> Groups | None:
        kind = self.kind
        if kind == "any":
            hit = True
        elif kind == "set":
            hit = value in self.literals
        elif kind == "prefix":
            hit = value.startswith(self.prefix)
        else:
            memo = self.memo
            try:
                return memo[value]
            except KeyError:
                pass
            m = self.regex.match(value)
            res = None if m is None else tuple(g or "" for g in (m.group(0), *m.groups()))
            if len(memo) >= _MEMO_LIMIT:
                memo.clear()
            memo[value] = res
            return res
        if not hit:
            return None
        return (value, value) if self._grouped else (value,)

    def matches(self, value: str) -> bool:
        return self.match(value) is not None


def _balanced_group(pattern: str) -> bool:
    """Whether ``pattern`` is one plain capture group ``(...)`` spanning all of it."""
    if pattern.startswith("(?"):
        return False
    depth = 0
    for i, c in enumerate(pattern):
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0 and i != len(pattern) - 1:
                return False
    return depth == 0


def _program(cfg: RelabelConfig) -> _Program:
    prog = cfg.engine.get("program")
    if prog is None:
        prog = cfg.engine["program"] = _Program(cfg)
    return prog


def hashmod(value: str, modulus: int) -> int:
    """Prometheus's hashmod: last 8 bytes of MD5(value), big-endian, mod ``modulus``."""
    digest = hashlib.md5(value.encode("utf-8"), usedforsecurity=False).digest()
    return int.from_bytes(digest[8:], "big") % modulus


def _set(d: dict[str, str], name: str, value: str) -> None:
    # Re-insert so iteration order follows Prometheus's builder: untouched labels
    # first, then labels set by rules, in the order they were set.
    d.pop(name, None)
    if value:
        d[name] = value


def relabel_dict(d: dict[str, str], configs: Sequence[RelabelConfig]) -> bool:
    """Apply ``configs`` to ``d`` in place; False when the label set is dropped."""
    for cfg in configs:
        a = cfg.action
        prog = _program(cfg)
        if cfg.source_labels:
            sl = cfg.source_labels
            val = (
                d.get(sl[0], "") if len(sl) == 1 else cfg.separator.join([d.get(n, "") for n in sl])
            )
        else:
            val = ""
        if a is _A.REPLACE:
            groups = prog.match(val)
            if groups is None:
                continue
            target = expand_template(cfg.target_label, groups, prog.groupindex)
            if not is_valid_label_name(target):
                continue
            _set(d, target, expand_template(cfg.replacement, groups, prog.groupindex))
        elif a is _A.KEEP:
            if prog.match(val) is None:
                return False
        elif a is _A.DROP:
            if prog.match(val) is not None:
                return False
        elif a is _A.KEEPEQUAL:
            if d.get(cfg.target_label, "") != val:
                return False
        elif a is _A.DROPEQUAL:
            if d.get(cfg.target_label, "") == val:
                return False
        elif a is _A.LABELDROP:
            for name in [n for n in d if prog.match(n) is not None]:
                del d[name]
        elif a is _A.LABELKEEP:
            for name in [n for n in d if prog.match(n) is None]:
                del d[name]
        elif a is _A.LABELMAP:
            for name, value in list(d.items()):
                groups = prog.match(name)
                if groups is not None:
                    new = expand_template(cfg.replacement, groups, prog.groupindex)
                    # Prometheus would store an invalid name; we skip it.
                    if is_valid_label_name(new):
                        _set(d, new, value)
        elif a is _A.HASHMOD:
            _set(d, cfg.target_label, str(hashmod(val, cfg.modulus)))
        elif a is _A.LOWERCASE:
            _set(d, cfg.target_label, val.lower())
        elif a is _A.UPPERCASE:
            _set(d, cfg.target_label, val.upper())
        else:  # pragma: no cover - the enum is closed
            raise AssertionError(f"unknown relabel action {a!r}")
    return True


def relabel(labels: Labels, configs: Sequence[RelabelConfig]) -> Labels | None:
    """``labels`` rewritten by ``configs`` in order; ``None`` if a rule dropped them.

    Without rules the same object comes back. The result never holds empty values.
    """
    if not configs:
        return labels
    d = dict(labels.pairs)
    if not relabel_dict(d, configs):
        return None
    pairs = tuple(sorted(d.items()))
    if pairs == labels.pairs:
        return labels
    # Names were validated when set; values are data (even ``__name__``, as in
    # Prometheus, where a later stage decides whether a metric name is usable).
    return Labels._trusted(pairs)
