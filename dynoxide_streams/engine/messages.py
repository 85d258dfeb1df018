"""Every error message text the server sends for DynamoDB and Streams requests: one
table, each row with the source its wording was taken from.

A row is a :class:`Text`: a ``str.format`` template and its source — AWS
documentation, the botocore service model, or a public issue or SDK test quoting a
real DynamoDB answer (found with the project's reference search and collected in the
spec digest ``errors.md`` §7). A row marked ``UNSOURCED`` keeps the server's earlier
wording because no public source shows AWS's. Code never spells a message itself: it
formats a row (``messages.TABLE_NOT_FOUND.format(name=name)``).

``SOURCES`` is the whole table by row name, for the tests and the docs.
"""

from __future__ import annotations

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
_DYNALITE = (
    "https://github.com/architect/dynalite/tree/main/validations (emulator tuned against AWS; "
    "repeated by https://github.com/nubo-db/dynoxide 2026)"
)

# ------------------------------------------------------------- serialization (types)

START_OF_MAP = Text(
    "Start of structure or map found where not expected",
    "https://github.com/aws/aws-sdk-js-v3/issues/7102 ; "
    "https://github.com/aws-amplify/amplify-js/issues/13265",
)
"""A JSON object where the model has a string, number, boolean or list."""
START_OF_LIST = Text(
    "Start of list found where not expected", "https://github.com/rusoto/rusoto/issues/658"
)
"""A JSON array where the model has a blob."""
UNRECOGNIZED_MAP = Text(
    "Unrecognized collection type java.util.Map<java.lang.String, {value}>",
    "https://github.com/JuliaCloud/AWS.jl/issues/246",
)
"""A JSON array where the model has a map (``value``: the Java type of its values)."""
UNRECOGNIZED_CLASS = Text(
    "Unrecognized collection type class {java}",
    "https://github.com/nubo-db/dynoxide/blob/main/src/serde_errors.rs (emulator capture)",
)
"""A JSON array where the model has a string, number, boolean or structure."""
UNEXPECTED_FIELD_TYPE = Text(
    "Unexpected field type", "https://github.com/JuliaCloud/AWS.jl/issues/673"
)
"""A string, number or boolean where the model has a map or a list."""
UNEXPECTED_VALUE_TYPE = Text(
    "Unexpected value type in payload",
    "https://github.com/nubo-db/dynoxide/blob/main/src/serde_errors.rs (emulator capture)",
)
"""A string, number or boolean where the model has a structure."""
CANNOT_CONVERT = Text(
    "{token} cannot be converted to {target}",
    "https://github.com/localstack/localstack/issues/9412 ; "
    "https://github.com/dynamodb-toolbox/dynamodb-toolbox/issues/502",
)
"""A scalar of the wrong kind (``token``: NUMBER_VALUE, DECIMAL_VALUE, STRING_VALUE,
TRUE_VALUE, FALSE_VALUE; ``target``: String, Integer, Long, Double, Boolean, Blob)."""
UNEXPECTED_TOKEN = Text(
    "Unexpected token received from parser", "https://github.com/scylladb/scylladb/issues/9432"
)
"""A string that is not a boolean word where the model has a boolean."""
NOT_JSON = Text("", "https://github.com/amazon-archives/aws-sdk-unity/issues/54")
"""A body that is not JSON: a SerializationException with no message at all."""

# ------------------------------------------------------------------ constraints (§3)

ENVELOPE = Text(
    "{count} validation error{plural} detected: {items}",
    "https://github.com/baopham/laravel-dynamodb/issues/284 ; https://github.com/boto/boto/pull/1584",
)
VIOLATION = Text(
    "Value {value} at '{path}' failed to satisfy constraint: {rule}",
    "https://github.com/Netflix-Skunkworks/iep-apps/pull/527 ; "
    "https://github.com/aws/aws-cli/issues/790",
)
"""One item of the envelope (``value``: ``'…'`` quoted, or ``null``)."""
NOT_NULL = Text("Member must not be null", "https://github.com/aws/aws-sdk-js-v3/issues/2554")
MIN_LENGTH = Text(
    "Member must have length greater than or equal to {n}",
    "https://github.com/aws/aws-cli/issues/790 ; https://github.com/ExtendDB/extenddb/pull/14",
)
MAX_LENGTH = Text(
    "Member must have length less than or equal to {n}",
    "https://github.com/architect/architect/issues/44",
)
MIN_VALUE = Text(
    "Member must have value greater than or equal to {n}", "https://github.com/boto/boto/pull/1584"
)
MAX_VALUE = Text(
    "Member must have value less than or equal to {n}", "https://github.com/boto/boto/pull/1248"
)
PATTERN = Text(
    "Member must satisfy regular expression pattern: {pattern}",
    "https://github.com/aws/aws-cli/issues/790 ; https://github.com/serverless/serverless/issues/5120",
)
ENUM = Text(
    "Member must satisfy enum value set: [{values}]",
    "https://github.com/aws/aws-sdk-go/issues/333",
)
LIST_ENUM = Text(
    "Member must satisfy constraint: [Member must satisfy enum value set: [{values}]]",
    UNSOURCED,
)
MAP_VALUE = Text(
    "Map value must satisfy constraint: [{rules}]",
    "https://github.com/risingwavelabs/risingwave/issues/17572 ; "
    "https://github.com/boto/boto3/issues/483",
)

