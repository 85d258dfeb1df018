"""Random requests, built from the service model, never get a 500.

For every DynamoDB and DynamoDB Streams operation the server implements, Hypothesis
strategies are derived from the operation's input shape in ``model.json`` — members
present or not, wrong JSON types, nulls in structures, lists and maps, lengths and
numbers at and past their bounds, enum values and junk — and each drawn request is sent
as raw JSON to the real server, most of them naming an existing table. AttributeValues
are generated too (well formed or not, nested), with number strings at and beyond every
limit DynamoDB and :mod:`decimal` have (38 digits, exponents 125/-130, a context's
Emax/Emin, ``Decimal``'s own MAX_EMAX/MIN_EMIN/MIN_ETINY, NaN and Infinity), and JSON
number tokens past what a double or a 64-bit integer holds.

Every answer must be a 200 or a DynamoDB-shaped 400 (``__type`` plus a message): never a
500, a traceback or a dropped connection. The run is derandomized (the same requests
every time, bounded by ``PER_OPERATION``), and a failure is shrunk by Hypothesis to a
minimal request, printed with the assertion.
"""

from __future__ import annotations

import decimal
import json
import re
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

from dynoxide_streams.engine.operations import OPERATIONS, STREAM_OPERATIONS
from dynoxide_streams.engine.shapes import _model
from tests.conftest import RawClient

PER_OPERATION = 40
ODDS = 24
"""A value is null or junk once in ``ODDS + 1`` draws: rarely enough that most requests
get past the shape checks to the engine's own."""
MAX_DEPTH = 6
JUNK: list[Any] = [1, "s", True, [], {}, 1.5, [1], {"a": 1}, None]
STRINGS = [
    "",
    "a",
    "abc",
    "x" * 300,
    "A-b.c_d",
    "#n",
    ":v",
    "pk = :v",
    "SET a = :v",
    "SET n = n + :v",
    "SET n = :v - n",
    "ADD n :v",
    "ADD ns :v",
    "n > :v",
    "pk = :p AND sk > :v",
    "sk BETWEEN :v AND :v",
]
NAMES = ["pk", "sk", "n", "ns", "a", ":v", ":p", "#n", "k0", "k1"]
KEYED_MEMBERS = frozenset({"Key", "Item", "ExclusiveStartKey"})
"""Members holding a key or an item of the fuzzed table (``pk`` S, ``sk`` N)."""
EXPRESSIONS = {
    "UpdateExpression": ["SET n = n + :v", "SET n = :v - n", "SET a = :v", "ADD n :v"],
    "ConditionExpression": ["n > :v", "n = :v", "sk < :v"],
    "FilterExpression": ["n > :v", "n = :v"],
    "KeyConditionExpression": ["pk = :p AND sk > :v", "pk = :p AND sk BETWEEN :v AND :v"],
}
JSON_NUMBERS: list[Any] = [0, 1, -1, 5, 100, 1001, 10**12, 1.0, 2.5]
JSON_EDGES: list[Any] = [
    2**31 - 1,
    2**31,
    -(2**31) - 1,
    2**63 - 1,
    2**63,
    2**64,
    -(2**63) - 1,
    10**30,
    1e300,
    -1e300,
    1e-300,
    5e-324,
    1.7976931348623157e308,
]


def weighted(common: SearchStrategy[Any], rare: SearchStrategy[Any], odds: int) -> Any:
    """``common`` ``odds`` times out of ``odds + 1``; shrinks towards ``common``."""
    return st.sampled_from([common] * odds + [rare]).flatmap(lambda chosen: chosen)


# ------------------------------------------------------------------------ numbers

_RAW = "\x00RAW:"
_RAW_TOKEN = re.compile(r'"\\u0000RAW:([^"\\]*)\\u0000"')


def raw_number(token: str) -> str:
    """A JSON number token :func:`json.dumps` cannot write (``1e9999``): a marked
    string that :func:`to_json` turns back into the bare token."""
    return f"{_RAW}{token}\x00"


