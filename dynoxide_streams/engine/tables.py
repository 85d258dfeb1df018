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
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.values import (
    MAX_PARTITION_KEY_BYTES,
    MAX_SORT_KEY_BYTES,
    AttributeValue,
    Item,
    encode_key,
    key_value_bytes,
    value_type,
)
from dynoxide_streams.errors import ValidationException, constraint_violation, validation_error

if TYPE_CHECKING:
    from dynoxide_streams.engine.change_log import StreamInfo

StorageKey = tuple[int, bytes, bytes]
"""(h, pk, sk): the primary key of an item inside its table's rows."""

_NAME_PATTERN = re.compile(r"[a-zA-Z0-9_.-]+")
TABLE_ARN_PATTERN = re.compile(r"arn:aws[a-zA-Z-]*:dynamodb:[^:]*:[0-9]*:table/([^/]+)")


def hash_partition(pk: bytes) -> int:
    """The 32-bit hash that orders a table's partitions (and splits Scan segments)."""
    return int.from_bytes(hashlib.blake2b(pk, digest_size=4).digest(), "big")


def resolve_table_name(name: str, member: str = "tableName") -> str:
    """Accept a table name or table ARN; return the table name, or raise AWS's
    constraint error naming ``member`` (a name of 3..255 ``[a-zA-Z0-9_.-]``)."""
    match = TABLE_ARN_PATTERN.fullmatch(name)
    if match:
        name = match.group(1)
    errors = []
    if not _NAME_PATTERN.fullmatch(name):
        errors.append(
            constraint_violation(
                name, member, messages.PATTERN.format(pattern=_NAME_PATTERN.pattern)
            )
        )
    if len(name) < 3:
        errors.append(constraint_violation(name, member, messages.MIN_LENGTH.format(n=3)))
    elif len(name) > 255:
        errors.append(constraint_violation(name, member, messages.MAX_LENGTH.format(n=255)))
    if errors:
        raise validation_error(errors)
    return name


@dataclass(frozen=True)
class KeyAttribute:
    name: str
    type: str  # "S" | "N" | "B"


IndexKey = tuple[int, bytes, bytes]
"""(ih, ipk, isk): an index entry's key, encoded like a table key."""


