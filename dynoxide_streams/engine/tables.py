"""Table metadata: the key schema of a table, its storage keys and its description.

A :class:`TableInfo` is the in-memory form of one row of the ``tables`` catalog. It
knows how to turn an item or a ``Key`` parameter into the storage key
``(h, pk, sk)`` — ``h`` a 32-bit hash of the partition key bytes (the scan order and
the basis of parallel-scan segments), ``pk``/``sk`` the order-preserving encodings of
the key values — and how to describe itself the way DescribeTable does.
"""

from __future__ import annotations

import hashlib
import re
import uuid
from dataclasses import dataclass, field
from typing import Any

from dynoxide_streams.engine.values import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    AttributeValue,
    Item,
    encode_key,
    key_value_bytes,
    value_type,
)
from dynoxide_streams.errors import ValidationException

StorageKey = tuple[int, bytes, bytes]
"""(h, pk, sk): the primary key of an item inside its table's rows."""

_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
_ARN_PATTERN = re.compile(r"arn:aws[a-zA-Z-]*:dynamodb:[^:]*:[0-9]*:table/([^/]+)")


def hash_partition(pk: bytes) -> int:
    """The 32-bit hash that orders a table's partitions (and splits Scan segments)."""
    return int.from_bytes(hashlib.blake2b(pk, digest_size=4).digest(), "big")


def resolve_table_name(name: str, member: str = "tableName") -> str:
    """Accept a table name or table ARN; return the table name or raise AWS's error."""
    match = _ARN_PATTERN.fullmatch(name)
    if match:
        name = match.group(1)
    if not 3 <= len(name) <= 255:
        raise ValidationException(
            "TableName must be at least 3 characters long and at most 255 characters long"
        )
    if not _NAME_PATTERN.fullmatch(name):
        raise ValidationException(
            f"1 validation error detected: Value '{name}' at '{member}' failed to satisfy "
            "constraint: Member must satisfy regular expression pattern: [a-zA-Z0-9_.-]+"
        )
    return name


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str  # "S" | "N" | "B"