def to_json(params: Any) -> str:
    return _RAW_TOKEN.sub(r"\1", json.dumps(params))


RAW_JSON_NUMBERS = [
    raw_number(token)
    for token in ("1e9999", "-1e9999", "1e-9999", "1E400", "-0", "0.0e0", "1" + "0" * 400)
]

# Every exponent limit: DynamoDB's (adjusted 125 / -130, so -130 - 37 for a 38-digit
# coefficient), a decimal context's default Emax/Emin, and what a Decimal holds at all.
_LIMITS = [
    0,
    125,
    -130,
    -167,
    decimal.DefaultContext.Emax,
    decimal.DefaultContext.Emin,
    decimal.MAX_EMAX,
    decimal.MIN_EMIN,
    decimal.MIN_ETINY,
]
EXPONENTS = sorted({limit + step for limit in _LIMITS for step in (-1, 0, 1)})
NOT_NUMBERS = ["NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "inf", "", " ", " 1 ", "1_000"]
NOT_NUMBERS += ["0x10", "1e", "e1", ".", "+", "1e+", "\u0661", "1.2.3", "--1"]

_DIGITS = "0123456789"
coefficients = st.one_of(
    st.integers(min_value=0, max_value=10**38 - 1).map(str),
    st.sampled_from([38, 39, 80, 81, 400]).flatmap(
        lambda n: st.text(_DIGITS, min_size=n, max_size=n)
    ),
    st.just("1" + "0" * 100 + "1"),
)
exponents = weighted(
    st.sampled_from([*EXPONENTS, 10**30, -(10**30)]), st.integers(min_value=-200, max_value=200), 2
)


def number_texts() -> SearchStrategy[str]:
    """A DynamoDB ``N`` string: in range, at a limit, past one, or not a number."""
    return weighted(_numeric_texts(), st.sampled_from(NOT_NUMBERS), 9)


@st.composite
def _numeric_texts(draw: st.DrawFn) -> str:
    sign = draw(st.sampled_from(["", "-", "+"]))
    coefficient = draw(coefficients)
    point = draw(st.integers(0, len(coefficient)))
    if draw(st.booleans()):
        coefficient = f"{coefficient[:point]}.{coefficient[point:]}"
    if draw(st.booleans()):
        return sign + coefficient
    return f"{sign}{coefficient}{draw(st.sampled_from(['e', 'E']))}{draw(exponents)}"


# ----------------------------------------------------------------- AttributeValues

BLOBS = ["YWJj", "not base64!"]


def _attribute_values(names: SearchStrategy[str]) -> SearchStrategy[Any]:
    numbers = number_texts()
    well_formed = st.one_of(
        st.builds(lambda s: {"S": s}, st.sampled_from(STRINGS)),
        st.builds(lambda n: {"N": n}, numbers),
        st.builds(lambda b: {"B": b}, st.sampled_from(BLOBS)),
        st.builds(lambda ns: {"NS": ns}, st.lists(numbers, max_size=3)),
        st.builds(lambda ss: {"SS": ss}, st.lists(st.sampled_from(STRINGS), max_size=3)),
        st.builds(lambda bs: {"BS": bs}, st.lists(st.sampled_from(BLOBS), max_size=2)),
        st.builds(lambda b: {"BOOL": b}, st.booleans()),
        st.builds(lambda b: {"NULL": b}, st.booleans()),
    )
    junk = st.sampled_from([{}, {"S": "x", "N": "1"}, "bad", None, {"N": 1}, {"Action": "PUT"}])
    scalars = weighted(well_formed, junk, 9)
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.builds(lambda m: {"M": m}, st.dictionaries(names, inner, max_size=3)),
            st.builds(lambda items: {"L": items}, st.lists(inner, max_size=3)),
        ),
        max_leaves=6,
    )


# ------------------------------------------------------------------- from the model


