"""The package imports only downwards through its layers.

The layers are not written here: they are read from the layer table of
docs/architecture.md (section "Layers"), so the doc and this check cannot disagree.
Each row of that table names one module (``errors.py``) or one package
(``engine/``, every module under it) relative to ``dynoxide_streams/``, and its layer
number; a module's layer is the one of the most specific row that covers it.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "dynoxide_streams"
DOC = ROOT / "docs" / "architecture.md"

HEADER = ("layer", "module", "may import", "owns")
"""The header cells that mark the layer table in the doc."""

_ROW_MODULE = re.compile(r"`((?:[a-z_][a-z0-9_]*/)*(?:[a-z_][a-z0-9_]*\.py|[a-z_][a-z0-9_]*/))`")


class TableError(Exception):
    """The layer table of the doc is missing or has a row that does not parse."""


def _cells(line: str) -> list[str]:
    return [cell.strip() for cell in line.strip().strip("|").split("|")]


def parse_layer_table(text: str) -> dict[str, int]:
    """``{row: layer}`` from the markdown table whose header is :data:`HEADER`.

    A row is ``| <layer number> | `<path>` | <may import> | <owns> |``, where the path
    is a module (``engine/values.py``) or a package ending in ``/`` (``engine/``).
    Raises TableError when the table is missing, empty, or a row does not parse.
    """
    lines = text.splitlines()
    start = next(
        (
            i
            for i, line in enumerate(lines)
            if line.startswith("|") and tuple(_cells(line)) == HEADER
        ),
        None,
    )
    if start is None:
        raise TableError(f"no table with the header {' | '.join(HEADER)}")
    if start + 1 >= len(lines) or not set(lines[start + 1].replace("|", "").strip()) <= set("-: "):
        raise TableError("the layer table's header is not followed by its separator row")
    rows: dict[str, int] = {}
    for line in lines[start + 2 :]:
        if not line.startswith("|"):
            break
        cells = _cells(line)
        if len(cells) != len(HEADER):
            raise TableError(f"expected {len(HEADER)} cells: {line}")
        if not cells[0].isdigit():
            raise TableError(f"the layer is not a number: {line}")
        found = _ROW_MODULE.fullmatch(cells[1])
        if found is None:
            raise TableError(f"the module is not one `path.py` or `package/`: {line}")
        if found.group(1) in rows:
            raise TableError(f"the module has two rows: {line}")
        rows[found.group(1)] = int(cells[0])
    if not rows:
        raise TableError("the layer table has no rows")
    return rows


LAYERS: dict[str, int] = {}
TABLE_ERROR: TableError | None = None  # reported by test_the_layer_table_parses
try:
    LAYERS = parse_layer_table(DOC.read_text())
except TableError as exc:
    TABLE_ERROR = exc


def module_path(module: str) -> str:
    """The file of a dotted name, relative to the package (``engine/values.py``).

    ``module`` may name something inside a module (``dynoxide_streams.errors.X``):
    the longest prefix that is a module or a package counts.
    """
    parts = module.split(".")[1:]
    for n in range(len(parts), 0, -1):
        stem = "/".join(parts[:n])
        if (PACKAGE / f"{stem}.py").is_file():
            return f"{stem}.py"
        if (PACKAGE / stem / "__init__.py").is_file():
            return f"{stem}/__init__.py"
    return "__init__.py"


def row_of(path: str) -> str | None:
    """The most specific table row covering the module file ``path``."""
    covering = [
        row for row in LAYERS if row == path or (row.endswith("/") and path.startswith(row))
    ]
    return max(covering, key=len, default=None)


def layer_of(module: str) -> int:
    path = module_path(module)
    row = row_of(path)
    if row is None:
        raise KeyError(f"{module} ({path}) is in no row of the layer table in {DOC.name}")
    return LAYERS[row]


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
PEERS = sorted(row for row, layer in LAYERS.items() if layer == 4 and row.endswith("/"))
"""The layer-4 packages, which must not import each other."""


def test_the_layer_table_parses() -> None:
    assert TABLE_ERROR is None, f"the layer table of {DOC}: {TABLE_ERROR}"
    assert set(LAYERS.values()) == set(range(7)), "every layer 0..6 has a row"
    for row in LAYERS:
        target = PACKAGE / row
        assert target.is_dir() if row.endswith("/") else target.is_file(), (
            f"the layer table names {row}, which is not in dynoxide_streams/"
        )
    assert PEERS, "layer 4 has packages (the peers that must not import each other)"


def test_a_bad_table_is_refused() -> None:
    header = "| layer | module | may import | owns |\n|---|---|---|---|\n"
    assert parse_layer_table(header + "| 0 | `errors.py` | — | errors |\n") == {"errors.py": 0}
    for bad in (
        "| zero | `errors.py` | — | errors |\n",
        "| 0 | errors.py | — | errors |\n",
        "| 0 | `errors.py`, `clock.py` | — | errors |\n",
        "| 0 | `errors.py` | — |\n",
        "| 0 | `errors.py` | — | x |\n| 1 | `errors.py` | — | y |\n",
        "",
    ):
        with pytest.raises(TableError):
            parse_layer_table(header + bad)
    with pytest.raises(TableError):
        parse_layer_table("no table here\n")


def test_every_module_is_in_the_table() -> None:
    assert MODULES, "no modules found"
    missing = [
        str(path.relative_to(PACKAGE))
        for path in MODULES
        if row_of(str(path.relative_to(PACKAGE))) is None
    ]
    assert not missing, f"modules in no row of the layer table in {DOC}: {missing}"


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
    peers = tuple("dynoxide_streams." + row.rstrip("/").replace("/", ".") for row in PEERS)
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
