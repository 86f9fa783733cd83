"""Reading YAML nodes with positions, collecting problems instead of stopping at the first.

PyYAML's ``compose`` gives a node tree whose marks say where each value is;
:class:`NodeReader` turns scalar nodes into typed values the way Go's yaml.v2
does for Prometheus (a string field takes the scalar's text as written, so
``regex: true`` is the string ``true``; ``null`` or an empty value means "not
set") and records a :class:`~vigil.config.errors.ConfigProblem` for anything
that does not fit, returning ``None`` so the caller can carry on.
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import yaml

from vigil.config.errors import ConfigError, ConfigProblem
from vigil.config.units import Duration, parse_duration, parse_size
from vigil.model import Position, is_valid_label_name, position_at

__all__ = ["Field", "NodeReader", "compose"]

_NULL = "tag:yaml.org,2002:null"
_BOOL = "tag:yaml.org,2002:bool"
_INT = "tag:yaml.org,2002:int"
_TRUE = frozenset({"true", "True", "TRUE", "yes", "Yes", "YES", "on", "On", "ON", "y", "Y"})
_FALSE = frozenset({"false", "False", "FALSE", "no", "No", "NO", "off", "Off", "OFF", "n", "N"})
_MAX_DEPTH = 64


def compose(text: str, source: str | None) -> yaml.Node | None:
    """The YAML node tree of ``text``, or ``ConfigError`` with the syntax error's position."""
    try:
        return yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        pos = position_at(text, mark.index) if mark is not None else None
        what = exc.problem or exc.context or "invalid YAML"
        raise ConfigError([ConfigProblem(f"YAML syntax: {what}", "", pos, source)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([ConfigProblem(f"YAML: {exc}", "", None, source)]) from None
    except RecursionError:
        raise ConfigError([ConfigProblem("YAML nested too deeply", "", None, source)]) from None


@dataclass(frozen=True, slots=True)
class Field:
    """A mapping entry: its key node, value node and dotted path."""

    key: yaml.Node
    value: yaml.Node
    path: str


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


class NodeReader:
    """Typed reads of YAML nodes; problems are collected in :attr:`problems`."""

    def __init__(self, text: str, source: str | None, base_dir: str | None = None) -> None:
        self.text = text
        self.source = source
        self.base_dir = base_dir
        self.problems: list[ConfigProblem] = []
        self.notes: list[str] = []

    # -- reporting ----------------------------------------------------------

    def position(self, node: yaml.Node | None) -> Position | None:
        if node is None:
            return None
        return position_at(self.text, node.start_mark.index)

    def error(self, node: yaml.Node | None, path: str, message: str) -> None:
        self.problems.append(ConfigProblem(message, path, self.position(node), self.source))

    def note(self, node: yaml.Node | None, path: str, message: str) -> None:
        self.notes.append(str(ConfigProblem(message, path, self.position(node), self.source)))

    # -- structure ----------------------------------------------------------

    @staticmethod
    def is_null(node: yaml.Node | None) -> bool:
        return node is None or (isinstance(node, yaml.ScalarNode) and node.tag == _NULL)

    def mapping(self, node: yaml.Node | None, path: str) -> dict[str, Field] | None:
        """Entries of a mapping node (``{}`` for null), merge keys resolved, duplicates reported."""
        if self.is_null(node):
            return {}
        assert node is not None
        if not isinstance(node, yaml.MappingNode):
            self.error(node, path, f"expected a mapping, got {_kind(node)}")
            return None
        out: dict[str, Field] = {}
        for key, value in self._entries(node, path, 0):
            if not isinstance(key, yaml.ScalarNode):
                self.error(key, path, "mapping keys must be strings")
                continue
            name = key.value
            if name in out:
                line = out[name].key.start_mark.line + 1
                self.error(key, _join(path, name), f"duplicate key (first set on line {line})")
                continue
            out[name] = Field(key, value, _join(path, name))
        return out

    def _entries(
        self, node: yaml.MappingNode, path: str, depth: int
    ) -> Iterator[tuple[yaml.Node, yaml.Node]]:
        merged: list[tuple[yaml.Node, yaml.Node]] = []
        for key, value in node.value:
            if isinstance(key, yaml.ScalarNode) and key.tag == "tag:yaml.org,2002:merge":
                sources = value.value if isinstance(value, yaml.SequenceNode) else [value]
                for src in sources:
                    if not isinstance(src, yaml.MappingNode) or depth > _MAX_DEPTH:
                        self.error(src, path, "a merge key (<<) needs a mapping")
                        continue
                    merged.extend(self._entries(src, path, depth + 1))
                continue
            yield key, value
        explicit = {k.value for k, _ in node.value if isinstance(k, yaml.ScalarNode)}
        seen: set[str] = set()
        for key, value in merged:
            if key.value not in explicit and key.value not in seen:
                seen.add(key.value)
                yield key, value

    def sequence(self, node: yaml.Node | None, path: str) -> list[yaml.Node] | None:
        if self.is_null(node):
            return []
        assert node is not None
        if not isinstance(node, yaml.SequenceNode):
            self.error(node, path, f"expected a list, got {_kind(node)}")
            return None
        return list(node.value)

    def check_keys(
        self,
        fields: dict[str, Field],
        allowed: Iterable[str],
        ignored: Iterable[str] = (),
        *,
        what: str = "",
    ) -> None:
        """Unknown keys are errors (with a suggestion); ``ignored`` ones are noted."""
        allowed = set(allowed)
        ignored = set(ignored)
        for name, f in fields.items():
            if name in allowed:
                continue
            if name in ignored or name.endswith("_sd_configs"):
                self.note(f.key, f.path, f"not supported by vigil{what}; ignored")
                continue
            hint = difflib.get_close_matches(name, sorted(allowed), n=1)
            more = f' (did you mean "{hint[0]}"?)' if hint else ""
            self.error(f.key, f.path, f"unknown field{more}")

    # -- scalars --------------------------------------------------------------

    def _scalar(self, node: yaml.Node, path: str, what: str) -> str | None:
        if not isinstance(node, yaml.ScalarNode):
            self.error(node, path, f"expected {what}, got {_kind(node)}")
            return None
        return str(node.value)

    def string(self, node: yaml.Node | None, path: str) -> str | None:
        """The scalar's text; None when null (not set) or not a scalar."""
        if self.is_null(node):
            return None
        assert node is not None
        return self._scalar(node, path, "a string")

    def boolean(self, node: yaml.Node | None, path: str) -> bool | None:
        if self.is_null(node):
            return None
        assert node is not None
        text = self._scalar(node, path, "true or false")
        if text is None:
            return None
        if text in _TRUE:
            return True
        if text in _FALSE:
            return False
        self.error(node, path, f"expected true or false, got {text!r}")
        return None

    def uint(self, node: yaml.Node | None, path: str) -> int | None:
        if self.is_null(node):
            return None
        assert node is not None
        text = self._scalar(node, path, "a whole number")
        if text is None:
            return None
        try:
            value = int(text.replace("_", ""), 0) if node.tag == _INT else int(text)
        except ValueError:
            self.error(node, path, f"expected a whole number >= 0, got {text!r}")
            return None
        if value < 0:
            self.error(node, path, f"expected a whole number >= 0, got {text!r}")
            return None
        return value

    def duration(self, node: yaml.Node | None, path: str) -> Duration | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            return Duration(parse_duration(text))
        except ValueError as exc:
            self.error(node, path, f"{exc} (examples: 15s, 1m, 1h30m, 100ms)")
            return None

    def size(self, node: yaml.Node | None, path: str) -> int | None:
        text = self.string(node, path)
        if text is None:
            return None
        try:
            return parse_size(text)
        except ValueError as exc:
            self.error(node, path, str(exc))
            return None

    def string_list(self, node: yaml.Node | None, path: str) -> list[tuple[str, yaml.Node]]:
        items = self.sequence(node, path)
        out: list[tuple[str, yaml.Node]] = []
        for i, item in enumerate(items or ()):
            text = self.string(item, f"{path}[{i}]")
            if text is not None:
                out.append((text, item))
        return out

    def label_map(self, node: yaml.Node | None, path: str) -> dict[str, str]:
        """A ``name: value`` mapping with valid label names (values may be empty)."""
        fields = self.mapping(node, path)
        out: dict[str, str] = {}
        for name, f in (fields or {}).items():
            if not is_valid_label_name(name):
                self.error(f.key, f.path, f"{name!r} is not a valid label name")
                continue
            value = self.string(f.value, f.path)
            out[name] = value if value is not None else ""
        return out

    def file_path(self, text: str) -> str:
        """``text`` resolved against the config file's directory, like Prometheus."""
        if not text or self.base_dir is None or os.path.isabs(text):
            return text
        return os.path.join(self.base_dir, text)


def _kind(node: yaml.Node) -> str:
    if isinstance(node, yaml.MappingNode):
        return "a mapping"
    if isinstance(node, yaml.SequenceNode):
        return "a list"
    if node.tag == _NULL:
        return "null"
    return f"{node.value!r}"
