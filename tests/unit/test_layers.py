"""UI → services → data, never upwards: services and data import no Qt and nothing above them."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "ecomdesk"
FORBIDDEN = {
    "db": ("PySide6", "pyqtgraph", "ecomdesk.ui", "ecomdesk.services", "ecomdesk.bootstrap", "ecomdesk.cli"),
    "services": ("PySide6", "pyqtgraph", "ecomdesk.ui", "ecomdesk.bootstrap", "ecomdesk.cli"),
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_layer_imports_point_downwards_only(layer):
    files = sorted((PACKAGE / layer).rglob("*.py"))
    assert files, f"no modules in {layer}"
    offending = [
        f"{path.relative_to(PACKAGE)} imports {name}"
        for path in files
        for name in _imports(path)
        if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN[layer])
    ]
    assert offending == []
