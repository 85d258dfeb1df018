"""Validation of table definitions: key schemas, indexes, billing and tags.

Pure functions from request parameters to the table spec stored in the catalog (the
JSON behind :class:`~dynoxide_streams.engine.tables.TableInfo`), raising
ValidationException with AWS's messages.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.tables import resolve_table_name
from dynoxide_streams.errors import ValidationException, constraint_violation, validation_error

MAX_CAPACITY_UNITS = 1_000_000_000_000
MAX_LOCAL_INDEXES = 5
MAX_GLOBAL_INDEXES = 20
MAX_TAGS = 50

_TAG_TEXT = re.compile(r"[\w\s+\-=.:/@]*")
"""DynamoDB's tag character set: Unicode letters and digits, white space, ``+ - = . _ : / @``."""


def _null_members(params: dict[str, Any], members: tuple[tuple[str, str], ...]) -> None:
    missing = [
        constraint_violation(None, path, messages.NOT_NULL.format())
        for path, member in members
        if params.get(member) is None
    ]
    if missing:
        raise validation_error(missing)


def check_key_schema(key_schema: list[dict[str, str]], defined: dict[str, str]) -> None:
    """AWS's rules for one key schema (table or index)."""
    if len(key_schema) > 2:
        rule = messages.KEY_SCHEMA_TOO_LONG.format()
        raise validation_error([constraint_violation(str(key_schema), "keySchema", rule)])
    if any(element["AttributeName"] not in defined for element in key_schema):
        raise ValidationException(messages.KEY_SCHEMA_UNDEFINED.format())
    if key_schema[0]["KeyType"] != "HASH":
        raise ValidationException(messages.KEY_SCHEMA_FIRST_NOT_HASH.format())
    if len(key_schema) == 2:
        if key_schema[0]["AttributeName"] == key_schema[1]["AttributeName"]:
            raise ValidationException(messages.KEY_SCHEMA_SAME_NAME.format())
        if key_schema[1]["KeyType"] != "RANGE":
            raise ValidationException(messages.KEY_SCHEMA_SECOND_NOT_RANGE.format())


def _definitions(definitions: list[dict[str, str]]) -> dict[str, str]:
    defined: dict[str, str] = {}
    for definition in definitions:
        if definition["AttributeName"] in defined:
            raise ValidationException(messages.DUPLICATE_ATTRIBUTE.format())
        defined[definition["AttributeName"]] = definition["AttributeType"]
    return defined


def _projection(index: dict[str, Any]) -> dict[str, Any]:
    projection = index.get("Projection")
    name = index["IndexName"]
    if projection is None:
        rule = messages.PROJECTION_NULL.format(name=name)
        raise validation_error([constraint_violation(None, "projection", rule)])
    kind = projection.get("ProjectionType")
    non_key = projection.get("NonKeyAttributes")
    if kind is None:
        raise ValidationException(messages.PROJECTION_TYPE_NULL.format())
    if kind == "INCLUDE" and not non_key:
        raise ValidationException(messages.INCLUDE_WITHOUT_NON_KEY.format())
    if kind != "INCLUDE" and non_key is not None:
        raise ValidationException(messages.NON_KEY_WITHOUT_INCLUDE.format(kind=kind))
    result: dict[str, Any] = {"ProjectionType": kind}
    if non_key:
        if len(set(non_key)) != len(non_key):
            raise ValidationException(messages.DUPLICATE_NON_KEY.format())
        result["NonKeyAttributes"] = list(non_key)
    return result


