"""engine/messages.py (its rows in engine/messages.json) is the one table of error texts:
no module of engine/ or triggers/ spells a message itself, every row is well formed, and
every row the code names exists."""

from __future__ import annotations

import ast
import json
import re
import string
from pathlib import Path

import pytest

from dynoxide_streams import errors
from dynoxide_streams.engine import messages

PACKAGE = Path(messages.__file__).resolve().parent.parent
ROOT = PACKAGE.parent
TABLE_FILE = PACKAGE / "engine" / "messages.json"
SCANNED = sorted(
    [
        PACKAGE / "errors.py",
        *(
            path
            for folder in ("engine", "triggers")
            for path in (PACKAGE / folder).rglob("*.py")
            if path.name != "messages.py" and "partiql" not in path.relative_to(PACKAGE).parts
        ),
    ]
)
"""errors.py, engine/ (less the table itself and the PartiQL package, which has its
own owner) and triggers/, whose Lambda texts are the table's Lambda section."""

ERROR_CLASSES = frozenset(
    name
    for name, value in vars(errors).items()
    if isinstance(value, type) and issubclass(value, errors.DynamoDBError)
) | {"FilterPatternError"}
"""Every client-visible error class, and the filter compiler's (its text becomes
InvalidParameterValueException's)."""

MESSAGE_ARGUMENTS: dict[str, tuple[int, ...]] = {
    "validation_error": (0,),
    "constraint_violation": (2,),  # (value, path, rule): the rule is the text
    "_error": (0,),  # keycondition: "Invalid KeyConditionExpression: <message>"
    "fail": (1,),  # filters: (path, detail)
    "add": (1,),  # resolve: errors.add(category, message)
    "undefined": (0,),  # resolve: an undefined placeholder's message
}
"""Helpers that carry a message on to an error, and which positional argument is it."""


def _is_literal_text(node: ast.expr) -> bool:
    """A string written at the call: a literal, an f-string with words of its own, or a
    concatenation with one. ``messages.X.template`` and ``messages.X.format(...)``
    (names, attributes, calls) are not."""
    if isinstance(node, ast.Constant):
        return isinstance(node.value, str) and bool(node.value)
    if isinstance(node, ast.JoinedStr):
        return any(
            isinstance(part, ast.Constant) and re.search(r"[A-Za-z]", str(part.value))
            for part in node.values
        )
    if isinstance(node, ast.BinOp):
        return _is_literal_text(node.left) or _is_literal_text(node.right)
    if isinstance(node, ast.List):
        return any(_is_literal_text(element) for element in node.elts)
    return False


def _callee(node: ast.Call) -> str | None:
    if isinstance(node.func, ast.Name):
        return node.func.id
    if isinstance(node.func, ast.Attribute):
        return node.func.attr
    return None


def literal_texts(source: str) -> list[tuple[int, str]]:
    """``(line, code)`` of every message written at a raise site in ``source``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.Call):
            continue
        name = _callee(node)
        if name in ERROR_CLASSES:
            arguments = [*node.args, *(k.value for k in node.keywords if k.arg == "message")]
        elif name in MESSAGE_ARGUMENTS:
            arguments = [node.args[i] for i in MESSAGE_ARGUMENTS[name] if i < len(node.args)]
            arguments += [k.value for k in node.keywords if k.arg in ("rule", "message")]
        else:
            continue
        found.extend((node.lineno, ast.unparse(a)) for a in arguments if _is_literal_text(a))
    return found


def _docstrings(tree: ast.Module) -> set[int]:
    found: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            found.add(id(node.value))
    return found


def _static_parts(template: str) -> list[str]:
    return [literal for literal, *_ in string.Formatter().parse(template) if literal]


def test_the_scan_sees_the_modules() -> None:
    names = {path.name for path in SCANNED}
    assert {"errors.py", "values.py", "ddl.py", "resolve.py", "legacy.py", "filters.py"} <= names


def test_the_scan_finds_literal_texts() -> None:
    caught = literal_texts(
        "raise ValidationException('Table is gone')\n"
        "raise ValidationException(f'Table {name} is gone')\n"
        "raise ValidationException(INVALID + 'gone')\n"
        "constraint_violation(v, 'limit', 'Member must not be null')\n"
        "errors.add('reserved', f'Attribute name is reserved: {w}')\n"
        "raise self.fail(path, 'exists expects true or false.')\n"
        "raise validation_error(['a violation'])\n"
    )
    assert [line for line, _ in caught] == [1, 2, 3, 4, 5, 6, 7]
    assert not literal_texts(
        "raise ValidationException(messages.TABLE_NOT_FOUND.format(name=name))\n"
        "raise ValidationException(messages.INVALID_SHARD_ITERATOR.template)\n"
        "raise ValidationException(TRIMMED)\n"
        "raise ValidationException(f'{a}: {b}')\n"
        "constraint_violation(v, f'requestItems.{t}.member.keys', messages.NOT_NULL.format())\n"
        "raise InternalServerError(str(exc))\n"
    )


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_writes_an_error_text(path: Path) -> None:
    found = literal_texts(path.read_text())
    assert not found, (
        f"{path.relative_to(PACKAGE)} writes error texts itself; add them to "
        f"engine/messages.json as rows and format those: {found}"
    )


@pytest.mark.parametrize("path", SCANNED, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_no_module_copies_a_table_text(path: Path) -> None:
    """A row's wording (its longest fixed part) appears in no other string literal."""
    tree = ast.parse(path.read_text())
    docstrings = _docstrings(tree)
    literals = [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]
    copies = []
    for name, row in messages.SOURCES.items():
        wording = max(_static_parts(row.template), key=len, default="")
        if len(wording) < 24:
            continue
        copies += [(line, name) for line, text in literals if wording in text]
    assert not copies, f"{path.relative_to(PACKAGE)} repeats rows of the table: {copies}"