class Requests:
    """Hypothesis strategies for the input shapes of one service model, against ``table``."""

    def __init__(self, shapes: dict[str, Any], table: str) -> None:
        self.shapes, self.table = shapes, table
        self.names = weighted(st.sampled_from([*NAMES, table]), st.just(""), 9)
        self.attribute_values = _attribute_values(self.names)
        self.numbers = st.builds(lambda n: {"N": n}, number_texts())
        self.keyed = st.fixed_dictionaries(
            {"pk": st.just({"S": "p"}), "sk": self.numbers},
            optional={"n": self.numbers, "a": self.attribute_values},
        )
        self.memo: dict[tuple[str, int], SearchStrategy[Any]] = {}

    def value(self, name: str, depth: int = 0) -> SearchStrategy[Any]:
        """A value for shape ``name``: mostly well typed, sometimes null or junk."""
        key = (name, depth)
        if key not in self.memo:
            odd = st.one_of(st.none(), st.sampled_from(JUNK))
            self.memo[key] = weighted(self._typed(name, depth), odd, ODDS)
        return self.memo[key]

    def _typed(self, name: str, depth: int) -> SearchStrategy[Any]:
        if name == "AttributeValue":
            return self.attribute_values
        if name == "AttributeValueUpdate":
            return st.fixed_dictionaries(
                {},
                optional={
                    "Action": st.sampled_from(["PUT", "ADD", "DELETE", "bad"]),
                    "Value": self.attribute_values,
                },
            )
        if depth > MAX_DEPTH:
            return st.none()
        shape = self.shapes[name]
        kind = shape["type"]
        if kind == "structure":
            return self._structure(shape, depth)
        if kind == "list":
            return st.lists(self.value(shape["member"], depth + 1), max_size=30)
        if kind == "map":
            values = self.value(shape["value"], depth + 1)
            return st.dictionaries(self.names, values, max_size=30)
        if kind == "string":
            choices = [*STRINGS, self.table]
            strings = st.sampled_from(choices)
            if "enum" in shape:
                return weighted(st.sampled_from(shape["enum"]), strings, 2)
            return strings
        if kind in ("integer", "long", "double", "timestamp"):
            return st.one_of(
                st.sampled_from(JSON_NUMBERS),
                st.sampled_from(_bounds(shape)),
                st.sampled_from(JSON_EDGES + RAW_JSON_NUMBERS),
                st.integers(min_value=-(10**40), max_value=10**40),
                st.floats(allow_nan=False, allow_infinity=False),
            )
        if kind == "boolean":
            return st.booleans()
        if kind == "blob":
            return st.sampled_from(BLOBS)
        return st.sampled_from(JUNK)

    def _structure(self, shape: dict[str, Any], depth: int) -> SearchStrategy[Any]:
        members = {
            member: self._member(member, member_shape, depth + 1)
            for member, member_shape in shape.get("members", {}).items()
        }
        required = {m: s for m, s in members.items() if m in shape.get("required", [])}
        optional = {m: s for m, s in members.items() if m not in required}
        variants = [
            st.fixed_dictionaries(required),  # the fewest members: the deepest checks run
            st.fixed_dictionaries(required, optional=optional),
            st.fixed_dictionaries({}, optional=members),  # required members missing too
        ]
        return st.sampled_from([0] * 4 + [1] * 4 + [2]).flatmap(lambda n: variants[n])

    def _member(self, member: str, shape_name: str, depth: int) -> SearchStrategy[Any]:
        """Members that name the table, its key or an expression get a fitting value two
        times out of three, so that numbers reach the engine's checks past the shapes."""
        strategy = self.value(shape_name, depth)
        if member == "TableName":
            return weighted(st.just(self.table), strategy, 2)
        if member in KEYED_MEMBERS:
            return weighted(self.keyed, strategy, 2)
        if member == "ExpressionAttributeValues":
            values = st.fixed_dictionaries(
                {":v": self.numbers}, optional={":p": st.just({"S": "p"})}
            )
            return weighted(values, strategy, 2)
        if member in EXPRESSIONS:
            return weighted(st.sampled_from(EXPRESSIONS[member]), strategy, 2)
        return strategy


