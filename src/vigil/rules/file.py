"""Rule files, read and checked the way Prometheus's ``model/rulefmt`` does.

A rule file is ``groups:``, a list of groups (``name``, ``interval``,
``query_offset``, ``limit``, ``labels``, ``rules``), each rule a recording rule
(``record``) or an alerting rule (``alert``) with ``expr``, ``for``,
``keep_firing_for``, ``labels`` and ``annotations``. Keys are strict (an
unknown field is an error unless ``ignore_unknown_fields``), and every problem
found is reported with its place: ``file:line:col: groups[0].rules[1].expr:
group "g", rule 2, "name": could not parse expression: ...``. A PromQL error
inside ``expr`` is placed on the line and column of the file where it is, when
the scalar's style lets that be worked out (plain, quoted or ``|`` block).

Names follow Prometheus 3's default UTF-8 validation (any non-empty name;
``__name__`` is not a rule label); ``name_validation="legacy"`` asks for the
old ``[a-zA-Z_][a-zA-Z0-9_]*`` charset.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.nodes import Field, NodeReader, compose
from vigil.model import Position, is_valid_label_name, is_valid_metric_name, position_at
from vigil.promql import ParseError, ParseOptions, parse_expr
from vigil.rules import templating

__all__ = [
    "NameValidation",
    "RuleGroupSpec",
    "RuleSpec",
    "field_values",
    "load_rule_files",
    "parse_rule_file",
]

NameValidation = Literal["utf8", "legacy"]

_GROUP_KEYS = ("name", "interval", "query_offset", "limit", "rules", "labels")
_RULE_KEYS = ("record", "alert", "expr", "for", "keep_firing_for", "labels", "annotations")


def field_values(fields: Mapping[str, Field]) -> Callable[[str], yaml.Node | None]:
    """``get(key)``: the value node of ``key`` in a YAML mapping's ``fields`` (``None`` if absent)."""

    def get(key: str) -> yaml.Node | None:
        f = fields.get(key)
        return f.value if f else None

    return get


@dataclass(frozen=True)
class RuleSpec:
    """One rule as written in its file (durations in seconds)."""

    record: str | None
    alert: str | None
    expr: str
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    position: Position | None = None

    @property
    def name(self) -> str:
        return self.alert if self.alert is not None else (self.record or "")

    @property
    def kind(self) -> Literal["alerting", "recording"]:
        return "alerting" if self.alert is not None else "recording"

    def same_rule(self, other: RuleSpec) -> bool:
        """Equal definitions (the position in the file does not count)."""
        return (
            self.record == other.record
            and self.alert == other.alert
            and self.expr == other.expr
            and self.for_s == other.for_s
            and self.keep_firing_for_s == other.keep_firing_for_s
            and self.labels == other.labels
            and self.annotations == other.annotations
        )


@dataclass(frozen=True)
class RuleGroupSpec:
    """One group of a rule file; ``interval_s`` None means the global evaluation interval."""

    name: str
    file: str
    interval_s: float | None = None
    limit: int = 0
    query_offset_s: float | None = None
    labels: dict[str, str] = field(default_factory=dict)
    rules: tuple[RuleSpec, ...] = ()

    @property
    def key(self) -> str:
        """Prometheus's group key, ``file;name`` (names are unique only within a file)."""
        return f"{self.file};{self.name}"

    def same_group(self, other: RuleGroupSpec) -> bool:
        return (
            self.name == other.name
            and self.file == other.file
            and self.interval_s == other.interval_s
            and self.limit == other.limit
            and self.query_offset_s == other.query_offset_s
            and self.labels == other.labels
            and len(self.rules) == len(other.rules)
            and all(a.same_rule(b) for a, b in zip(self.rules, other.rules, strict=True))
        )


def load_rule_files(
    paths: Sequence[str | Path],
    *,
    ignore_unknown_fields: bool = False,
    name_validation: NameValidation = "utf8",
) -> list[RuleGroupSpec]:
    """Every group of every file, in order; ``ConfigError`` lists all problems of all files."""
    groups: list[RuleGroupSpec] = []
    problems: list[ConfigProblem] = []
    for p in paths:
        source = str(p)
        try:
            text = Path(p).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            problems.append(ConfigProblem(f"cannot read rule file: {exc}", "", None, source))
            continue
        try:
            groups += parse_rule_file(
                text,
                source,
                ignore_unknown_fields=ignore_unknown_fields,
                name_validation=name_validation,
            )
        except ConfigError as exc:
            problems += exc.problems
    if problems:
        raise ConfigError(problems)
    return groups


