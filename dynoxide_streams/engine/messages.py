"""Every error message text the server sends for DynamoDB and Streams requests: one
table, each row with the source its wording was taken from.

A row is a :class:`Text`: a ``str.format`` template and its source — AWS
documentation, the botocore service model, or a public issue or SDK test quoting a
real DynamoDB answer (found with the project's reference search and collected in the
spec digest ``errors.md`` §7). A row marked ``UNSOURCED`` keeps the server's earlier
wording because no public source shows AWS's, or is the server's own (the admin API,
filter-pattern details). Code never spells a message itself: it formats a row
(``messages.TABLE_NOT_FOUND.format(name=name)``); ``tests/unit/test_messages.py``
scans engine/ and triggers/ for texts written at a raise site.

The Lambda event source mapping API's texts are the last section (Lambda's own
protocol; used by ``shapes.py`` and ``triggers/``). The generic envelope texts of
``errors.py`` (L0: ``N validation errors detected``, ``Value … at …``) stay there and
match the ENVELOPE and VIOLATION rows. This module imports nothing, so it is layer 0
and the layer-1 modules (``values.py``, ``expressions/``) use it too.

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


# ------------------------------------------------------------------- expressions

EXPRESSION_INVALID = Text(
    "Invalid {kind}: {message}",
    "https://github.com/aws/aws-cdk/issues/7591 ; https://github.com/aws/aws-sdk-net/issues/2528",
)
"""The prefix of a problem found in one expression (``kind``: ConditionExpression,
UpdateExpression, FilterExpression, KeyConditionExpression, ProjectionExpression)."""
EXPRESSION_TOO_LARGE = Text(
    "Invalid {kind}: Expression size has exceeded the maximum allowed size; expression size: "
    "{size}",
    "https://github.com/pynamodb/PynamoDB/issues/979 ; "
    "https://github.com/aws/aws-sdk-java-v2/issues/4597 ; "
    "https://github.com/nubo-db/dynoxide/issues/146",
)
EXPRESSION_EMPTY = Text(
    "Invalid {kind}: The expression can not be empty;",
    "https://github.com/ExtendDB/extenddb/pull/20 (capture)",
)
SYNTAX_ERROR = Text(
    'Invalid {kind}: Syntax error; token: "{token}", near: "{near}"',
    "https://github.com/aws/aws-cdk/issues/7591 ; https://github.com/aws/aws-sdk-net/issues/2528",
)
TOO_MANY_OPERATORS = Text(
    "Invalid {kind}: The expression contains too many operators; operator count: {count}",
    "https://github.com/aws/aws-sdk-js/issues/3721",
)
PATH_TOO_DEEP = Text(
    "Invalid {kind}: The document path has too many nesting levels; nesting levels: {depth}",
    UNSOURCED,
)
PATHS_OVERLAP = Text(
    "Two document paths {relation} with each other; must remove or rewrite one of these paths; "
    "path one: {one}, path two: {two}",
    "https://github.com/HENNGE/aiodynamo/issues/2 ; https://github.com/cyclic-software/dynamodb/issues/1",
)
"""``relation``: ``overlap`` or ``conflict``."""
OPERAND_COUNT = Text(
    "Incorrect number of operands for operator or function; operator or function: {name}, "
    "number of operands: {count}",
    UNSOURCED,
)
OPERAND_TYPE = Text(
    "Incorrect operand type for operator or function; operator or function: {name}, operand "
    "type: {type}",
    "https://github.com/aws/aws-sdk-js-v3/issues/7171",
)
UPDATE_OPERAND_TYPE = Text(
    "Incorrect operand type for operator or function; operator: {operator}, operand type: {type}",
    "https://github.com/scylladb/scylladb/issues/10278 ; https://github.com/serverless/serverless/issues/7184",
)
REQUIRES_PATH = Text(
    "Operator or function requires a document path; operator or function: {name}", UNSOURCED
)
FUNCTION_MISUSED = Text(
    "The function is not allowed to be used this way in an expression; function: {name}",
    UNSOURCED,
)
RESERVED_KEYWORD = Text(
    "Attribute name is a reserved keyword; reserved keyword: {word}",
    "https://github.com/aws/aws-sdk-php/issues/1233 ; "
    "https://github.com/sensedeep/dynamodb-onetable/issues/242",
)
NAME_UNDEFINED = Text(
    "An expression attribute name used in the document path is not defined; attribute name: {name}",
    "https://github.com/neoeinstein/modyne/issues/3 ; https://github.com/aws/aws-sdk-go-v2/issues/285",
)
VALUE_UNDEFINED = Text(
    "An expression attribute value used in expression is not defined; attribute value: {name}",
    "https://github.com/dynamoose/dynamoose/issues/1403",
)
UNKNOWN_FUNCTION = Text("Invalid function name; function: {name}", UNSOURCED)
IN_TOO_MANY = Text(
    "The IN operator is provided with too many operands; number of operands: {count}", UNSOURCED
)
BAD_TYPE_NAME = Text(
    "Invalid attribute type name found; type: {name}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}",
    UNSOURCED,
)
OPERANDS_NOT_DISTINCT = Text(
    "The first operand must be distinct from the remaining operands for this operator or "
    "function; operator: {name}, first operand: {path}",
    UNSOURCED,
)
BETWEEN_TYPES = Text(
    "The BETWEEN operator requires same data type for lower and upper bounds; lower bound "
    "operand: AttributeValue: {low}, upper bound operand: AttributeValue: {high}",
    UNSOURCED,
)
BETWEEN_ORDER = Text(
    "The BETWEEN operator requires upper bound to be greater than or equal to lower bound; "
    "lower bound operand: AttributeValue: {low}, upper bound operand: AttributeValue: {high}",
    "https://github.com/architect/dynalite/tree/main/validations (emulator)",
)
REDUNDANT_PARENTHESES = Text("The expression has redundant parentheses;", UNSOURCED)
SECTION_TWICE = Text(
    'The "{keyword}" section can only be used once in an update expression;', UNSOURCED
)
NAMES_UNUSED = Text(
    "Value provided in ExpressionAttributeNames unused in expressions: keys: {{{keys}}}",
    "https://github.com/AllocZero/EfficientDynamoDb/issues/170",
)
VALUES_UNUSED = Text(
    "Value provided in ExpressionAttributeValues unused in expressions: keys: {{{keys}}}",
    "https://github.com/AllocZero/EfficientDynamoDb/issues/170 (the names form)",
)
UPDATE_PATH_INVALID = Text(
    "The document path provided in the update expression is invalid for update",
    "https://github.com/sensedeep/dynamodb-onetable/issues/457",
)
MISSING_ATTRIBUTE = Text(
    "The provided expression refers to an attribute that does not exist in the item",
    "https://github.com/boto/botocore/blob/develop/botocore/data/dynamodb/2012-08-10/"
    "service-2.json (TransactionCanceledException documentation)",
)
UPDATE_WRONG_TYPE = Text(
    "An operand in the update expression has an incorrect data type",
    "https://github.com/baopham/laravel-dynamodb/issues/284",
)

# -------------------------------------------------------------- key conditions

_KEY_CONDITION_QUOTES = (
    "https://github.com/ServiceStack/ServiceStack.Aws/issues/5 ; "
    "https://github.com/awslabs/aws-athena-query-federation/issues/746 "
    "(both quote the sentence without the 'Invalid KeyConditionExpression: ' prefix)"
)
KEY_CONDITION_INVALID = Text(
    "Invalid KeyConditionExpression: {message}",
    "https://github.com/aws-amplify/amplify-category-api/pull/3531",
)
"""The prefix of every key-condition sentence below."""
KEY_CONDITION_OPERATOR = Text(
    "Invalid operator used in KeyConditionExpression: {operator}", _KEY_CONDITION_QUOTES
)
KEY_CONDITION_FIRST_OPERAND = Text(
    "Invalid condition in KeyConditionExpression: {operator} operator must have the key "
    "attribute as its first operand",
    UNSOURCED,
)
KEY_CONDITION_TWO_NAMES = Text(
    "Invalid condition in KeyConditionExpression: Multiple attribute names used in one condition",
    "https://github.com/aws/aws-sdk-js-v3/issues/2079",
)
KEY_CONDITION_NESTED = Text(
    "KeyConditionExpressions cannot have conditions on nested attributes",
    "https://github.com/nubo-db/dynoxide/blob/main/CHANGELOG.md (capture)",
)
KEY_CONDITION_OPERATION = Text(
    "KeyConditionExpressions cannot contain nested operations", UNSOURCED
)
KEY_CONDITION_NO_KEY = Text(
    "Invalid condition in KeyConditionExpression: No key attribute specified", UNSOURCED
)
KEY_CONDITION_TWICE = Text(
    "KeyConditionExpressions must only contain one condition per key",
    "https://github.com/awslabs/aws-athena-query-federation/issues/1089 ; "
    "https://github.com/aws-amplify/amplify-category-api/pull/3531",
)


# ------------------------------------------------------------------ AttributeValues

_DYNALITE_VALUES = "https://github.com/architect/dynalite/blob/main/validations/index.js (emulator)"
VALUE_EMPTY = Text(
    "Supplied AttributeValue is empty, must contain exactly one of the supported datatypes",
    _DYNALITE_VALUES,
)
VALUE_MULTIPLE = Text(
    "Supplied AttributeValue has more than one datatypes set, must contain exactly one of the "
    "supported datatypes",
    "https://github.com/aws/aws-dynamodb-encryption-java/pull/12",
)
UNKNOWN_FIELD = Text("Unknown field: {name}", UNSOURCED)
"""An AttributeValue with one member that is not a type name."""
EMPTY_ATTRIBUTE_NAME = Text(INVALID + "Empty attribute name", UNSOURCED)
NULL_NOT_TRUE = Text(
    INVALID + "Null attribute value types must have the value of true",
    "https://github.com/nubo-db/dynoxide/blob/main/CHANGELOG.md (#145, #62; capture)",
)
NESTING_TOO_DEEP = Text(
    "Nesting Levels have exceeded supported limits",
    "https://github.com/nubo-db/dynoxide/issues/110 ; "
    "https://github.com/paritysuite/dynamodb-conformance/pull/90",
)
BINARY_SET_EMPTY = Text(INVALID + "Binary sets should not be empty", _DYNALITE_VALUES)
SET_EMPTY = Text(
    INVALID + "An {kind}  may not be empty",
    "https://github.com/ministackorg/ministack/issues/1038 (capture, string set) ; "
    + _DYNALITE_VALUES,
)
"""``kind``: ``string set`` or ``number set`` (two spaces before "may", sic)."""
SET_DUPLICATES = Text(
    INVALID + "Input collection {shown}{suffix}contains duplicates.", _DYNALITE_VALUES
)
"""``suffix``: a space, or ``of type BS `` for a binary set (sic)."""
BASE64_INVALID = Text("Base64 encoded binary data is invalid", UNSOURCED)
NOT_A_NUMBER = Text(
    "The parameter cannot be converted to a numeric value: {text}",
    "https://github.com/jovotech/jovo-framework/issues/197 ; "
    "https://github.com/internetarchive/internet-archive-voice-apps/issues/225",
)
NUMBER_OVERFLOW = Text(
    "Number overflow. Attempting to store a number with magnitude larger than supported range",
    "https://github.com/aws-solutions-library-samples/guidance-for-media2cloud-on-aws/issues/13 ; "
    "https://github.com/ExtendDB/extenddb/issues/94",
)
NUMBER_UNDERFLOW = Text(
    "Number underflow. Attempting to store a number with magnitude smaller than supported range",
    _DYNALITE_VALUES,
)
NUMBER_TOO_PRECISE = Text(
    "Attempting to store more than 38 significant digits in a Number",
    "https://github.com/warpstreamlabs/bento/pull/909",
)

# ------------------------------------------------------- legacy conditions and updates

_DYNALITE_LEGACY = "https://github.com/architect/dynalite/tree/main/validations (emulator)"
CONDITIONAL_OPERATOR_ALONE = Text(
    "ConditionalOperator cannot be used without Filter or Expected", _DYNALITE_LEGACY
)
CONDITIONAL_OPERATOR_ONE = Text(
    "ConditionalOperator can only be used when Filter or Expected has two or more elements",
    _DYNALITE_LEGACY,
)
ARGUMENT_COUNT = Text(
    INVALID + "Invalid number of argument(s) for the {operator} ComparisonOperator",
    _DYNALITE_LEGACY,
)
ARGUMENTS_MIXED = Text(
    INVALID + "AttributeValues inside AttributeValueList must be of same type", _DYNALITE_LEGACY
)
OPERATOR_TYPE = Text(
    INVALID + "ComparisonOperator {operator} is not valid for {kind} AttributeValue type",
    _DYNALITE_LEGACY,
)
LEGACY_BETWEEN_BOUNDS = Text(
    "The BETWEEN condition was provided a range where the lower bound is greater than the "
    "upper bound",
    _DYNALITE_LEGACY,
)
VALUE_AND_LIST = Text(
    INVALID + "Value and AttributeValueList cannot be used together for Attribute: {name}",
    _DYNALITE_LEGACY,
)
EXISTS_AND_OPERATOR = Text(
    INVALID + "Exists and ComparisonOperator cannot be used together for Attribute: {name}",
    _DYNALITE_LEGACY,
)
OPERATOR_WITHOUT_VALUE = Text(
    INVALID + "Value or AttributeValueList must be used with ComparisonOperator: {operator} "
    "for Attribute: {name}",
    _DYNALITE_LEGACY,
)
LIST_WITHOUT_OPERATOR = Text(
    INVALID + "AttributeValueList can only be used with a ComparisonOperator for Attribute: {name}",
    _DYNALITE_LEGACY,
)
EXISTS_WITHOUT_VALUE = Text(
    INVALID + "Value must be provided when Exists is {shown} for Attribute: {name}",
    _DYNALITE_LEGACY,
)
VALUE_WHEN_NOT_EXISTS = Text(
    INVALID + "Value cannot be used when Exists is false for Attribute: {name}", _DYNALITE_LEGACY
)
KEY_CONDITIONS_COUNT = Text("Conditions can be of length 1 or 2 only", _DYNALITE_LEGACY)
NOT_INDEXABLE = Text(
    "Attempted conditional constraint is not an indexable operation", _DYNALITE_LEGACY
)
DUPLICATE_ATTRIBUTE_NAME = Text(
    INVALID + "Duplicate value in attribute name: {name}", _DYNALITE_LEGACY
)
DELETE_ONLY_WITHOUT_VALUE = Text(
    INVALID + "Only DELETE action is allowed when no attribute value is specified",
    _DYNALITE_LEGACY,
)
DELETE_TYPE = Text(
    INVALID + "DELETE action with value is not supported for the type {kind}", _DYNALITE_LEGACY
)
ADD_TYPE = Text(INVALID + "ADD action is not supported for the type {kind}", _DYNALITE_LEGACY)
LEGACY_TYPE_MISMATCH = Text(
    "Type mismatch for attribute to update",
    "https://github.com/boto/botocore/blob/develop/botocore/data/dynamodb/2012-08-10/"
    "service-2.json (TransactionCanceledException documentation)",
)
"""An ADD/DELETE of AttributeUpdates against an attribute of another type."""


# ------------------------------------------------------------ item writes and batches

_BOTOCORE_MODEL = (
    "https://github.com/boto/botocore/blob/develop/botocore/data/dynamodb/2012-08-10/service-2.json"
)
CONDITION_FAILED = Text(
    "The conditional request failed",
    _BOTOCORE_MODEL
    + " (ConditionalCheckFailedException) ; https://github.com/boto/boto3/issues/2657",
)
ITEM_TOO_LARGE = Text(
    "Item size has exceeded the maximum allowed size",
    "https://github.com/amazon-archives/aws-dynamodb-session-tomcat/issues/4 ; "
    "https://github.com/forta-network/starter-kits/issues/252",
)
UPDATED_ITEM_TOO_LARGE = Text(
    "Item size to update has exceeded the maximum allowed size",
    _BOTOCORE_MODEL + " (TransactionCanceledException documentation)",
)
BATCH_DUPLICATE_KEYS = Text(
    "Provided list of item keys contains duplicates",
    "https://github.com/boto/boto3/issues/4131 ; https://github.com/getmoto/moto/issues/7538",
)
BATCH_WRITE_TOO_MANY = Text(
    "Too many items requested for the BatchWriteItem call",
    "https://github.com/99x/serverless-dynamodb-local/issues/175 (DynamoDB Local) ; "
    "https://github.com/zio/zio-dynamodb/issues/77",
)
BATCH_GET_TOO_MANY = Text(
    "Too many items requested for the BatchGetItem call",
    "https://docs.aws.amazon.com/amazondynamodb/latest/APIReference/API_BatchGetItem.html ; "
    "https://github.com/getmoto/moto/issues/3046",
)
WRITE_REQUEST_ONE_OF = Text(
    INVALID + "A WriteRequest must contain exactly one of PutRequest or DeleteRequest",
    "https://github.com/architect/dynalite/blob/main/validations/batchWriteItem.js (emulator)",
)
SUBSTITUTIONS_TOO_LARGE = Text(
    "ExpressionAttributeNames and ExpressionAttributeValues exceed the maximum allowed size of "
    "2 MB",
    UNSOURCED,
)
"""AWS documents the 2 MB limit; no public answer shows its text."""
PLACEHOLDER_TOO_LONG = Text(
    "{member} contains invalid key: The expression attribute map contains a key that is too "
    "long; size of key: {size}",
    UNSOURCED,
)

# ------------------------------------------------------------------ transactions

TRANSACTION_SAME_ITEM = Text(
    "Transaction request cannot include multiple operations on one item",
    "https://github.com/dapr/components-contrib/pull/2809 ; https://github.com/Simi24/dynantic/issues/15",
)
TRANSACTION_TOO_LARGE = Text(
    "Collection size of items exceeded, which can also be caused by the aggregate size of the "
    "items in the transaction exceeding the 4MB limit",
    "https://github.com/nubo-db/dynoxide/blob/main/src/actions/transact_write_items.rs (emulator)",
)
TRANSACTION_CANCELLED = Text(
    "Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
    "https://github.com/pynamodb/PynamoDB/pull/1144 ; https://github.com/aws/aws-sdk-js/issues/2464",
)
TRANSACT_ITEM_ONE_OF = Text(
    "TransactItems can only contain one of Check, Put, Update or Delete", UNSOURCED
)
IDEMPOTENT_MISMATCH = Text(
    "Request parameters do not match previous request with the same ClientRequestToken",
    UNSOURCED,
)

# ------------------------------------------------------------- table administration

TABLE_EXISTS = Text(
    "Table already exists: {name}",
    "https://github.com/joshsymonds/Dynamoid/issues/178 ; "
    "https://github.com/awsdocs/amazon-dynamodb-developer-guide/issues/251",
)
DELETION_PROTECTED = Text(
    "Resource cannot be deleted as it is currently protected against deletion. Disable "
    "deletion protection first.",
    "https://github.com/nubo-db/dynoxide/blob/main/CHANGELOG.md (#46; capture)",
)
NOT_SUPPORTED_HERE = Text(INVALID + "{member} is not supported by this server yet", UNSOURCED)
"""This server's own refusal of a member it does not implement (no AWS counterpart)."""
STREAM_ALREADY_ENABLED = Text("Table already has an enabled stream: TableName: {name}", UNSOURCED)
NO_STREAM_TO_DISABLE = Text("Table has no stream to disable: TableName: {name}", UNSOURCED)
THROUGHPUT_UNCHANGED = Text(
    "The provisioned throughput for the table will not change. The requested value equals the "
    "current value. Current ReadCapacityUnits provisioned for the table: {old_read}. Requested "
    "ReadCapacityUnits: {new_read}. Current WriteCapacityUnits provisioned for the table: "
    "{old_write}. Requested WriteCapacityUnits: {new_write}. Refer to the Amazon DynamoDB "
    "Developer Guide for current limits and how to request higher limits.",
    "https://github.com/cortexproject/cortex/pull/441",
)
ONE_INDEX_AT_A_TIME = Text(
    INVALID + "Only 1 online index can be created or deleted simultaneously per table", UNSOURCED
)
GSI_UPDATE_ONE_OF = Text(
    INVALID + "One of GlobalSecondaryIndexUpdate.Create, Update or Delete must be specified, "
    "and only one",
    UNSOURCED,
)
INDEX_EXISTS = Text(INVALID + "Index already exists: {name}", UNSOURCED)
ATTRIBUTE_TYPE_CHANGE = Text(
    INVALID + "Cannot change the type of an existing attribute: {name}", UNSOURCED
)
INDEX_NOT_FOUND = Text(
    "Requested resource not found: Index: {name} not found for table {table}", UNSOURCED
)
INDEX_BEING_CREATED = Text(
    "Attempt to change a resource which is still in use: Index is being created: {name}",
    UNSOURCED,
)
NOT_A_TABLE_ARN = Text(
    "Invalid TableArn: Invalid ResourceArn provided as input {arn}",
    "https://github.com/architect/dynalite/tree/main/actions (emulator)",
)
ARN_NOT_FOUND = Text(
    "Requested resource not found: ResourcArn: {arn} not found",
    "https://github.com/architect/dynalite/tree/main/actions (emulator; sic)",
)
TABLE_NOT_FOUND_SHORT = Text("Table not found: {name}", UNSOURCED)
"""TableNotFoundException of the continuous-backups operations, and the admin API's
answer for a missing table."""