def _bounds(shape: dict[str, Any]) -> Sequence[Any]:
    """The shape's numeric bounds and their neighbours (the bounds' own edge cases)."""
    out: list[Any] = [0]
    for bound in ("min", "max"):
        if bound in shape:
            out += [shape[bound] - 1, shape[bound], shape[bound] + 1]
    return out


def _cases() -> list[Any]:
    model = _model()
    cases = []
    for prefix, implemented in (
        ("DynamoDB_20120810", OPERATIONS),
        ("DynamoDBStreams_20120810", STREAM_OPERATIONS),
    ):
        for operation in sorted(implemented):
            if operation in model[prefix]["operations"]:
                cases.append(pytest.param(prefix, operation, id=operation))
    return cases


def assert_dynamodb_shaped(response: Any, where: str) -> None:
    assert response.status in (200, 400), (where, response.status, response.body[:300])
    if response.status == 400:
        answer = response.json
        assert answer["__type"].rsplit("#", 1)[-1].endswith(("Exception", "Error")), where
        assert isinstance(answer.get("message", answer.get("Message")), str), where


@pytest.mark.parametrize(("prefix", "operation"), _cases())
def test_random_requests_get_a_dynamodb_shaped_answer(
    raw: RawClient, make_table: Any, prefix: str, operation: str
) -> None:
    model = _model()[prefix]
    table = make_table(range_key=("sk", "N"))
    requests = Requests(model["shapes"], table).value(model["operations"][operation])

    @settings(
        max_examples=PER_OPERATION,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[
            HealthCheck.function_scoped_fixture,
            HealthCheck.too_slow,
            HealthCheck.data_too_large,
            HealthCheck.large_base_example,
        ],
    )
    @given(params=requests)
    def check(params: Any) -> None:
        body = to_json(params)
        response = raw.request(body, f"{prefix}.{operation}")
        assert_dynamodb_shaped(response, f"{operation}: {body[:400]}")

    check()


NUMBER_ERRORS = (
    "Number overflow. Attempting to store a number with magnitude larger than supported range",
    "Number underflow. Attempting to store a number with magnitude smaller than supported range",
    "Attempting to store more than 38 significant digits in a Number",
)


def test_a_number_is_stored_exactly_or_refused(raw: RawClient, make_table: Any) -> None:
    """Each number text, as an attribute and as a sort key, is either stored with exactly
    its value (never rounded, never zeroed) or refused with one of AWS's number errors."""
    table = make_table(range_key=("sk", "N"))

    @settings(
        max_examples=200,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(text=number_texts())
    def check(text: str) -> None:
        item = {"pk": {"S": "n"}, "sk": {"N": text}, "a": {"N": text}}
        put = raw.call("PutItem", {"TableName": table, "Item": item})
        if put.status == 400:
            message = put.message
            assert message in NUMBER_ERRORS or message == (
                f"The parameter cannot be converted to a numeric value: {text}"
            ), (text, put.body)
            return
        assert put.status == 200, (text, put.status, put.body[:300])
        key = {"pk": {"S": "n"}, "sk": item["sk"]}
        got = raw.call("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True})
        stored = got.json["Item"]
        try:
            expected = decimal.Decimal(text.strip())
        except decimal.InvalidOperation:  # an exponent past Decimal's: only zero is stored
            expected = decimal.Decimal(0)
        assert decimal.Decimal(stored["a"]["N"]) == expected, (text, stored)
        assert decimal.Decimal(stored["sk"]["N"]) == expected, (text, stored)

    check()


def test_an_integral_json_number_is_an_integer(raw: RawClient, make_table: Any) -> None:
    """``"Limit": 1.0`` is the integer 1 (JSON has one number type; Coral reads
    ``1.0`` as an int), found by the fuzz above as a 500."""
    make_table()
    make_table()
    response = raw.request(json.dumps({"Limit": 1.0}), "DynamoDB_20120810.ListTables")
    assert response.status == 200, response.body
    assert len(response.json["TableNames"]) == 1
    assert "LastEvaluatedTableName" in response.json