@dataclass(eq=False)
class IndexInfo:
    """A global or local secondary index of a table.

    ``spec`` is its entry in the table spec (``GlobalSecondaryIndexes`` or
    ``LocalSecondaryIndexes``), including the internal ``IndexId`` and, for a GSI, its
    ``IndexStatus``. An item is in the index only when it has every index key
    attribute with the right type (sparse indexes).
    """

    table: TableInfo
    spec: dict[str, Any]
    local: bool
    hash_key: KeyAttribute
    range_key: KeyAttribute | None
    item_count: int = 0
    size_bytes: int = 0

    @property
    def name(self) -> str:
        return str(self.spec["IndexName"])

    @property
    def iid(self) -> int:
        return int(self.spec["IndexId"])

    @property
    def status(self) -> str:
        return str(self.spec.get("IndexStatus", "ACTIVE"))

    @property
    def projection_type(self) -> str:
        return str(self.spec["Projection"]["ProjectionType"])

    @property
    def key_names(self) -> tuple[str, ...]:
        if self.range_key is None:
            return (self.hash_key.name,)
        return (self.hash_key.name, self.range_key.name)

    @property
    def projected_names(self) -> frozenset[str] | None:
        """Attributes the index holds, or None for projection ALL."""
        if self.projection_type == "ALL":
            return None
        names = set(self.table.key_names) | set(self.key_names)
        if self.projection_type == "INCLUDE":
            names.update(self.spec["Projection"].get("NonKeyAttributes", ()))
        return frozenset(names)

    def check_item(self, item: Item) -> None:
        """Refuse an item whose index key attributes have the wrong type or are empty."""
        for attr in (self.hash_key, self.range_key):
            if attr is None or attr.name not in item:
                continue
            actual = value_type(item[attr.name])
            if actual != attr.type:
                raise ValidationException(
                    messages.INDEX_KEY_TYPE.format(
                        name=attr.name, expected=attr.type, actual=actual, index=self.name
                    )
                )
            if key_value_bytes(item[attr.name]) == 0:
                raise ValidationException(
                    messages.INDEX_KEY_EMPTY.format(index=self.name, name=attr.name)
                )

    def entry_key(self, item: Item | None) -> IndexKey | None:
        """The index key of ``item``, or None when the item is not in the index."""
        if item is None:
            return None
        hash_value = item.get(self.hash_key.name)
        if hash_value is None or value_type(hash_value) != self.hash_key.type:
            return None
        isk = b""
        if self.range_key is not None:
            range_value = item.get(self.range_key.name)
            if range_value is None or value_type(range_value) != self.range_key.type:
                return None
            isk = encode_key(range_value)
        ipk = encode_key(hash_value)
        return hash_partition(ipk), ipk, isk

    def project(self, item: Item) -> Item:
        """The part of ``item`` stored in the index."""
        names = self.projected_names
        if names is None:
            return item
        return {name: value for name, value in item.items() if name in names}

    def description(self) -> dict[str, Any]:
        """The index as DescribeTable reports it."""
        desc: dict[str, Any] = {
            "IndexName": self.name,
            "KeySchema": self.spec["KeySchema"],
            "Projection": self.spec["Projection"],
        }
        if not self.local:
            desc["IndexStatus"] = self.status
            if self.status == "CREATING":
                desc["Backfilling"] = True
            desc["ProvisionedThroughput"] = self.spec["ProvisionedThroughput"]
        desc["IndexSizeBytes"] = self.size_bytes
        desc["ItemCount"] = self.item_count
        desc["IndexArn"] = f"{self.table.arn}/index/{self.name}"
        if not self.local and "WarmThroughput" in self.spec:
            desc["WarmThroughput"] = self.spec["WarmThroughput"]
        return desc


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
    indexes: dict[str, IndexInfo] = field(init=False)
    stream: StreamInfo | None = None  # the ENABLED stream, if any

    def __post_init__(self) -> None:
        self.hash_key, self.range_key = self.typed_keys(self.spec["KeySchema"])
        self.indexes = {}
        self.load_indexes({})

    def typed_keys(
        self, key_schema: list[dict[str, str]]
    ) -> tuple[KeyAttribute, KeyAttribute | None]:
        """Hash and range attributes of a key schema, typed by the table's definitions."""
        types = {d["AttributeName"]: d["AttributeType"] for d in self.spec["AttributeDefinitions"]}
        hash_name = key_schema[0]["AttributeName"]
        range_key = None
        if len(key_schema) > 1:
            range_name = key_schema[1]["AttributeName"]
            range_key = KeyAttribute(range_name, types[range_name])
        return KeyAttribute(hash_name, types[hash_name]), range_key

    def load_indexes(self, counts: dict[int, tuple[int, int]]) -> None:
        """(Re)build ``indexes`` from the spec, keeping counters of surviving indexes."""
        previous = {index.iid: index for index in self.indexes.values()}
        indexes: dict[str, IndexInfo] = {}
        for member, local in (("LocalSecondaryIndexes", True), ("GlobalSecondaryIndexes", False)):
            for spec in self.spec.get(member, ()):
                hash_key, range_key = self.typed_keys(spec["KeySchema"])
                index = IndexInfo(self, spec, local, hash_key, range_key)
                old = previous.get(index.iid)
                if index.iid in counts:
                    index.item_count, index.size_bytes = counts[index.iid]
                elif old is not None:
                    index.item_count, index.size_bytes = old.item_count, old.size_bytes
                indexes[index.name] = index
        self.indexes = indexes

    @property
    def ttl_attribute(self) -> str | None:
        """The TTL attribute while Time to Live is enabled, else None."""
        ttl = self.spec.get("TimeToLive")
        return str(ttl["AttributeName"]) if ttl and ttl.get("Enabled") else None

    def expiry_of(self, item: Item | None) -> float | None:
        """The item's TTL value (epoch seconds) if TTL is on and it is a top-level
        Number; None otherwise (such items never expire)."""
        name = self.ttl_attribute
        if item is None or name is None:
            return None
        value = item.get(name)
        if value is None or "N" not in value:
            return None
        return float(value["N"])

    def check_index_keys(self, item: Item) -> None:
        """Refuse an item that some index could not hold (wrong type, empty value)."""
        for index in self.indexes.values():
            index.check_item(item)

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
                raise ValidationException(messages.MISSING_KEY.format(name=attr.name))
        return self._encode(item)

    def key_of(self, key: Item) -> StorageKey:
        """Storage key of a ``Key`` parameter: exactly the key attributes, right types."""
        if (
            len(key) != len(self.key_names)
            or any(name not in key for name in self.key_names)
            or any(value_type(key[a.name]) != a.type for a in self._key_attributes())
        ):
            raise ValidationException(messages.KEY_SCHEMA_MISMATCH.format())
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
        text = value.get("S") if attr.type == "S" else None
        if text is not None and len(value) == 1:  # fast path: the common string key
            encoded: bytes = text.encode("utf-8")
            if 0 < len(encoded) <= limit:
                return encoded
        actual = value_type(value)
        if actual != attr.type:
            raise ValidationException(
                messages.KEY_TYPE_MISMATCH.format(name=attr.name, expected=attr.type, actual=actual)
            )
        size = key_value_bytes(value)
        if size == 0:
            raise ValidationException(
                messages.KEY_EMPTY.format(
                    kind="string" if actual == "S" else "binary", name=attr.name
                )
            )
        if size > limit:
            if limit == MAX_PARTITION_KEY_BYTES:
                raise ValidationException(messages.HASH_KEY_TOO_BIG.format())
            raise ValidationException(messages.RANGE_KEY_TOO_BIG.format())
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
        local = [i.description() for i in self.indexes.values() if i.local]
        global_ = [i.description() for i in self.indexes.values() if not i.local]
        if local:
            desc["LocalSecondaryIndexes"] = local
        if global_:
            desc["GlobalSecondaryIndexes"] = global_
        if "StreamSpecification" in spec:
            desc["StreamSpecification"] = spec["StreamSpecification"]
        if "LatestStreamArn" in spec:
            desc["LatestStreamLabel"] = spec["LatestStreamLabel"]
            desc["LatestStreamArn"] = spec["LatestStreamArn"]
        desc["DeletionProtectionEnabled"] = spec.get("DeletionProtectionEnabled", False)
        return desc