# ----------------------------------------------------------------------------- tags

TAG_CHARACTERS = Text(
    INVALID + "Tag keys and values may only contain Unicode letters, digits, white space and "
    "+ - = . _ : / @",
    UNSOURCED,
)
TAG_INCOMPLETE = Text(INVALID + "Tag key and value must both be present", UNSOURCED)
TAG_RESERVED_PREFIX = Text(
    INVALID + "Tag key must not start with the reserved prefix aws:", UNSOURCED
)
TOO_MANY_TAGS = Text(INVALID + "The number of tags exceeds the limit of 50", UNSOURCED)

# ---------------------------------------------------------------- Streams positions

TRIMMED = Text("The data you are trying to access has been trimmed.", UNSOURCED)
ITERATOR_EXPIRED = Text("The provided iterator exceeds the maximum age allowed.", UNSOURCED)
INVALID_SEQUENCE_NUMBER = Text("Invalid SequenceNumber: {text}", UNSOURCED)
SEQUENCE_NUMBER_OUTSIDE = Text(
    "Invalid SequenceNumber {text} for shard {shard}: it is outside the shard's sequence number "
    "range",
    UNSOURCED,
)

# ------------------------------------------------- this server's admin API (not AWS's)

STREAM_NOT_FOUND_SHORT = Text("Stream not found: {arn}", UNSOURCED)
"""The admin API's answer for a missing stream, and Lambda's for a mapping's."""