def parse_rule_file(
    text: str,
    source: str | None,
    *,
    ignore_unknown_fields: bool = False,
    name_validation: NameValidation = "utf8",
) -> list[RuleGroupSpec]:
    """The groups of one rule file's ``text``; ``ConfigError`` lists every problem."""
    root = _compose(text, source)
    r = NodeReader(text, source)
    parser = _FileParser(r, source or "", ignore_unknown_fields, name_validation)
    groups = parser.parse_root(root)
    if r.problems:
        raise ConfigError(r.problems)
    return groups


_CLoader = getattr(yaml, "CSafeLoader", None)


def _compose(text: str, source: str | None) -> yaml.Node | None:
    """The YAML node tree, through libyaml when it is there (ten times faster on big files);
    errors are reported by the pure-Python composer, which says where."""
    if _CLoader is not None and text.isascii():
        try:
            return yaml.compose(text, Loader=_CLoader)
        except yaml.YAMLError:
            pass
    return compose(text, source)


def _valid_label_name(name: str, scheme: NameValidation) -> bool:
    if scheme == "legacy":
        return is_valid_label_name(name)
    return name != ""


def _valid_metric_name(name: str, scheme: NameValidation) -> bool:
    if scheme == "legacy":
        return is_valid_metric_name(name)
    return name != ""


class _FileParser:
    def __init__(
        self, r: NodeReader, file: str, ignore_unknown: bool, scheme: NameValidation
    ) -> None:
        self.r = r
        self.file = file
        self.ignore_unknown = ignore_unknown
        self.scheme = scheme
        self.ascii = r.text.isascii()

    def mark_position(self, node: yaml.Node) -> Position:
        """The node's position from its mark (no scan of the text: rules are many)."""
        m = node.start_mark
        offset = (
            m.index if self.ascii else len(self.r.text[: m.index].encode("utf-8", "surrogatepass"))
        )
        return Position(m.line + 1, m.column + 1, offset)

    def check_keys(self, fields: dict[str, Field], allowed: Sequence[str]) -> None:
        if not self.ignore_unknown:
            self.r.check_keys(fields, allowed)

    def parse_root(self, root: yaml.Node | None) -> list[RuleGroupSpec]:
        r = self.r
        top = r.mapping(root, "")
        if top is None:
            return []
        self.check_keys(top, ("groups",))
        f = top.get("groups")
        items = r.sequence(f.value if f else None, "groups")
        groups: list[RuleGroupSpec] = []
        seen: set[str] = set()
        for i, node in enumerate(items or ()):
            g = self.group(node, f"groups[{i}]", seen)
            if g is not None:
                groups.append(g)
        return groups

    def group(self, node: yaml.Node, path: str, seen: set[str]) -> RuleGroupSpec | None:
        r = self.r
        fields = r.mapping(node, path)
        if fields is None:
            return None
        self.check_keys(fields, _GROUP_KEYS)

        get = field_values(fields)

        name = r.string(get("name"), f"{path}.name") or ""
        if name == "":
            r.error(node, f"{path}.name", "Groupname must not be empty")
        elif name in seen:
            r.error(node, f"{path}.name", f'groupname: "{name}" is repeated in the same file')
        seen.add(name)
        interval = r.duration(get("interval"), f"{path}.interval")
        offset = r.duration(get("query_offset"), f"{path}.query_offset")
        limit = r.uint(get("limit"), f"{path}.limit")
        labels = self.labels(get("labels"), f"{path}.labels", None)
        rules: list[RuleSpec] = []
        items = r.sequence(get("rules"), f"{path}.rules")
        for i, rnode in enumerate(items or ()):
            rule = self.rule(rnode, f"{path}.rules[{i}]", name, i + 1)
            if rule is not None:
                rules.append(rule)
        return RuleGroupSpec(
            name=name,
            file=self.file,
            interval_s=interval.seconds if interval else None,
            limit=limit or 0,
            query_offset_s=offset.seconds if offset is not None else None,
            labels=labels,
            rules=tuple(rules),
        )

    def labels(self, node: yaml.Node | None, path: str, where: str | None) -> dict[str, str]:
        r = self.r
        fields = r.mapping(node, path)
        out: dict[str, str] = {}
        prefix = f"{where}: " if where else ""
        for name, f in (fields or {}).items():
            if not _valid_label_name(name, self.scheme) or name == "__name__":
                r.error(f.key, f.path, f"{prefix}invalid label name: {name}")
                continue
            value = r.string(f.value, f.path)
            out[name] = value if value is not None else ""
        return out

    def rule(self, node: yaml.Node, path: str, group: str, index: int) -> RuleSpec | None:
        r = self.r
        fields = r.mapping(node, path)
        if fields is None:
            return None
        self.check_keys(fields, _RULE_KEYS)

        get = field_values(fields)

        record = r.string(get("record"), f"{path}.record") or ""
        alert = r.string(get("alert"), f"{path}.alert") or ""
        expr_node = get("expr")
        expr = r.string(expr_node, f"{path}.expr") or ""
        hold = r.duration(get("for"), f"{path}.for")
        keep = r.duration(get("keep_firing_for"), f"{path}.keep_firing_for")
        where = f'group "{group}", rule {index}, "{alert or record}"'

        def err(at: yaml.Node | None, field_: str, message: str) -> None:
            r.error(at if at is not None else node, f"{path}.{field_}", f"{where}: {message}")

        if record and alert:
            err(get("record"), "record", "only one of 'record' and 'alert' must be set")
        if not record and not alert:
            err(node, "record", "one of 'record' or 'alert' must be set")
        if not expr:
            err(node, "expr", "field 'expr' must be set in rule")
        else:
            self.check_expr(expr, expr_node, f"{path}.expr", where)
        labels = self.labels(get("labels"), f"{path}.labels", where)
        ann_fields = r.mapping(get("annotations"), f"{path}.annotations") or {}
        annotations: dict[str, str] = {}
        for name, f in ann_fields.items():
            if not _valid_label_name(name, self.scheme):
                r.error(f.key, f.path, f"{where}: invalid annotation name: {name}")
                continue
            value = r.string(f.value, f.path)
            annotations[name] = value if value is not None else ""
        if record:
            if annotations:
                err(get("record"), "annotations", "invalid field 'annotations' in recording rule")
            if hold:
                err(get("record"), "for", "invalid field 'for' in recording rule")
            if keep:
                err(
                    get("record"),
                    "keep_firing_for",
                    "invalid field 'keep_firing_for' in recording rule",
                )
            if not _valid_metric_name(record, self.scheme):
                err(get("record"), "record", f"invalid recording rule name: {record}")
            if "{" in record or "}" in record:
                err(
                    get("record"),
                    "record",
                    f"braces present in the recording rule name; should it be in expr?: {record}",
                )
        elif alert:
            for kind, values, fname in (
                ("label", labels, "labels"),
                ("annotation", annotations, "annotations"),
            ):
                node_of = {
                    k: f.value for k, f in (r.mapping(get(fname), f"{path}.{fname}") or {}).items()
                }
                for k, text in values.items():
                    problem = templating.check(text, f"__alert_{alert}")
                    if problem is not None:
                        r.error(
                            node_of.get(k, node),
                            f"{path}.{fname}.{k}",
                            f'{where}: {kind} "{k}": {problem}',
                        )
        return RuleSpec(
            record=record or None,
            alert=None if record else (alert or None),
            expr=expr,
            for_s=hold.seconds if hold else 0.0,
            keep_firing_for_s=keep.seconds if keep else 0.0,
            labels=labels,
            annotations=annotations,
            position=self.mark_position(node),
        )

    def check_expr(self, expr: str, node: yaml.Node | None, path: str, where: str) -> None:
        try:
            parse_expr(expr, ParseOptions(enable_experimental_functions=True))
        except ParseError as exc:
            pos = _expr_position(self.r.text, node, expr, exc) if node is not None else None
            self.r.problems.append(
                ConfigProblem(
                    f"{where}: could not parse expression: {exc.format()}",
                    path,
                    pos if pos is not None else self.r.position(node),
                    self.r.source,
                )
            )


