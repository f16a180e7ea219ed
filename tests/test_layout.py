"""The package's layout rules (docs/architecture.md): folders by concern, imports only downwards, small modules."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

CORE = Path(__file__).resolve().parents[1] / "glfcr_qgis" / "core"
MAX_LINES = 400
# subpackage -> core subpackages it may import (errors and lazy are open to all)
ALLOWED = {
    "model": set(),
    "io": set(),
    "scene": {"io", "model"},
    "evaluation": {"io", "model", "scene"},
    "batch": {"io", "model", "scene"},
    "setup": {"model"},
}


def core_modules() -> list[Path]:
    return sorted(path for path in CORE.rglob("*.py") if "__pycache__" not in path.parts)


def imported_modules(path: Path) -> list[str]:
    """Absolute dotted names of what ``path`` imports (relative imports resolved)."""
    package = ["glfcr_qgis", *path.relative_to(CORE.parent).parent.parts]
    names = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                names.append(".".join(base + ([node.module] if node.module else [])))
            else:
                names.append(node.module or "")
    return names


def test_public_api_of_core() -> None:
    import glfcr_qgis.core as core

    for name in ("remove_clouds", "cloud_mask", "load_model", "save_checkpoint", "evaluate_layers",
                 "evaluate_dataset", "psnr", "ssim", "GlfcrError", "OutputWriteError"):
        assert callable(getattr(core, name)), name
    assert core.remove_clouds.__name__ == "remove_clouds"


@pytest.mark.parametrize("path", core_modules(), ids=lambda p: str(p.relative_to(CORE)))
def test_core_module_rules(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").count("\n")
    assert lines <= MAX_LINES, f"{path.name} has {lines} lines; split it by idea (limit {MAX_LINES})"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.ClassDef)}
    assert path.stem not in functions, f"{path} defines {path.stem}(): name the module after what it holds"
    imports = imported_modules(path)
    assert not [name for name in imports if name.split(".")[0] in ("qgis", "PyQt5")], "core never imports qgis"
    assert not [name for name in imports if name.startswith("glfcr_qgis.algorithms")]
    parts = path.relative_to(CORE).parts
    if len(parts) > 1:
        own = parts[0]
        used = {name.split(".")[2] for name in imports if name.startswith("glfcr_qgis.core.") and name.count(".") >= 2}
        forbidden = used - ALLOWED[own] - {own, "errors", "lazy"}
        assert not forbidden, f"core/{own} may not import core/{', core/'.join(sorted(forbidden))}"