ADMIN_TABLE_OR_STREAM = Text("Give exactly one of table or stream_arn", UNSOURCED)
ADMIN_NO_STREAM = Text("Table {name} has no enabled stream", UNSOURCED)
ADMIN_STREAM_STATUS = Text("Stream {arn} is {status}", UNSOURCED)


# ---------------------------------------------------------------- leftovers

INVALID_NEXT_TOKEN = Text(
    "Invalid NextToken", "https://github.com/xo/dbimp/blob/main/docs/DYNAMODB.md (DynamoDB Local)"
)
"""A NextToken this server did not issue (ListTagsOfResource, PartiQL statements)."""
INVALID_SHARD_ITERATOR = Text("Invalid ShardIterator", UNSOURCED)
SHUTTING_DOWN = Text("The server is shutting down", UNSOURCED)
INTERNAL_ERROR = Text("Internal server error: {name}", UNSOURCED)
DISK_FULL = Text(
    "Internal server error: the disk holding the database is full, so the write was not "
    "committed; free disk space and retry",
    UNSOURCED,
)
"""This server's own (InternalServerError, which every SDK retries)."""
"""An unexpected failure inside a write (``name``: the Python exception's class)."""


# ======================================================================== Lambda
# The event source mapping API speaks Lambda's own REST-JSON protocol, with its own
# texts (rendered as ``{"Type": "User", "message": ...}``). Used by ``shapes.py``
# (the Lambda protocol) and ``triggers/``.