def _expr_position(text: str, node: yaml.Node, expr: str, exc: ParseError) -> Position | None:
    """Where in the file the PromQL error of ``expr`` (the value of ``node``) is."""
    if not isinstance(node, yaml.ScalarNode):
        return None
    # The error's index in the expression.
    lines = expr.split("\n")
    line, col = exc.position.line if exc.position else 1, exc.position.col if exc.position else 1
    if line > len(lines):
        return None
    index = sum(len(lines[k]) + 1 for k in range(line - 1)) + col - 1
    # An error at the end of the input points just past the last character.
    index = min(index, len(expr.rstrip()))
    line = expr.count("\n", 0, index) + 1
    col = index - (expr.rfind("\n", 0, index) + 1) + 1
    start, end = node.start_mark.index, node.end_mark.index
    style = node.style
    if not style and text[start:end] == expr:
        return position_at(text, start + index)
    if style in ("'", '"') and text[start + 1 : end - 1] == expr:
        return position_at(text, start + 1 + index)
    if style == "|":
        # The block's content starts on the line after its header, indented.
        first = text.find("\n", start) + 1
        if first <= 0:
            return None
        body = text[first:end].split("\n")
        indent = None
        for ln in body:
            if ln.strip():
                indent = len(ln) - len(ln.lstrip(" "))
                break
        if indent is None or line - 1 >= len(body):
            return None
        offset = first + sum(len(body[k]) + 1 for k in range(line - 1)) + indent + col - 1
        if body[line - 1][indent:] != lines[line - 1]:
            return None
        return position_at(text, offset)
    return None
