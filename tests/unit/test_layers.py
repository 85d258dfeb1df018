"""The package imports only downwards through its layers (docs/architecture.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "dynoxide_streams"

# Layer of each module or package prefix (longest prefix wins).
LAYERS = {
    "dynoxide_streams.errors": 0,
    "dynoxide_streams.clock": 0,
    "dynoxide_streams.config": 0,
    "dynoxide_streams.lru": 0,
    "dynoxide_streams.logs": 0,
    "dynoxide_streams.http_client": 0,
    "dynoxide_streams.metrics": 0,
    "dynoxide_streams.engine.values": 1,
    "dynoxide_streams.engine.expressions": 1,
    "dynoxide_streams.shards": 2,
    "dynoxide_streams.engine": 3,
    "dynoxide_streams.ttl": 4,
    "dynoxide_streams.push": 4,
    "dynoxide_streams.triggers": 4,
    "dynoxide_streams.sidecar": 4,
    "dynoxide_streams.wire": 5,
    "dynoxide_streams.service": 6,
    "dynoxide_streams.server": 6,
    "dynoxide_streams.cli": 6,
    "dynoxide_streams.testing": 6,
    "dynoxide_streams.__main__": 6,
    "dynoxide_streams": 6,
}


def layer_of(module: str) -> int:
    best = max((p for p in LAYERS if module == p or module.startswith(p + ".")), key=len)
    return LAYERS[best]


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports_of(path: Path) -> list[str]:
    tree = ast.parse(path.read_text())
    found: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append(node.module)
            found.extend(f"{node.module}.{alias.name}" for alias in node.names)
    return [name for name in found if name.startswith("dynoxide_streams")]


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_every_module_has_a_layer() -> None:
    assert MODULES, "no modules found"
    for path in MODULES:
        layer_of(module_name(path))


@pytest.mark.parametrize("path", MODULES, ids=lambda p: module_name(p))
def test_imports_only_go_downwards(path: Path) -> None:
    here = module_name(path)
    mine = layer_of(here)
    for imported in imports_of(path):
        if imported == "dynoxide_streams" and mine == 6:
            continue
        assert layer_of(imported) <= mine, (
            f"{here} (L{mine}) imports {imported} (L{layer_of(imported)})"
        )


def test_peer_layer_four_packages_do_not_import_each_other() -> None:
    peers = (
        "dynoxide_streams.ttl",
        "dynoxide_streams.push",
        "dynoxide_streams.triggers",
        "dynoxide_streams.sidecar",
    )
    for path in MODULES:
        here = module_name(path)
        own = next((p for p in peers if here.startswith(p)), None)
        if own is None:
            continue
        for imported in imports_of(path):
            other = next((p for p in peers if imported.startswith(p)), None)
            assert other in (None, own), f"{here} imports its peer {imported}"


def test_the_check_catches_an_upward_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from dynoxide_streams.wire.app import App\n")
    assert any(
        layer_of(name) > layer_of("dynoxide_streams.engine.values") for name in imports_of(bad)
    )