LAMBDA_UNPARSABLE = Text(
    "Could not parse request body into json: Could not parse payload into json: {detail}",
    "https://github.com/awsdocs/aws-lambda-developer-guide/issues/382 ; "
    "https://github.com/alexcasalboni/aws-lambda-power-tuning/issues/148",
)
"""Lambda's prefix before the Jackson reader's own detail."""
LAMBDA_NOT_AN_OBJECT = Text("expected a JSON object", UNSOURCED)
LAMBDA_WRONG_TYPE = Text(
    "Cannot deserialize value of type `{java}` for {members} from {found}", UNSOURCED
)
"""Jackson's wording (``MismatchedInputException``), shortened; not seen from Lambda."""
LAMBDA_NOT_NULL = Text("Member must not be null.", UNSOURCED)
"""Lambda's constraint phrase ends with a period, unlike DynamoDB's."""
LAMBDA_RECORD_AGE = Text(
    "MaximumRecordAgeInSeconds must be -1 or between 60 and 604800.", UNSOURCED
)
LAMBDA_ON_SUCCESS = Text(
    "Unsupported DestinationConfig parameter for given event source mapping type.", UNSOURCED
)
LAMBDA_BAD_DESTINATION = Text(
    "The provided destination config DestinationConfig(onSuccess=null, "
    "onFailure=OnFailure(destination={target})) is invalid.",
    UNSOURCED,
)
LAMBDA_NO_EVENT_SOURCE = Text(
    "Unrecognized event source, must be kinesis, dynamodb stream or sqs.", UNSOURCED
)
LAMBDA_UNSUPPORTED_SOURCE = Text(
    "Unsupported event source {arn}: dynoxide-streams serves DynamoDB stream event sources only.",
    UNSOURCED,
)
LAMBDA_STARTING_POSITION = Text("Unsupported starting position for arn type: {arn}", UNSOURCED)
LAMBDA_MAPPING_EXISTS = Text(
    'The event source arn (" {arn} ") and function (" {function} ") provided mapping already '
    "exists. Please update or delete the existing mapping with UUID {uuid}",
    UNSOURCED,
)
LAMBDA_NOT_FOUND = Text("The resource you requested does not exist.", UNSOURCED)
LAMBDA_MAPPING_DELETING = Text(
    "Cannot update the event source mapping because it is being deleted.", UNSOURCED
)
LAMBDA_INVALID_FUNCTION = Text("Invalid function name: {name}", UNSOURCED)
LAMBDA_INVALID_MARKER = Text("Invalid marker.", UNSOURCED)
LAMBDA_FUNCTION_NOT_FOUND = Text("Function not found: {arn}", UNSOURCED)

