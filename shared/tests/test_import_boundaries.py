"""STYLE L5: services never import each other; ``shared`` imports no service."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = {
    "shared": ROOT / "shared" / "shared",
    "gateway": ROOT / "services" / "gateway" / "gateway",
    "agent_worker": ROOT / "services" / "agent-worker" / "agent_worker",
    "history": ROOT / "services" / "history" / "history",
}
SERVICES = {"gateway", "agent_worker", "history"}


def imported_top_levels(package_dir: Path) -> set[str]:
    names: set[str] = set()
    for path in package_dir.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(PACKAGES))
def test_package_imports_no_other_service(package: str) -> None:
    imported = imported_top_levels(PACKAGES[package])
    assert imported, f"no imports found under {PACKAGES[package]}"
    forbidden = SERVICES - {package}
    assert not imported & forbidden, f"{package} imports {imported & forbidden}"
