"""``--data-model FILE``: a single-table design described in OneTable's schema format
(https://github.com/sensedeep/dynamodb-onetable, "OneTable Schema Specification"):
``{"format": "onetable:1.1.0", "version", "indexes": {"primary": {"hash", "sort"},
...}, "models": {Entity: {attribute: {"type", "value": "${_type}#${id}", ...}}}}``.

It is context for agents, never enforced: ``describe_table`` of a table whose key
attributes are the schema's primary index (``hash``, and ``sort`` when given) answers it
as ``DataModel``, and the server's instructions name its entities. Pure: the file is
read by :func:`load_data_model`, checked just enough to be useful.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from dynoxide_streams.config import ConfigError


def load_data_model(path: Path) -> dict[str, Any]:
    """The schema in ``path``; ConfigError (one line, naming the file) when it cannot
    be read or is not a OneTable schema (an object with ``indexes.primary.hash`` and
    an object of ``models``)."""
    where = f"data model {path}"
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"cannot read {where}: {exc.strerror}") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{where} is not JSON: {exc}") from None
    if not isinstance(schema, dict):
        raise ConfigError(f"{where} must be a JSON object (a OneTable schema)")
    fmt = schema.get("format")
    if fmt is not None and not (isinstance(fmt, str) and fmt.startswith("onetable:")):
        raise ConfigError(f"{where}: format {fmt!r} is not a OneTable schema format")
    primary = (
        (schema.get("indexes") or {}).get("primary")
        if isinstance(schema.get("indexes"), dict)
        else None
    )
    if not isinstance(primary, dict) or not isinstance(primary.get("hash"), str):
        raise ConfigError(
            f'{where}: needs indexes.primary.hash (e.g. {{"hash": "pk", "sort": "sk"}})'
        )
    models = schema.get("models")
    if not isinstance(models, dict) or not all(isinstance(m, dict) for m in models.values()):
        raise ConfigError(f"{where}: needs models, an object of entity definitions")
    return schema


def primary_key(schema: dict[str, Any]) -> list[dict[str, str]]:
    """The KeySchema the schema's primary index describes."""
    primary = schema["indexes"]["primary"]
    keys = [{"AttributeName": primary["hash"], "KeyType": "HASH"}]
    if isinstance(primary.get("sort"), str):
        keys.append({"AttributeName": primary["sort"], "KeyType": "RANGE"})
    return keys


def matches(schema: dict[str, Any], described: dict[str, Any]) -> bool:
    """Whether a DescribeTable answer is of a table this schema describes."""
    table = described.get("Table")
    return isinstance(table, dict) and table.get("KeySchema") == primary_key(schema)


def instructions(schema: dict[str, Any]) -> str:
    """The line the server's instructions add about the loaded model."""
    entities = ", ".join(sorted(schema["models"]))
    keys = "/".join(k["AttributeName"] for k in primary_key(schema))
    return (
        f"A single-table data model (OneTable schema) is loaded, entities: {entities}. "
        f"describe_table of a table keyed {keys} returns it as DataModel: follow its key "
        "templates (value) when you write items.\n"
    )
