"""ProjectionExpression semantics: the parts of an item a list of paths selects.

Map nesting is kept (``a.b`` of ``{a: {b: 1, c: 2}}`` is ``{a: {b: 1}}``); the selected
elements of a list are returned as a shorter list in index order (``a[3], a[1]`` gives
``[a[1], a[3]]``). A path that does not exist contributes nothing, and a container is
only returned when something inside it was selected. The result shares the selected
AttributeValues with the item.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from dynoxide_streams.engine.expressions.ast import Path
from dynoxide_streams.engine.values import AttributeValue, Item


@dataclass(slots=True)
class _Selection:
    whole: bool = False
    children: dict[str | int, _Selection] = field(default_factory=dict)


def project(paths: list[Path], item: Item) -> Item:
    """The projection of ``item`` on ``paths`` (a new item)."""
    root = _Selection()
    for path in paths:
        node = root
        for step in path:
            node = node.children.setdefault(step, _Selection())
        node.whole = True
    return _select_map(item, root)


def _select_map(entries: dict[str, AttributeValue], node: _Selection) -> dict[str, AttributeValue]:
    selected: dict[str, AttributeValue] = {}
    for step, child in node.children.items():
        if not isinstance(step, str):
            continue
        value = entries.get(step)
        if value is None:
            continue
        picked = value if child.whole else _select_value(value, child)
        if picked is not None:
            selected[step] = picked
    return selected


def _select_value(value: AttributeValue, node: _Selection) -> AttributeValue | None:
    if "M" in value:
        entries = _select_map(value["M"], node)
        return {"M": entries} if entries else None
    if "L" in value:
        elements: list[AttributeValue] = value["L"]
        picked: list[AttributeValue] = []
        for step in sorted(s for s in node.children if isinstance(s, int)):
            if step >= len(elements):
                break
            child = node.children[step]
            element = elements[step] if child.whole else _select_value(elements[step], child)
            if element is not None:
                picked.append(element)
        return {"L": picked} if picked else None
    return None
