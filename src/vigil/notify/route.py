"""The routing tree: which receivers an alert goes to, and how its notifications are grouped.

Semantics follow Alertmanager's ``dispatch/route.go``: an alert descends into
the first child whose matchers it satisfies; a child with ``continue`` lets
the search go on to the next sibling; when no child takes it the route itself
does. Children inherit every option their parent sets and they do not.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from vigil.model import Labels
from vigil.model.matchers import Matcher

__all__ = ["Route", "matchers_string"]

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


def _quote(value: str) -> str:
    out = value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
    return f'"{out}"'


def matchers_string(matchers: Sequence[Matcher]) -> str:
    """``{a="b",c=~"d"}``: matchers sorted by name, type and value, as Alertmanager prints them."""
    ordered = sorted(matchers, key=lambda m: (m.name, m.type.value, m.value))
    return "{" + ",".join(f"{m.name}{m.type.value}{_quote(m.value)}" for m in ordered) + "}"


@dataclass(eq=False)
class Route:
    """One node of the tree, with its options already resolved from its ancestors.

    ``group_by`` is ``None`` for ``['...']`` (group by every label); durations
    are seconds. ``parent`` is set by :meth:`add_child` and used for keys.
    """

    receiver: str
    group_by: tuple[str, ...] | None = ()
    matchers: tuple[Matcher, ...] = ()
    continue_: bool = False
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL
    mute_time_intervals: tuple[str, ...] = ()
    active_time_intervals: tuple[str, ...] = ()
    routes: list[Route] = field(default_factory=list)
    parent: Route | None = field(default=None, repr=False)

    def add_child(self, child: Route) -> Route:
        child.parent = self
        self.routes.append(child)
        return child

    def matches(self, labels: Labels) -> bool:
        return all(m.matches(labels.get(m.name)) for m in self.matchers)

    def match(self, labels: Labels) -> list[Route]:
        """The routes that take an alert with ``labels``, in tree order (empty if this one does not match)."""
        if not self.matches(labels):
            return []
        taken: list[Route] = []
        for child in self.routes:
            found = child.match(labels)
            taken += found
            if found and not child.continue_:
                break
        return taken or [self]

    def key(self) -> str:
        """The route's identity in group keys: its ancestors' matchers and its own."""
        own = matchers_string(self.matchers)
        return f"{self.parent.key()}/{own}" if self.parent is not None else own

    def group_labels(self, labels: Labels) -> Labels:
        """The labels an alert is grouped by under this route."""
        if self.group_by is None:
            return labels
        wanted = set(self.group_by)
        return Labels.from_pairs((n, v) for n, v in labels.pairs if n in wanted and v)

    def walk(self) -> list[Route]:
        """This route and all below it, depth first."""
        out = [self]
        for child in self.routes:
            out += child.walk()
        return out
