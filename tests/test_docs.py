"""Settings are data, and documented: every VIGIL_* environment variable the code
reads appears in the README or in docs/, and every docs link resolves."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ENV_RE = re.compile(r"\bVIGIL_[A-Z][A-Z0-9_]*\b")
LINK_RE = re.compile(r"\]\(([^)#\s]+)(?:#[^)]*)?\)")


def _docs_text() -> str:
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    return "\n".join(p.read_text() for p in pages)


def test_every_environment_variable_is_documented() -> None:
    used: dict[str, str] = {}
    for path in sorted((ROOT / "src").rglob("*.py")):
        for lineno, line in enumerate(path.read_text().splitlines(), 1):
            for name in ENV_RE.findall(line):
                used.setdefault(name, f"{path.relative_to(ROOT)}:{lineno}")
    assert used, "expected the code to read some VIGIL_* variables"
    docs = _docs_text()
    missing = [
        f"{name} (read at {where})" for name, where in sorted(used.items()) if name not in docs
    ]
    assert not missing, "undocumented environment variables:\n" + "\n".join(missing)


def test_links_between_docs_resolve() -> None:
    broken = []
    for page in [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]:
        for target in LINK_RE.findall(page.read_text()):
            if "://" in target:
                continue
            if not (page.parent / target).resolve().exists():
                broken.append(f"{page.relative_to(ROOT)}: {target}")
    assert not broken, "broken links:\n" + "\n".join(broken)