# What a mapping reports of its invocations (LastProcessingResult, a failed call's
# errorMessage): Lambda's own wording.
LAMBDA_NO_RECORDS = Text(
    "No records processed",
    "https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html "
    "(examples)",
)
LAMBDA_CALL_FAILED = Text(
    "PROBLEM: Function call failed",
    "https://docs.aws.amazon.com/lambda/latest/api/API_EventSourceMappingConfiguration.html "
    "(examples)",
)
LAMBDA_TIMED_OUT = Text(
    "Task timed out after {seconds:.2f} seconds",
    "https://github.com/alexa-samples/skill-sample-nodejs-smarthome-switch/issues/18 ; "
    "https://github.com/awslabs/aws-lambda-redshift-loader/issues/80",
)
# a failed Python handler's errorMessage (its errorType is Runtime.MarshalError,
# Runtime.ImportModuleError): the Python runtime interface client's wording
LAMBDA_MARSHAL_ERROR = Text(
    "Unable to marshal response: {error}",
    "https://github.com/aws/aws-lambda-python-runtime-interface-client awslambdaric/bootstrap.py",
)
LAMBDA_IMPORT_ERROR = Text(
    "Unable to import module '{module}': {error}",
    "https://github.com/aws/aws-lambda-python-runtime-interface-client awslambdaric/bootstrap.py",
)
LAMBDA_HANDLER_NOT_FOUND = Text(
    "Handler '{handler}' missing on module '{module}'",
    "https://github.com/aws/aws-lambda-python-runtime-interface-client awslambdaric/bootstrap.py",
)

