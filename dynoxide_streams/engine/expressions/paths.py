"""Document paths: reading them out of items, rendering them, and comparing them."""

from __future__ import annotations

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import Path
from dynoxide_streams.engine.values import AttributeValue, Item


def lookup(item: Item, path: Path) -> AttributeValue | None:
    """The value at ``path`` in ``item``, or None when the path does not exist.

    A name step needs a map, an index step a list with that index; anything else
    (a missing attribute, a scalar in the way, an index past the end) is "absent".
    """
    head = path[0]
    if not isinstance(head, str):
        return None
    value = item.get(head)
    for step in path[1:]:
        if value is None:
            return None
        if isinstance(step, str):
            children = value.get("M")
            value = children.get(step) if children is not None else None
        else:
            elements = value.get("L")
            value = elements[step] if elements is not None and step < len(elements) else None
    return value


def format_path(path: Path) -> str:
    """A path the way DynamoDB prints it in messages: ``[a, [1], b]``."""
    return "[" + ", ".join(f"[{p}]" if isinstance(p, int) else p for p in path) + "]"


def overlap_error(paths: list[Path]) -> tuple[str, str] | None:
    """The first overlap, else the first conflict, between paths of one expression.

    Returns ``(category, message)`` with category ``"overlap"`` or ``"conflict"``.
    Each path is compared with every earlier one. Two paths *overlap* when one is a
    prefix of the other (or they are equal); they *conflict* when they agree up to a
    step that is a name in one and an index in the other (``a.b`` and ``a[1]``).
    """
    conflict: tuple[str, str] | None = None
    for i, new in enumerate(paths):
        for old in paths[:i]:
            relation = _relation(old, new)
            if relation == "overlap":
                return "overlap", _pair_message("overlap", old, new)
            if relation == "conflict" and conflict is None:
                conflict = "conflict", _pair_message("conflict", old, new)
    return conflict


def _relation(a: Path, b: Path) -> str | None:
    for x, y in zip(a, b, strict=False):
        if type(x) is not type(y):
            return "conflict"
        if x != y:
            return None
    return "overlap"


def _pair_message(relation: str, one: Path, two: Path) -> str:
    return messages.PATHS_OVERLAP.format(
        relation=relation, one=format_path(one), two=format_path(two)
    )
