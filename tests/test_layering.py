"""Data flows one way: a vigil package imports only packages above it in LAYERS.

The order follows DESIGN.md; ``model`` is importable from everywhere. The test
reads import statements with ``ast`` (no importing), so a forbidden import in a
branch that tests never execute is still caught.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "vigil"

# Top to bottom. A package may import itself, ``model`` and anything above it.
LAYERS = [
    "agent",
    "model",
    "config",
    "textparse",
    "storage",
    "scrape",
    "tsdb",
    "promql",
    "gotmpl",
    "rules",
    "notify",
    "logs",
    "traces",
    "api",
    "ui",
    "alerting",
    "server",
    "embedded",
    "demo",
    "cli",
]


# Pairs that the order alone would allow but the design forbids: the layers
# above reach the store only through the storage seams, never the TSDB itself.
FORBIDDEN = {("scrape", "tsdb"), ("promql", "tsdb"), ("rules", "tsdb"), ("api", "tsdb")}


def _layer_of(module: str) -> str | None:
    parts = module.split(".")
    if parts[0] != "vigil":
        return None
    if len(parts) == 1:
        return ""  # the package root
    return parts[1].removesuffix(".py")


def _imports(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[tuple[int, str]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            if node.module == "vigil":
                found += [(node.lineno, f"vigil.{alias.name}") for alias in node.names]
    return found


def _source_files() -> list[Path]:
    return sorted(SRC.rglob("*.py"))


def test_every_top_level_module_has_a_layer() -> None:
    names = {
        p.stem if p.is_file() else p.name for p in SRC.iterdir() if p.suffix == ".py" or p.is_dir()
    }
    names -= {"__init__", "__main__", "__pycache__"}
    assert names <= set(LAYERS), f"add {sorted(names - set(LAYERS))} to LAYERS in this test"


@pytest.mark.parametrize("path", _source_files(), ids=lambda p: str(p.relative_to(SRC)))
def test_imports_flow_downwards(path: Path) -> None:
    rel = path.relative_to(SRC)
    own = rel.parts[0].removesuffix(".py")
    if own in ("__init__", "__main__"):
        allowed = {"agent", "cli"}  # the root re-exports the agent's public API
    else:
        allowed = set(LAYERS[: LAYERS.index(own) + 1]) | {"model"}
    bad = []
    for lineno, module in _imports(path):
        layer = _layer_of(module)
        if layer and layer not in allowed and layer not in ("__version__",):
            bad.append(f"{rel}:{lineno}: imports {module} ({layer!r} is below {own!r})")
        elif (own, layer) in FORBIDDEN:
            bad.append(f"{rel}:{lineno}: imports {module} ({own!r} must use vigil.storage instead)")
    assert not bad, "\n".join(bad)


def test_agent_never_imports_a_framework_at_module_level_of_its_core() -> None:
    """The agent's core modules import no web framework: users get only what they use."""
    core = ["context.py", "metrics.py", "cardinality.py", "exposition.py", "logs.py"]
    frameworks = ("starlette", "fastapi", "flask", "django", "celery", "sqlalchemy")
    for name in core:
        path = SRC / "agent" / name
        if not path.exists():
            continue
        tree = ast.parse(path.read_text())
        for node in tree.body:
            mods = []
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                mods = [node.module]
            for mod in mods:
                assert not mod.startswith(frameworks), f"agent/{name}:{node.lineno} imports {mod}"
