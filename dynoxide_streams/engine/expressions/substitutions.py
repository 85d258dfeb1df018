"""ExpressionAttributeNames / ExpressionAttributeValues of one request, and their use."""

from __future__ import annotations

from collections.abc import Mapping

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.values import AttributeValue
from dynoxide_streams.errors import ValidationException


class Substitutions:
    """The ``#name`` and ``:value`` placeholders of one request.

    Every ``parse_*`` call of the request resolves its placeholders through the same
    instance, which records the ones used; :meth:`check_all_used` then reports those no
    expression used, as DynamoDB does. Values are expected to be validated already
    (``values.validate_value``); they are returned as given, never copied or modified.
    """

    __slots__ = ("_names", "_used_names", "_used_values", "_values")

    def __init__(
        self,
        names: Mapping[str, str] | None,
        values: Mapping[str, AttributeValue] | None,
    ) -> None:
        self._names: dict[str, str] = dict(names or {})
        self._values: dict[str, AttributeValue] = dict(values or {})
        self._used_names: set[str] = set()
        self._used_values: set[str] = set()

    def name(self, placeholder: str) -> str | None:
        """The attribute name ``placeholder`` (``#x``) stands for, or None if undefined."""
        name = self._names.get(placeholder)
        if name is not None:
            self._used_names.add(placeholder)
        return name

    def value(self, placeholder: str) -> AttributeValue | None:
        """The value ``placeholder`` (``:x``) stands for, or None if undefined."""
        value = self._values.get(placeholder)
        if value is not None:
            self._used_values.add(placeholder)
        return value

    def check_all_used(self) -> None:
        """Raise AWS's error if a defined name or value was used by no expression.

        Names are checked before values; the keys are listed sorted.
        """
        unused_names = sorted(set(self._names) - self._used_names)
        if unused_names:
            raise ValidationException(messages.NAMES_UNUSED.format(keys=", ".join(unused_names)))
        unused_values = sorted(set(self._values) - self._used_values)
        if unused_values:
            raise ValidationException(messages.VALUES_UNUSED.format(keys=", ".join(unused_values)))