@dataclass(eq=False)
class TableInfo:
    """One table of the catalog. ``tid`` is the internal row id, never reused."""

    tid: int
    name: str
    spec: dict[str, Any]
    item_count: int = 0
    size_bytes: int = 0
    deleted: bool = False
    hash_key: KeyAttribute = field(init=False)
    range_key: KeyAttribute | None = field(init=False)

    def __post_init__(self) -> None:
        types = {d["AttributeName"]: d["AttributeType"] for d in self.spec["AttributeDefinitions"]}
        hash_name = self.spec["KeySchema"][0]["AttributeName"]
        self.hash_key = KeyAttribute(hash_name, types[hash_name])
        if len(self.spec["KeySchema"]) > 1:
            range_name = self.spec["KeySchema"][1]["AttributeName"]
            self.range_key = KeyAttribute(range_name, types[range_name])
        else:
            self.range_key = None

    # ----------------------------------------------------------------- identity

    @property
    def arn(self) -> str:
        return str(self.spec["TableArn"])

    @property
    def key_names(self) -> tuple[str, ...]:
        if self.range_key is None:
            return (self.hash_key.name,)
        return (self.hash_key.name, self.range_key.name)

    # ---------------------------------------------------------------------- keys

    def key_of_item(self, item: Item) -> StorageKey:
        """Storage key of a full item (PutItem): key attributes must be present."""
        for attr in self._key_attributes():
            if attr.name not in item:
                raise ValidationException(
                    "One or more parameter values were invalid: "
                    f"Missing the key {attr.name} in the item"
                )
        return self._encode(item)

    def key_of(self, key: Item) -> StorageKey:
        """Storage key of a ``Key`` parameter: exactly the key attributes, right types."""
        if (
            len(key) != len(self.key_names)
            or any(name not in key for name in self.key_names)
            or any(value_type(key[a.name]) != a.type for a in self._key_attributes())
        ):
            raise ValidationException("The provided key element does not match the schema")
        return self._encode(key)

    def key_item(self, item: Item) -> Item:
        """The key attributes of an item."""
        return {name: item[name] for name in self.key_names if name in item}

    def _key_attributes(self) -> tuple[KeyAttribute, ...]:
        if self.range_key is None:
            return (self.hash_key,)
        return (self.hash_key, self.range_key)

    def _encode(self, item: Item) -> StorageKey:
        pk = self._encode_one(self.hash_key, item[self.hash_key.name], MAX_PARTITION_KEY_BYTES)
        sk = b""
        if self.range_key is not None:
            sk = self._encode_one(self.range_key, item[self.range_key.name], MAX_SORT_KEY_BYTES)
        return hash_partition(pk), pk, sk

    @staticmethod
    def _encode_one(attr: KeyAttribute, value: AttributeValue, limit: int) -> bytes:
        actual = value_type(value)
        if actual != attr.type:
            raise ValidationException(
                "One or more parameter values were invalid: Type mismatch for key "
                f"{attr.name} expected: {attr.type} actual: {actual}"
            )
        size = key_value_bytes(value)
        if size == 0:
            raise ValidationException(
                "One or more parameter values are not valid. The AttributeValue for a key "
                f"attribute cannot contain an empty {'string' if actual == 'S' else 'binary'} "
                f"value. Key: {attr.name}"
            )
        if size > limit:
            if limit == MAX_PARTITION_KEY_BYTES:
                raise ValidationException(
                    "One or more parameter values were invalid: Size of hashkey has exceeded "
                    "the maximum size limit of2048 bytes"
                )
            raise ValidationException(
                "One or more parameter values were invalid: Aggregated size of all range keys "
                "has exceeded the size limit of 1024 bytes"
            )
        return encode_key(value)

    # --------------------------------------------------------------- description

    def description(self, status: str = "ACTIVE") -> dict[str, Any]:
        """The TableDescription DynamoDB returns for this table."""
        spec = self.spec
        desc: dict[str, Any] = {
            "AttributeDefinitions": spec["AttributeDefinitions"],
            "TableName": self.name,
            "KeySchema": spec["KeySchema"],
            "TableStatus": status,
            "CreationDateTime": spec["CreationDateTime"],
            "ProvisionedThroughput": dict(spec["ProvisionedThroughput"]),
            "TableSizeBytes": self.size_bytes,
            "ItemCount": self.item_count,
            "TableArn": spec["TableArn"],
            "TableId": spec["TableId"],
        }
        if "BillingModeSummary" in spec:
            desc["BillingModeSummary"] = spec["BillingModeSummary"]
        if spec.get("TableClass", "STANDARD") != "STANDARD":
            desc["TableClassSummary"] = {"TableClass": spec["TableClass"]}
        desc["DeletionProtectionEnabled"] = spec.get("DeletionProtectionEnabled", False)
        return desc