def _key_schema_copy(key_schema: list[dict[str, str]]) -> list[dict[str, str]]:
    return [{"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema]


def global_index_spec(
    index: dict[str, Any], defined: dict[str, str], billing: str, iid: int, status: str
) -> dict[str, Any]:
    """Validate one GlobalSecondaryIndex definition; return its stored spec."""
    name = index["IndexName"]
    check_key_schema(index["KeySchema"], defined)
    throughput = index.get("ProvisionedThroughput")
    if billing == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(messages.INDEX_THROUGHPUT_FORBIDDEN.format(name=name))
        described = {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    else:
        if throughput is None:
            raise ValidationException(messages.INDEX_THROUGHPUT_NULL.format(name=name))
        described = billing_throughput("PROVISIONED", throughput)
    return {
        "IndexName": name,
        "IndexId": iid,
        "KeySchema": _key_schema_copy(index["KeySchema"]),
        "Projection": _projection(index),
        "IndexStatus": status,
        "ProvisionedThroughput": described,
    }


def local_index_spec(
    index: dict[str, Any], defined: dict[str, str], table_keys: list[dict[str, str]], iid: int
) -> dict[str, Any]:
    """Validate one LocalSecondaryIndex definition; return its stored spec."""
    name = index["IndexName"]
    key_schema = index["KeySchema"]
    check_key_schema(key_schema, defined)
    if len(table_keys) < 2:
        raise ValidationException(messages.LSI_TABLE_WITHOUT_RANGE.format())
    if len(key_schema) < 2:
        raise ValidationException(messages.LSI_WITHOUT_RANGE.format(name=name))
    if key_schema[0]["AttributeName"] != table_keys[0]["AttributeName"]:
        raise ValidationException(
            messages.LSI_OTHER_HASH.format(
                name=name,
                index_hash=key_schema[0]["AttributeName"],
                table_hash=table_keys[0]["AttributeName"],
            )
        )
    return {
        "IndexName": name,
        "IndexId": iid,
        "KeySchema": _key_schema_copy(key_schema),
        "Projection": _projection(index),
    }


def new_table_spec(
    params: dict[str, Any], *, region: str, account_id: str, now: float
) -> dict[str, Any]:
    """Validate a CreateTable request; return the table's spec.

    Raises ValidationException with AWS's messages. Streams are rejected until they are
    implemented, rather than silently ignored.
    """
    name = resolve_table_name(params["TableName"])
    _null_members(
        params, (("attributeDefinitions", "AttributeDefinitions"), ("keySchema", "KeySchema"))
    )
    definitions: list[dict[str, str]] = params["AttributeDefinitions"]
    key_schema: list[dict[str, str]] = params["KeySchema"]
    defined = _definitions(definitions)
    check_key_schema(key_schema, defined)
    billing = params.get("BillingMode", "PROVISIONED")
    throughput = billing_throughput(billing, params.get("ProvisionedThroughput"))
    local_defs = params.get("LocalSecondaryIndexes") or []
    global_defs = params.get("GlobalSecondaryIndexes") or []
    if params.get("LocalSecondaryIndexes") == []:
        raise ValidationException(messages.LSI_LIST_EMPTY.format())
    if params.get("GlobalSecondaryIndexes") == []:
        raise ValidationException(messages.GSI_LIST_EMPTY.format())
    if len(local_defs) > MAX_LOCAL_INDEXES:
        raise ValidationException(messages.TOO_MANY_LSIS.format(limit=MAX_LOCAL_INDEXES))
    if len(global_defs) > MAX_GLOBAL_INDEXES:
        raise ValidationException(messages.TOO_MANY_GSIS.format(limit=MAX_GLOBAL_INDEXES))
    names: set[str] = set()
    for index in [*local_defs, *global_defs]:
        if index["IndexName"] in names:
            raise ValidationException(messages.DUPLICATE_INDEX.format(name=index["IndexName"]))
        names.add(index["IndexName"])
    local = [local_index_spec(ix, defined, key_schema, n) for n, ix in enumerate(local_defs, 1)]
    global_ = [
        global_index_spec(ix, defined, billing, n, "ACTIVE")
        for n, ix in enumerate(global_defs, len(local) + 1)
    ]
    used = {k["AttributeName"] for k in key_schema}
    for index in [*local, *global_]:
        used.update(k["AttributeName"] for k in index["KeySchema"])
    if set(defined) != used:
        if not local and not global_:
            raise ValidationException(messages.KEY_DEFINITION_COUNT.format())
        raise ValidationException(
            messages.UNUSED_DEFINITIONS.format(
                defined=", ".join(defined), used=", ".join(sorted(used))
            )
        )
    stream_view_type(params.get("StreamSpecification"))
    spec: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": d["AttributeName"], "AttributeType": d["AttributeType"]}
            for d in definitions
        ],
        "KeySchema": _key_schema_copy(key_schema),
        "CreationDateTime": now,
        "ProvisionedThroughput": throughput,
        "TableArn": f"arn:aws:dynamodb:{region}:{account_id}:table/{name}",
        "TableId": str(uuid.uuid4()),
        "TableClass": params.get("TableClass", "STANDARD"),
        "DeletionProtectionEnabled": bool(params.get("DeletionProtectionEnabled", False)),
        "NextIndexId": len(local) + len(global_) + 1,
        "Tags": check_tags(params.get("Tags") or [], {}),
    }
    if local:
        spec["LocalSecondaryIndexes"] = local
    if global_:
        spec["GlobalSecondaryIndexes"] = global_
    if billing == "PAY_PER_REQUEST":
        spec["BillingModeSummary"] = {
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": now,
        }
    return spec


def billing_throughput(billing: str, throughput: dict[str, Any] | None) -> dict[str, Any]:
    """ProvisionedThroughput description for a billing mode, with AWS's checks."""
    if billing == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(messages.PAY_PER_REQUEST_THROUGHPUT.format())
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    if throughput is None:
        raise ValidationException(messages.PROVISIONED_NEEDS_BOTH.format())
    for member in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if throughput.get(member) is None:
            raise ValidationException(messages.PROVISIONED_NEEDS_BOTH.format())
        if int(throughput[member]) > MAX_CAPACITY_UNITS:
            raise ValidationException(
                messages.CAPACITY_OUT_OF_BOUNDS.format(value=int(throughput[member]), member=member)
            )
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": int(throughput["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(throughput["WriteCapacityUnits"]),
    }


def check_tags(tags: list[dict[str, str]], existing: dict[str, str]) -> dict[str, str]:
    """Merge ``tags`` into ``existing`` (a new dict), enforcing AWS's tag rules."""
    merged = dict(existing)
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        if key is None or value is None:
            raise ValidationException(messages.TAG_INCOMPLETE.template)
        if key.startswith("aws:"):
            raise ValidationException(messages.TAG_RESERVED_PREFIX.template)
        if not (_TAG_TEXT.fullmatch(key) and _TAG_TEXT.fullmatch(value)):
            raise ValidationException(messages.TAG_CHARACTERS.template)
        merged[key] = value
    if len(merged) > MAX_TAGS:
        raise ValidationException(messages.TOO_MANY_TAGS.template)
    return merged


def stream_view_type(specification: dict[str, Any] | None) -> str | None:
    """The view type a StreamSpecification enables (None: no stream), with AWS's checks."""
    if specification is None:
        return None
    enabled = specification.get("StreamEnabled")
    view_type = specification.get("StreamViewType")
    if enabled:
        if view_type is None:
            raise ValidationException(messages.STREAM_VIEW_REQUIRED.format())
        return str(view_type)
    if view_type is not None:
        raise ValidationException(messages.STREAM_VIEW_FORBIDDEN.format())
    return None