# Filter criteria (this server's own detail after Lambda's "Invalid filter pattern
# definition" lead; no public source shows Lambda's detail texts).
FILTER_CRITERIA_NOT_OBJECT = Text(
    "Invalid FilterCriteria: expected an object with a Filters list.", UNSOURCED
)
FILTER_CRITERIA_NOT_LIST = Text("Invalid FilterCriteria: Filters must be a list.", UNSOURCED)
FILTER_CRITERIA_TOO_MANY = Text(
    "Invalid FilterCriteria: {count} filters given; at most {limit} are allowed per event "
    "source mapping.",
    UNSOURCED,
)
FILTER_CRITERIA_ENTRY = Text(
    "Invalid FilterCriteria: {where} must be an object with a string Pattern.",
    UNSOURCED,
)
FILTER_PATTERN = Text("Invalid filter pattern definition: {where}{at}: {detail}", UNSOURCED)
FILTER_PATTERN_TOO_LONG = Text(
    "Invalid filter pattern definition: {where} is {length} characters long; the maximum is "
    "{limit}.",
    UNSOURCED,
)
FILTER_PATTERN_NOT_JSON = Text(
    "Invalid filter pattern definition: {where} is not valid JSON ({error}).",
    UNSOURCED,
)
FILTER_PATTERN_NOT_OBJECT = Text(
    "Invalid filter pattern definition: {where} must be a JSON object.", UNSOURCED
)
FILTER_EMPTY_OBJECT = Text("empty objects are not allowed in a pattern.", UNSOURCED)
FILTER_OR_TOO_FEW = Text("$or needs at least two pattern objects.", UNSOURCED)
FILTER_FIELD_VALUE = Text(
    "a field's value must be an object or a non-empty array of matchers, not {found}.",
    UNSOURCED,
)
FILTER_EMPTY_ARRAY = Text("empty arrays are not allowed; list at least one matcher.", UNSOURCED)
FILTER_ONE_OPERATOR = Text(
    "a matcher object must have exactly one operator, got {found}.", UNSOURCED
)
FILTER_EXISTS = Text("exists expects true or false.", UNSOURCED)
FILTER_NESTED_ARRAY = Text("nested arrays are not allowed in a matcher list.", UNSOURCED)
FILTER_STRING_OPERAND = Text("{op} expects a string, got {found}.", UNSOURCED)
FILTER_UNKNOWN_OPERATOR = Text(
    'unknown operator "{op}"; expected prefix, suffix, equals-ignore-case, anything-but, '
    "numeric or exists.",
    UNSOURCED,
)
FILTER_NUMERIC_SHAPE = Text(
    'numeric expects [op, number] or [">"|">=", low, "<"|"<=", high], got {found}.',
    UNSOURCED,
)
FILTER_NUMERIC_OPERATOR = Text(
    "unknown numeric operator {found}; use =, <, <=, > or >=.", UNSOURCED
)
FILTER_NUMERIC_OPERAND = Text("numeric operator {op} expects a number, got {found}.", UNSOURCED)
FILTER_NUMERIC_RANGE_ORDER = Text(
    'numeric expects [op, number] or [">"|">=", low, "<"|"<=", high]; a range is a lower '
    "bound then an upper bound.",
    UNSOURCED,
)
FILTER_NUMERIC_RANGE_EMPTY = Text(
    "numeric range: the lower bound must be less than the upper.", UNSOURCED
)
FILTER_ANYTHING_BUT_OBJECT = Text(
    "anything-but accepts one prefix, suffix or equals-ignore-case object, got {found}.",
    UNSOURCED,
)
FILTER_ANYTHING_BUT_OPERATOR = Text(
    'anything-but does not support "{op}"; use prefix, suffix or equals-ignore-case.',
    UNSOURCED,
)
FILTER_ANYTHING_BUT_STRING = Text("anything-but {op} expects a string, got {found}.", UNSOURCED)
FILTER_ANYTHING_BUT_EMPTY = Text("anything-but needs at least one value.", UNSOURCED)
FILTER_ANYTHING_BUT_VALUE = Text(
    "anything-but accepts strings and numbers (or a list of them), got {found}.",
    UNSOURCED,
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
PARTIQL_TYPE_NAME = Text(
    "Invalid attribute type name found; type: {type}, valid types: {{B,NULL,SS,BOOL,L,BS,N,NS,S,M}}",
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