def new_table_spec(
    params: dict[str, Any], *, region: str, account_id: str, now: float
) -> dict[str, Any]:
    """Validate a CreateTable request's key schema and billing; return the table's spec.

    Raises ValidationException with AWS's messages. Secondary indexes and streams are
    rejected until they are implemented, rather than silently ignored.
    """
    name = resolve_table_name(params["TableName"])
    missing = [
        f"Value null at '{member}' failed to satisfy constraint: Member must not be null"
        for member, param in (
            ("attributeDefinitions", "AttributeDefinitions"),
            ("keySchema", "KeySchema"),
        )
        if params.get(param) is None
    ]
    if missing:
        noun = "error" if len(missing) == 1 else "errors"
        raise ValidationException(
            f"{len(missing)} validation {noun} detected: " + "; ".join(missing)
        )
    definitions: list[dict[str, str]] = params["AttributeDefinitions"]
    key_schema: list[dict[str, str]] = params["KeySchema"]
    defined: dict[str, str] = {}
    for definition in definitions:
        if definition["AttributeName"] in defined:
            raise ValidationException("Cannot have two attributes with the same name")
        defined[definition["AttributeName"]] = definition["AttributeType"]
    if len(key_schema) > 2:
        raise ValidationException(
            "1 validation error detected: Value '"
            + str(key_schema)
            + "' at 'keySchema' failed to satisfy constraint: Member must have length less "
            "than or equal to 2"
        )
    if any(element["AttributeName"] not in defined for element in key_schema):
        raise ValidationException("Invalid KeySchema: Some index key attribute have no definition")
    if key_schema[0]["KeyType"] != "HASH":
        raise ValidationException(
            "Invalid KeySchema: The first KeySchemaElement is not a HASH key type"
        )
    if len(key_schema) == 2:
        if key_schema[0]["AttributeName"] == key_schema[1]["AttributeName"]:
            raise ValidationException(
                "Both the Hash Key and the Range Key element in the KeySchema have the same name"
            )
        if key_schema[1]["KeyType"] != "RANGE":
            raise ValidationException(
                "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type"
            )
    for index_kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if params.get(index_kind):
            raise ValidationException(
                f"One or more parameter values were invalid: {index_kind} are not supported by this server yet"
            )
    if len(defined) != len(key_schema):
        raise ValidationException(
            "One or more parameter values were invalid: Number of attributes in KeySchema does "
            "not exactly match number of attributes defined in AttributeDefinitions"
        )
    if (params.get("StreamSpecification") or {}).get("StreamEnabled"):
        raise ValidationException(
            "One or more parameter values were invalid: StreamSpecification is not supported by this server yet"
        )
    billing = params.get("BillingMode", "PROVISIONED")
    throughput = billing_throughput(billing, params.get("ProvisionedThroughput"))
    table_id = str(uuid.uuid4())
    spec: dict[str, Any] = {
        "AttributeDefinitions": [
            {"AttributeName": d["AttributeName"], "AttributeType": d["AttributeType"]}
            for d in definitions
        ],
        "KeySchema": [
            {"AttributeName": k["AttributeName"], "KeyType": k["KeyType"]} for k in key_schema
        ],
        "CreationDateTime": now,
        "ProvisionedThroughput": throughput,
        "TableArn": f"arn:aws:dynamodb:{region}:{account_id}:table/{name}",
        "TableId": table_id,
        "TableClass": params.get("TableClass", "STANDARD"),
        "DeletionProtectionEnabled": bool(params.get("DeletionProtectionEnabled", False)),
    }
    if billing == "PAY_PER_REQUEST":
        spec["BillingModeSummary"] = {
            "BillingMode": "PAY_PER_REQUEST",
            "LastUpdateToPayPerRequestDateTime": now,
        }
    return spec


MAX_CAPACITY_UNITS = 1_000_000_000_000


def billing_throughput(billing: str, throughput: dict[str, Any] | None) -> dict[str, Any]:
    """ProvisionedThroughput description for a billing mode, with AWS's checks."""
    if billing == "PAY_PER_REQUEST":
        if throughput is not None:
            raise ValidationException(
                "One or more parameter values were invalid: Neither ReadCapacityUnits nor "
                "WriteCapacityUnits can be specified when BillingMode is PAY_PER_REQUEST"
            )
        return {"NumberOfDecreasesToday": 0, "ReadCapacityUnits": 0, "WriteCapacityUnits": 0}
    if throughput is None:
        raise ValidationException(
            "One or more parameter values were invalid: ReadCapacityUnits and "
            "WriteCapacityUnits must both be specified when BillingMode is PROVISIONED"
        )
    for member in ("ReadCapacityUnits", "WriteCapacityUnits"):
        if int(throughput[member]) > MAX_CAPACITY_UNITS:
            raise ValidationException(
                f"Given value {int(throughput[member])} for {member} is out of bounds"
            )
    return {
        "NumberOfDecreasesToday": 0,
        "ReadCapacityUnits": int(throughput["ReadCapacityUnits"]),
        "WriteCapacityUnits": int(throughput["WriteCapacityUnits"]),
    }