@pytest.mark.parametrize("name", sorted(messages.SOURCES))
def test_every_row_is_well_formed(name: str) -> None:
    row = messages.SOURCES[name]
    assert row.source.strip(), f"{name} has no source (use messages.UNSOURCED)"
    parsed = [(field, spec) for _, field, spec, _ in string.Formatter().parse(row.template)]
    fields = {field: 1.5 if spec else "<x>" for field, spec in parsed if field is not None}
    assert all(field.isidentifier() for field in fields), f"{name}: {sorted(fields)}"
    filled = row.format(**fields)
    assert "<x>" in filled or "1.50" in filled or not fields, filled


def test_every_text_is_one_row() -> None:
    by_template: dict[str, list[str]] = {}
    for name, row in messages.SOURCES.items():
        by_template.setdefault(row.template, []).append(name)
    twice = {template: names for template, names in by_template.items() if len(names) > 1}
    assert not twice, f"the same text in more than one row: {twice}"


def test_format_fills_the_template() -> None:
    assert (
        messages.TABLE_NOT_FOUND.format(name="t")
        == "Requested resource not found: Table: t not found"
    )
    assert messages.NAMES_UNUSED.format(keys="#a, #b") == (
        "Value provided in ExpressionAttributeNames unused in expressions: keys: {#a, #b}"
    )
    assert str(messages.INVALID_SHARD_ITERATOR) == "Invalid ShardIterator"


def _unique_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [key for key, _ in pairs]
    repeated = sorted({key for key in keys if keys.count(key) > 1})
    assert not repeated, f"messages.json names these twice in one object: {repeated}"
    return dict(pairs)


def test_the_data_file_is_the_table() -> None:
    """Sections of rows; a row name is UPPER_SNAKE and used once in the whole file (JSON
    would keep the last of two silently); a row holds a template, a source and maybe a
    doc, all strings; SOURCES is exactly the file's rows, in file order."""
    data = json.loads(TABLE_FILE.read_text(encoding="utf-8"), object_pairs_hook=_unique_keys)
    names: list[str] = []
    for section in data["sections"]:
        assert set(section) <= {"title", "note", "rows"} and section["rows"], section.get("title")
        for name, row in section["rows"].items():
            assert re.fullmatch(r"[A-Z][A-Z0-9_]*", name), name
            assert {"template", "source"} <= set(row) <= {"template", "source", "doc"}, name
            assert all(isinstance(value, str) for value in row.values()), name
            names.append(name)
    assert len(names) == len(set(names)), sorted({n for n in names if names.count(n) > 1})
    assert list(messages.SOURCES) == names
    assert all(getattr(messages, name) is messages.SOURCES[name] for name in names)


def _named_rows(source: str) -> list[tuple[int, str]]:
    """``(line, NAME)`` of every ``messages.NAME`` (an upper-case attribute) in ``source``."""
    return [
        (node.lineno, node.attr)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and node.value.id == "messages"
        and node.attr.isupper()
    ]


def test_the_named_row_scan_sees_names() -> None:
    assert _named_rows(
        "raise E(messages.TABLE_NOT_FOUND.format(name=n))\nmessages.enum_values"
    ) == [(1, "TABLE_NOT_FOUND")]


@pytest.mark.parametrize("folder", ["dynoxide_streams", "tests", "bench", "tools"])
def test_every_row_the_code_names_exists(folder: str) -> None:
    """What mypy checked while the rows were Python: ``messages.NAME`` names a row (or
    one of the module's own constants); to mypy any name is a Text now."""
    missing = [
        (str(path.relative_to(ROOT)), line, name)
        for path in sorted((ROOT / folder).rglob("*.py"))
        for line, name in _named_rows(path.read_text(encoding="utf-8"))
        if name not in vars(messages)
    ]
    assert not missing, f"no such message rows: {missing}"
