"""Every error message text the server sends for DynamoDB and Streams requests: one
table, each row with the source its wording was taken from.

The table is the data file ``messages.json`` next to this module (shipped as package
data), read once at import: sections of rows, each row a ``str.format`` template, its
source — AWS documentation, the botocore service model, or a public issue or SDK test
quoting a real DynamoDB answer (found with the project's reference search and
collected in the spec digest ``errors.md`` §7) — and a note on when it is used. A row
whose source is ``UNSOURCED`` keeps the server's earlier wording because no public
source shows AWS's, or is the server's own (the admin API, filter-pattern details).

Each row is a module attribute, a :class:`Text`: code never spells a message itself,
it formats a row (``messages.TABLE_NOT_FOUND.format(name=name)``).
``tests/unit/test_messages.py`` scans engine/ and triggers/ for texts written at a
raise site, checks the file's rows, and checks that every ``messages.NAME`` the code
uses is a row (the check mypy made while the rows were Python: to the type checker
any row name is a :class:`Text`, through the module ``__getattr__``).

The Lambda event source mapping API's texts are the ``Lambda`` sections (Lambda's own
protocol; used by ``shapes.py`` and ``triggers/``); PartiQL's are the last. The generic
envelope texts of ``errors.py`` (L0: ``N validation errors detected``, ``Value … at
…``) stay there and match the ENVELOPE and VIOLATION rows. This module imports
nothing of the package, so it is layer 0 and the layer-1 modules (``values.py``,
``expressions/``) use it too.

``SOURCES`` is the whole table by row name, for the tests and the docs.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any, NamedTuple


class Text(NamedTuple):
    """One message: its ``str.format`` template and where the wording was seen."""

    template: str
    source: str

    def format(self, **fields: Any) -> str:
        """The message with ``fields`` filled in."""
        return self.template.format(**fields)

    def __str__(self) -> str:
        return self.template


UNSOURCED = "unsourced"
INVALID = "One or more parameter values were invalid: "
"""The prefix of DynamoDB's "invalid parameter values" sentences."""
_DYNALITE = (
    "https://github.com/architect/dynalite/tree/main/validations (emulator tuned against AWS; "
    "repeated by https://github.com/nubo-db/dynoxide 2026)"
)


def _load() -> dict[str, Text]:
    """The rows of ``messages.json`` by name, in file order."""
    data = json.loads(
        resources.files("dynoxide_streams.engine").joinpath("messages.json").read_bytes()
    )
    return {
        name: Text(row["template"], row["source"])
        for section in data["sections"]
        for name, row in section["rows"].items()
    }


SOURCES: dict[str, Text] = _load()
"""Every row of the table by its name."""
globals().update(SOURCES)


def __getattr__(name: str) -> Text:
    """Only called for a name that is no row (the rows are module attributes, set from
    :data:`SOURCES` above); declared so that the type checker sees every row name as a
    :class:`Text`."""
    raise AttributeError(f"module {__name__!r} has no message row {name!r}")


# --------------------------------------------------------------- enum value order

ENUM_ORDER: dict[str, tuple[tuple[str, ...], str]] = {
    "ReturnValue": (("ALL_NEW", "UPDATED_OLD", "ALL_OLD", "NONE", "UPDATED_NEW"), _DYNALITE),
    "ReturnConsumedCapacity": (("INDEXES", "TOTAL", "NONE"), _DYNALITE),
    "ReturnItemCollectionMetrics": (("SIZE", "NONE"), _DYNALITE),
    "Select": (
        ("SPECIFIC_ATTRIBUTES", "COUNT", "ALL_ATTRIBUTES", "ALL_PROJECTED_ATTRIBUTES"),
        _DYNALITE,
    ),
    "ConditionalOperator": (("OR", "AND"), _DYNALITE),
    "ComparisonOperator": (
        (
            "IN",
            "NULL",
            "BETWEEN",
            "LT",
            "NOT_CONTAINS",
            "EQ",
            "GT",
            "NOT_NULL",
            "NE",
            "LE",
            "BEGINS_WITH",
            "GE",
            "CONTAINS",
        ),
        _DYNALITE,
    ),
    "ScalarAttributeType": (("B", "N", "S"), "https://github.com/aws/aws-sdk-go/issues/333"),
    "KeyType": (("HASH", "RANGE"), _DYNALITE),
    "BillingMode": (("PROVISIONED", "PAY_PER_REQUEST"), _DYNALITE),
    "ProjectionType": (("ALL", "INCLUDE", "KEYS_ONLY"), _DYNALITE),
}
"""The order DynamoDB lists an enum's values in "Member must satisfy enum value set"
(not the model's), by shape name, with its source; other enums in model order."""


def enum_values(shape_name: str, model_order: list[str]) -> str:
    """The values of an enum shape as DynamoDB lists them (``A, B, C``)."""
    known = ENUM_ORDER.get(shape_name)
    if known is not None and set(known[0]) == set(model_order):
        return ", ".join(known[0])
    return ", ".join(model_order)