# ------------------------------------------------------------ required sentences (§4)

TABLE_NAME_REQUIRED = Text(
    "The parameter 'TableName' is required but was not present in the request",
    "https://github.com/aws/aws-sdk-java/issues/977 ; https://github.com/aws/aws-sdk-java/pull/344",
)
REQUEST_ITEMS_REQUIRED = Text(
    "The requestItems parameter is required for {operation}",
    "https://github.com/scylladb/scylladb/issues/23233 (BatchWriteItem) ; "
    "https://github.com/ExtendDB/extenddb/pull/14 (BatchGetItem, capture)",
)

# ---------------------------------------------------------------- resources (§6)

RESOURCE_NOT_FOUND = Text(
    "Requested resource not found",
    "https://github.com/awslabs/aws-sdk-ios-samples/issues/17 ; "
    "https://github.com/ExtendDB/extenddb/pull/8",
)
TABLE_NOT_FOUND = Text(
    "Requested resource not found: Table: {name} not found",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/Programming.Errors.html",
)
NO_SUCH_INDEX = Text(
    "The table does not have the specified index: {name}",
    "https://github.com/awslabs/aws-sdk-ios-samples/issues/58",
)

# ------------------------------------------------------------- request semantics (§4, §5)

MIXED_PARAMETERS = Text(
    "Can not use both expression and non-expression parameters in the same request: "
    "Non-expression parameters: {{{legacy}}} Expression parameters: {{{modern}}}",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
NAMES_WITHOUT_EXPRESSION = Text(
    "ExpressionAttributeNames can only be specified when using expressions",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
VALUES_WITHOUT_EXPRESSION = Text(
    "ExpressionAttributeValues can only be specified when using expressions: {missing} {verb} null",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
NAMES_EMPTY = Text(
    "ExpressionAttributeNames must not be empty",
    "https://github.com/architect/dynalite/blob/main/validations/index.js (emulator)",
)
VALUES_EMPTY = Text(
    "ExpressionAttributeValues must not be empty",
    "https://github.com/architect/dynalite/blob/main/validations/index.js (emulator)",
)
INVALID_PLACEHOLDER_KEY = Text(
    '{member} contains invalid key: Syntax error; key: "{key}"',
    "https://github.com/4ossiblellc/dynamodb-update-expression/issues/13",
)
INVALID_PLACEHOLDER_VALUE = Text(
    "ExpressionAttributeValues contains invalid value: {message} for key {key}",
    "https://github.com/ExtendDB/extenddb/pull/201 (capture)",
)
RETURN_VALUES = Text(
    "ReturnValues can only be {allowed}",
    "https://github.com/nubo-db/dynoxide/blob/main/src/actions/put_item.rs (emulator)",
)
KEY_CONDITION_MISSING = Text(
    "Either the KeyConditions or KeyConditionExpression parameter must be specified in the "
    "request.",
    "https://github.com/awsdocs/amazon-dynamodb-developer-guide/issues/274",
)
KEY_ATTRIBUTE_UPDATE = Text(
    "One or more parameter values were invalid: Cannot update attribute {name}. "
    "This attribute is part of the key",
    "spec wire.md (dynalite, checked against AWS)",
)
ALL_PROJECTED_WITHOUT_INDEX = Text(
    "ALL_PROJECTED_ATTRIBUTES can be used only when Querying using an IndexName", UNSOURCED
)
SPECIFIC_WITHOUT_PROJECTION = Text(
    "Must specify the AttributesToGet or ProjectionExpression when choosing to get "
    "SPECIFIC_ATTRIBUTES",
    "https://github.com/paritysuite/dynamodb-conformance/issues/48 (capture)",
)
PROJECTION_WITH_SELECT = Text(
    "Cannot specify the {which} when choosing to get {select}",
    "https://github.com/nubo-db/dynoxide/pull/100 (capture)",
)
TOTAL_SEGMENTS_REQUIRED = Text(
    "The TotalSegments parameter is required but was not present in the request when "
    "Segment parameter is present",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
SEGMENT_REQUIRED = Text(
    "The Segment parameter is required but was not present in the request when "
    "parameter TotalSegments is present",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
SEGMENT_TOO_BIG = Text(
    "The Segment parameter is zero-based and must be less than parameter TotalSegments: "
    "Segment: {segment} is not less than TotalSegments: {total}",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
UPDATE_TABLE_NOTHING = Text(
    "At least one of ProvisionedThroughput, BillingMode, UpdateStreamEnabled, "
    "GlobalSecondaryIndexUpdates or SSESpecification or ReplicaUpdates is required",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)


# ------------------------------------------------------------------ Query and Scan

INVALID = "One or more parameter values were invalid: "
"""The prefix of DynamoDB's "invalid parameter values" sentences."""
INDEX_BACKFILLING = Text("Cannot read from backfilling global secondary index: {name}", UNSOURCED)
GSI_CONSISTENT_READ = Text(
    "Consistent reads are not supported on global secondary indexes",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/GSI.html",
)
GSI_SELECT_ALL = Text(
    INVALID + "Select type ALL_ATTRIBUTES is not supported for global secondary index {name} "
    "because its projection type is not ALL",
    "https://github.com/mapbox/dyno/issues/23",
)
GSI_NOT_PROJECTED = Text(
    INVALID + "Global secondary index {name} does not project [{missing}]", UNSOURCED
)
START_KEY_INVALID = Text(
    "The provided starting key is invalid: The provided key element does not match the schema",
    "https://github.com/architect/dynalite/blob/main/db/index.js (emulator)",
)
START_KEY_OUTSIDE = Text(
    "The provided starting key is outside query boundaries based on provided conditions",
    UNSOURCED,
)
TOO_MANY_KEY_CONDITIONS = Text(
    "The number of query conditions ({count}) exceeds the number of key attributes defined "
    "in the schema ({keys})",
    UNSOURCED,
)
KEY_CONDITION_MISSED = Text(
    "Query condition missed key schema element: {name}",
    "https://github.com/dynamoose/dynamoose/issues/353",
)
KEY_CONDITION_NOT_SUPPORTED = Text("Query key condition not supported", UNSOURCED)
CONDITION_TYPE_MISMATCH = Text(
    INVALID + "Condition parameter type does not match schema type",
    "https://github.com/madeindra/signal-setup-guide/issues/110",
)
BETWEEN_BOUNDS = Text(
    "Invalid KeyConditionExpression: The BETWEEN operator requires upper bound to be greater "
    "than or equal to lower bound; lower bound operand: AttributeValue: {low}, upper bound "
    "operand: AttributeValue: {high}",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
FILTER_ON_KEY = Text(
    "{which} can only contain non-primary key attributes: Primary key attribute: {name}",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)

# ---------------------------------------------------------------- keys and items

INDEX_KEY_TYPE = Text(
    INVALID + "Type mismatch for Index Key {name} Expected: {expected} Actual: {actual} "
    "IndexName: {index}",
    UNSOURCED,
)
INDEX_KEY_EMPTY = Text(
    "One or more parameter values are not valid. A value specified for a secondary index key "
    "is not supported. The AttributeValue for a key attribute cannot contain an empty string "
    "value. IndexName: {index}, IndexKey: {name}",
    UNSOURCED,
)
MISSING_KEY = Text(
    INVALID + "Missing the key {name} in the item",
    "https://github.com/alexa-samples/skill-sample-nodejs-adventure-game/issues/2",
)
KEY_SCHEMA_MISMATCH = Text(
    "The provided key element does not match the schema",
    "https://github.com/aws/aws-sdk-go/issues/691 ; https://github.com/nubo-db/dynoxide/issues/97",
)
KEY_TYPE_MISMATCH = Text(
    INVALID + "Type mismatch for key {name} expected: {expected} actual: {actual}",
    "https://github.com/nubo-db/dynoxide/issues/97 (capture)",
)
KEY_EMPTY = Text(
    "One or more parameter values are not valid. The AttributeValue for a key attribute "
    "cannot contain an empty {kind} value. Key: {name}",
    "spec wire.md (dynalite, checked against AWS)",
)
HASH_KEY_TOO_BIG = Text(
    INVALID + "Size of hashkey has exceeded the maximum size limit of2048 bytes",
    "https://github.com/architect/dynalite/blob/main/db/index.js (emulator; sic)",
)
RANGE_KEY_TOO_BIG = Text(
    INVALID + "Aggregated size of all range keys has exceeded the size limit of 1024 bytes",
    "https://github.com/praetorian-inc/chariot-ui/issues/241",
)

# ------------------------------------------------------------------ CreateTable

_CREATE_TABLE_EMULATORS = (
    "https://github.com/architect/dynalite/blob/main/validations/createTable.js (emulator)"
)
KEY_SCHEMA_TOO_LONG = Text(
    "Member must have length less than or equal to 2",
    "https://github.com/architect/architect/issues/44",
)
KEY_SCHEMA_UNDEFINED = Text(
    "Invalid KeySchema: Some index key attribute have no definition", _CREATE_TABLE_EMULATORS
)
KEY_SCHEMA_FIRST_NOT_HASH = Text(
    "Invalid KeySchema: The first KeySchemaElement is not a HASH key type",
    _CREATE_TABLE_EMULATORS,
)
KEY_SCHEMA_SAME_NAME = Text(
    "Both the Hash Key and the Range Key element in the KeySchema have the same name",
    _CREATE_TABLE_EMULATORS,
)
KEY_SCHEMA_SECOND_NOT_RANGE = Text(
    "Invalid KeySchema: The second KeySchemaElement is not a RANGE key type",
    _CREATE_TABLE_EMULATORS,
)
DUPLICATE_ATTRIBUTE = Text("Cannot have two attributes with the same name", _CREATE_TABLE_EMULATORS)
PROJECTION_NULL = Text("Member must not be null (index {name})", UNSOURCED)
PROJECTION_TYPE_NULL = Text(INVALID + "Unknown ProjectionType: null", _CREATE_TABLE_EMULATORS)
INCLUDE_WITHOUT_NON_KEY = Text(
    INVALID + "ProjectionType is INCLUDE, but NonKeyAttributes is not specified",
    "https://github.com/ExtendDB/extenddb/pull/188 (capture)",
)
NON_KEY_WITHOUT_INCLUDE = Text(
    INVALID + "ProjectionType is {kind}, but NonKeyAttributes is specified",
    _CREATE_TABLE_EMULATORS,
)
DUPLICATE_NON_KEY = Text(INVALID + "Duplicate NonKeyAttribute in Projection", UNSOURCED)
INDEX_THROUGHPUT_FORBIDDEN = Text(
    INVALID + "ProvisionedThroughput should not be specified for index: {name} when "
    "BillingMode is PAY_PER_REQUEST",
    UNSOURCED,
)
INDEX_THROUGHPUT_NULL = Text(
    INVALID + "ProvisionedThroughput should not be null for index: {name}",
    _CREATE_TABLE_EMULATORS,
)
LSI_TABLE_WITHOUT_RANGE = Text(
    INVALID + "Table KeySchema does not have a range key, which is required when specifying "
    "a LocalSecondaryIndex",
    _CREATE_TABLE_EMULATORS,
)
LSI_WITHOUT_RANGE = Text(
    INVALID + "Index KeySchema does not have a range key for index: {name}",
    _CREATE_TABLE_EMULATORS,
)
LSI_OTHER_HASH = Text(
    INVALID + "Index KeySchema does not have the same leading hash key as table KeySchema "
    "for index: {name}. index hash key: {index_hash}, table hash key: {table_hash}",
    _CREATE_TABLE_EMULATORS,
)
LSI_LIST_EMPTY = Text(INVALID + "List of LocalSecondaryIndexes is empty", _CREATE_TABLE_EMULATORS)
GSI_LIST_EMPTY = Text(INVALID + "List of GlobalSecondaryIndexes is empty", _CREATE_TABLE_EMULATORS)
TOO_MANY_LSIS = Text(
    INVALID + "Number of LocalSecondaryIndexes exceeds per-table limit of {limit}",
    _CREATE_TABLE_EMULATORS,
)
TOO_MANY_GSIS = Text(
    INVALID + "GlobalSecondaryIndex count exceeds the per-table limit of {limit}",
    _CREATE_TABLE_EMULATORS,
)
DUPLICATE_INDEX = Text(INVALID + "Duplicate index name: {name}", _CREATE_TABLE_EMULATORS)
KEY_DEFINITION_COUNT = Text(
    INVALID + "Number of attributes in KeySchema does not exactly match number of attributes "
    "defined in AttributeDefinitions",
    _CREATE_TABLE_EMULATORS,
)
UNUSED_DEFINITIONS = Text(
    INVALID + "Some AttributeDefinitions are not used. AttributeDefinitions: [{defined}], "
    "keys used: [{used}]",
    _CREATE_TABLE_EMULATORS,
)
PAY_PER_REQUEST_THROUGHPUT = Text(
    INVALID + "Neither ReadCapacityUnits nor WriteCapacityUnits can be specified when "
    "BillingMode is PAY_PER_REQUEST",
    "https://github.com/nubo-db/dynoxide/blob/main/src/actions/create_table.rs (emulator)",
)
PROVISIONED_NEEDS_BOTH = Text(
    INVALID + "ReadCapacityUnits and WriteCapacityUnits must both be specified when "
    "BillingMode is PROVISIONED",
    _CREATE_TABLE_EMULATORS,
)
CAPACITY_OUT_OF_BOUNDS = Text(
    "Given value {value} for {member} is out of bounds", _CREATE_TABLE_EMULATORS
)
STREAM_VIEW_REQUIRED = Text(
    INVALID + "If stream is being enabled then UpdateViewType is required", UNSOURCED
)
STREAM_VIEW_FORBIDDEN = Text(
    INVALID + "If stream is being disabled, then UpdateViewType must not be specified",
    UNSOURCED,
)

# ------------------------------------------------------------------- Streams API

INVALID_STREAM_ARN = Text("Invalid StreamArn: {arn}", UNSOURCED)
INVALID_START_STREAM_ARN = Text("Invalid ExclusiveStartStreamArn: {arn}", UNSOURCED)
STREAM_NOT_FOUND = Text("Requested resource not found: Stream: {arn} not found", UNSOURCED)
SHARD_NOT_FOUND = Text(
    "Requested resource not found: Shard: {shard} in Stream: {arn} not found", UNSOURCED
)
SHARD_FILTER = Text("ShardFilter must have Type CHILD_SHARDS and a ShardId", UNSOURCED)
SEQUENCE_NUMBER_REQUIRED = Text(
    "SequenceNumber is required for ShardIteratorType {kind}", UNSOURCED
)
SEQUENCE_NUMBER_FORBIDDEN = Text(
    "SequenceNumber must not be given for ShardIteratorType {kind}", UNSOURCED
)

# --------------------------------------------------------------------- Time to Live

TTL_ALREADY_ENABLED = Text("TimeToLive is already enabled", UNSOURCED)
TTL_ALREADY_DISABLED = Text("TimeToLive is already disabled", UNSOURCED)
TTL_OTHER_ATTRIBUTE = Text(
    "TimeToLive is active on a different AttributeName: current AttributeName is {current}",
    UNSOURCED,
)
TTL_TOO_OFTEN = Text(
    "Time to live has been modified multiple times within a fixed interval", UNSOURCED
)


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


SOURCES: dict[str, Text] = {
    name: value for name, value in dict(globals()).items() if isinstance(value, Text)
}
"""Every row of the table by its name."""


# ------------------------------------------------------------------------- PartiQL

_PARTIQL_DIGEST = "shared/spec/partiql.md"
_DDBL_CAT = "DynamoDB Local ValidationExceptionMessages (shared/spec/partiql.md [DDBL-CAT])"
PARTIQL_SYNTAX = Text(
    "Statement wasn't well formed, can't be processed: {detail}",
    _DDBL_CAT + " (prefix); detail: unsourced, see " + _PARTIQL_DIGEST + " §5",
)
PARTIQL_PARAMETER_COUNT = Text(
    "Number of parameters in request and statement don't match.",
    "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md (DynamoDB Local); moto",
)
PARTIQL_KEY_EQUALITY = Text(
    "Where clause does not contain a mandatory equality on all key attributes",
    _DDBL_CAT + " §3 UPDATE",
)
PARTIQL_DUPLICATE_ITEM = Text(
    "Duplicate primary key exists in table",
    "https://github.com/lankahsu520/HelperX/blob/master/helper_AWS-CLI.md (real AWS CLI output)",
)
PARTIQL_UNSUPPORTED = Text("Unsupported operation: {what}", _DDBL_CAT)
PARTIQL_UNKNOWN_FUNCTION = Text("Unrecognized function: {name}", _DDBL_CAT)
PARTIQL_EMPTY_BAG = Text(
    "Empty bags are not supported", "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md"
)
PARTIQL_BAG_TYPE = Text(
    "Unsupported data type in Bag. DynamoDB only supports either numbers or strings in bags",
    "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md",
)
PARTIQL_MISSING_COMPARE = Text("MISSING must be compared using IS operator", _DDBL_CAT)
PARTIQL_ORDER_WITHOUT_HASH = Text(
    "Must have at least one non-optional hash key condition in WHERE clause when using "
    "ORDER BY clause.",
    _DDBL_CAT,
)
PARTIQL_ORDER_NOT_KEY = Text(
    "Variable reference {name} in ORDER BY clause must be part of the primary key",
    _DDBL_CAT,
)
PARTIQL_DELETE_RETURNING = Text(
    "Invalid returning clause: RETURNING {returning}. Only RETURNING ALL OLD * is allowed in "
    "DELETE statements.",
    _DDBL_CAT,
)
PARTIQL_NEXT_TOKEN_MISMATCH = Text(
    "NextToken does not match request", "https://github.com/aws/aws-sdk-js-v3/issues/4424 (AWS)"
)
PARTIQL_NEXT_TOKEN_INVALID = Text(
    "Invalid NextToken", "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md (DynamoDB Local)"
)
PARTIQL_INDEX_WRITE = Text("This operation is not supported on an index", _DDBL_CAT)
PARTIQL_MIXED_BATCH = Text(
    "{operation} API does not support both read and write operations in the same request.",
    "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md (DynamoDB Local, ExecuteTransaction)",
)
PARTIQL_BATCH_SELECT_KEY = Text(
    "Select statements within {operation} must specify the primary key in the where clause.",
    "https://github.com/getmoto/moto/blob/master/tests/test_dynamodb/test_dynamodb_statements.py (non-verified)",
)
PARTIQL_INSERT_NOT_ITEM = Text(
    "Unsupported operation: Inserting multiple items in a single statement is not supported, "
    'use "INSERT INTO tableName VALUE item" instead',
    _DDBL_CAT,
)
PARTIQL_EXISTS_PLACE = Text(
    "EXISTS can only be used in ExecuteTransaction write requests.", _DDBL_CAT
)
PARTIQL_DUPLICATE_TUPLE_KEY = Text(
    "Duplicate key in tuple: {key}",
    _DDBL_CAT + " (duplicate map keys are an error; wording unsourced)",
)
PARTIQL_OPERAND_COUNT = Text(
    "Incorrect number of operands for operator or function; operator or function: {name}, "
    "number of operands: {count}",
    _DYNALITE + " (the expression text, reused)",
)
PARTIQL_NEEDS_PATH = Text(
    "Operator or function requires a document path; operator or function: {name}",
    _DYNALITE + " (the expression text, reused)",
)
PARTIQL_TYPE_NAME = Text(
    "Invalid attribute type name found; type: {type}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}",
    _DYNALITE + " (the expression text, reused)",
)
PARTIQL_OPERAND_TYPE = Text(
    "Incorrect operand type for operator or function; operator or function: {name}, "
    "operand type: {type}",
    _DYNALITE + " (the expression text, reused)",
)
PARTIQL_IN_TOO_MANY = Text(
    "IN operator supports at most 100 values",
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/ql-operators.html "
    "(the limit; wording unsourced)",
)
PARTIQL_DUPLICATE_PROJECTION = Text(
    "Duplicate identifiers in select clause: {name}",
    "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md (DynamoDB Local)",
)
PARTIQL_SAME_KEY_TWICE = Text(
    "Multiple conditions on same key {name}. Only single item Update/Insert/Delete are supported",
    _DDBL_CAT,
)
PARTIQL_UPDATE_PATHS = Text(
    "Invalid UpdateExpression: {message}", _DYNALITE + " (the UpdateExpression overlap texts)"
)
SOURCES.update(
    {n: v for n, v in dict(globals()).items() if isinstance(v, Text) and n.startswith("PARTIQL_")}
)
