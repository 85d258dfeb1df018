"""Lambda FilterCriteria (dynoxide_streams/triggers/filters): validation of patterns and
matching of Lambda-format DynamoDB stream records, operator by operator."""

from __future__ import annotations

import copy
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dynoxide_streams.triggers.filters import (
    MAX_PATTERN_LENGTH,
    CompiledFilters,
    FilterPatternError,
    compile_filter_criteria,
)

RECORD: dict[str, Any] = {
    "eventID": "c4ca4238a0b923820dcc509a6f75849b",
    "eventName": "INSERT",
    "eventVersion": "1.1",
    "eventSource": "aws:dynamodb",
    "awsRegion": "us-east-1",
    "dynamodb": {
        "ApproximateCreationDateTime": 1700000000,
        "Keys": {"Id": {"N": "101"}},
        "NewImage": {
            "Id": {"N": "101"},
            "status": {"S": "DONE"},
            "name": {"S": "us-east"},
            "n": {"N": "5"},
            "price": {"N": "12.50"},
            "flag": {"BOOL": True},
            "gone": {"NULL": True},
            "empty": {"S": ""},
            "tags": {"SS": ["red", "green"]},
            "items": {"L": [{"S": "apple"}, {"N": "7"}]},
        },
        "SequenceNumber": "100000000000000000001",
        "SizeBytes": 10,
        "StreamViewType": "NEW_AND_OLD_IMAGES",
    },
    "eventSourceARN": "arn:aws:dynamodb:us-east-1:000000000000:table/t/stream/2024-01-01T00:00:00.000",
    "nothing": None,
    "ratio": 0.25,
    "yes": True,
    "no": False,
}

TTL_RECORD: dict[str, Any] = {
    **copy.deepcopy(RECORD),
    "eventName": "REMOVE",
    "userIdentity": {"type": "Service", "principalId": "dynamodb.amazonaws.com"},
}


def compile_patterns(*patterns: Any) -> CompiledFilters:
    return compile_filter_criteria(
        {
            "Filters": [
                {"Pattern": p if isinstance(p, str) else orjson.dumps(p).decode()} for p in patterns
            ]
        }
    )


def matches(pattern: Any, record: dict[str, Any] = RECORD) -> bool:
    return compile_patterns(pattern).matches(record)


def image(**attrs: Any) -> dict[str, Any]:
    """A pattern on NewImage attributes."""
    return {"dynamodb": {"NewImage": attrs}}


# ------------------------------------------------------------ official AWS examples


def test_event_name() -> None:
    assert matches({"eventName": ["INSERT"]})
    assert not matches({"eventName": ["MODIFY"]})
    assert matches({"eventName": ["MODIFY", "INSERT"]})  # OR within a leaf


def test_new_image_attribute() -> None:
    assert matches(image(status={"S": ["DONE"]}))
    assert not matches(image(status={"S": ["PENDING"]}))


def test_numeric_key_as_string() -> None:
    assert matches({"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}})
    assert not matches({"dynamodb": {"Keys": {"Id": {"N": ["102"]}}}})


def test_ttl_deletes_only() -> None:
    pattern = {"userIdentity": {"type": ["Service"], "principalId": ["dynamodb.amazonaws.com"]}}
    assert matches(pattern, TTL_RECORD)
    assert not matches(pattern, RECORD)  # a user write carries no userIdentity
    other = copy.deepcopy(TTL_RECORD)
    other["userIdentity"]["principalId"] = "someone.else"
    assert not matches(pattern, other)


def test_prefix_on_string_attribute() -> None:
    assert matches(image(name={"S": [{"prefix": "us-"}]}))
    assert not matches(image(name={"S": [{"prefix": "eu-"}]}))


# ------------------------------------------------------------------- literals


def test_string_equality_is_exact() -> None:
    assert matches({"eventName": ["INSERT"]})
    assert not matches({"eventName": ["insert"]})
    assert not matches({"eventName": ["INSER"]})
    assert not matches({"eventName": ["INSERTS"]})


def test_number_literals() -> None:
    assert matches({"ratio": [0.25]})
    assert matches({"dynamodb": {"SizeBytes": [10]}})
    assert matches({"dynamodb": {"SizeBytes": [10.0]}})  # equal in value
    assert not matches({"dynamodb": {"SizeBytes": [11]}})
    assert not matches({"dynamodb": {"SizeBytes": ["10"]}})  # a string never matches a number
    # A number literal matches a record string equal to its JSON text.
    assert matches({"dynamodb": {"Keys": {"Id": {"N": [101]}}}})
    assert not matches({"dynamodb": {"Keys": {"Id": {"N": [101]}}}}, _with_n("101.0"))
    assert not matches(image(price={"N": [12.5]}))  # "12.50" is not the text "12.5"


def _with_n(value: str) -> dict[str, Any]:
    record = copy.deepcopy(RECORD)
    record["dynamodb"]["Keys"]["Id"]["N"] = value
    return record


def test_boolean_literals() -> None:
    assert matches({"yes": [True]})
    assert not matches({"yes": [False]})
    assert matches({"no": [False]})
    assert not matches({"dynamodb": {"SizeBytes": [True]}})  # True is not the number 1
    assert not matches({"yes": [1]})
    assert matches(image(flag={"BOOL": [True]}))


def test_null_literal() -> None:
    assert matches({"nothing": [None]})
    assert not matches({"eventName": [None]})
    assert not matches({"missing": [None]})  # null needs the field present
    assert not matches({"nothing": [""]})


def test_empty_string() -> None:
    assert matches(image(empty={"S": [""]}))
    assert not matches(image(status={"S": [""]}))
    assert not matches({"nothing": [""]})


# ------------------------------------------------------------------ operators


def test_prefix_and_suffix() -> None:
    assert matches({"eventSource": [{"prefix": "aws:"}]})
    assert not matches({"eventSource": [{"prefix": "AWS:"}]})
    assert matches({"eventSource": [{"suffix": ":dynamodb"}]})
    assert not matches({"eventSource": [{"suffix": ":dynamo"}]})
    assert not matches({"dynamodb": {"SizeBytes": [{"prefix": "1"}]}})  # numbers are not strings
    assert matches({"eventSource": [{"prefix": "x"}, {"suffix": "db"}]})


def test_equals_ignore_case() -> None:
    assert matches({"eventName": [{"equals-ignore-case": "insert"}]})
    assert matches({"eventName": [{"equals-ignore-case": "InSeRt"}]})
    assert not matches({"eventName": [{"equals-ignore-case": "remove"}]})
    assert not matches({"nothing": [{"equals-ignore-case": "null"}]})


def test_anything_but_literals() -> None:
    assert matches({"eventName": [{"anything-but": "REMOVE"}]})
    assert not matches({"eventName": [{"anything-but": "INSERT"}]})
    assert matches({"eventName": [{"anything-but": ["REMOVE", "MODIFY"]}]})
    assert not matches({"eventName": [{"anything-but": ["REMOVE", "INSERT"]}]})
    assert matches({"dynamodb": {"SizeBytes": [{"anything-but": [5, 6]}]}})
    assert not matches({"dynamodb": {"SizeBytes": [{"anything-but": [10, 6]}]}})
    assert not matches({"dynamodb": {"Keys": {"Id": {"N": [{"anything-but": 101}]}}}})
    assert not matches({"missing": [{"anything-but": "x"}]})  # needs the field present
    assert not matches({"dynamodb": {"Keys": [{"anything-but": "x"}]}})  # an object


def test_anything_but_string_operators() -> None:
    assert matches({"eventName": [{"anything-but": {"prefix": "MOD"}}]})
    assert not matches({"eventName": [{"anything-but": {"prefix": "INS"}}]})
    assert matches({"eventName": [{"anything-but": {"suffix": "FY"}}]})
    assert not matches({"eventName": [{"anything-but": {"suffix": "ERT"}}]})
    assert not matches({"eventName": [{"anything-but": {"equals-ignore-case": "insert"}}]})
    assert matches({"eventName": [{"anything-but": {"equals-ignore-case": ["remove", "x"]}}]})


@pytest.mark.parametrize(
    ("comparison", "expected"),
    [
        ([">", 3], True),
        ([">", 5], False),
        ([">=", 5], True),
        (["<", 5], False),
        (["<", 6], True),
        (["<=", 5], True),
        (["<=", 4.99], False),
        (["=", 5], True),
        (["=", 5.0], True),
        (["=", 6], False),
        ([">", 0, "<=", 5], True),
        ([">", 0, "<", 5], False),
        ([">=", 5, "<", 6], True),
        ([">", 5, "<", 6], False),
        ([">", -10.5, "<", 1e6], True),
    ],
)
def test_numeric_on_dynamodb_number_strings(comparison: list[Any], expected: bool) -> None:
    assert matches(image(n={"N": [{"numeric": comparison}]})) is expected


def test_numeric_on_json_numbers_and_non_numbers() -> None:
    assert matches({"dynamodb": {"SizeBytes": [{"numeric": [">", 9, "<", 11]}]}})
    assert not matches({"dynamodb": {"SizeBytes": [{"numeric": [">", 10]}]}})
    assert matches({"ratio": [{"numeric": ["<", 0.5]}]})
    assert matches(image(price={"N": [{"numeric": ["=", 12.5]}]}))  # "12.50" is 12.5 in value
    assert not matches({"eventName": [{"numeric": [">", 0]}]})  # not a number
    assert not matches({"yes": [{"numeric": [">", 0]}]})  # booleans are not numbers
    assert not matches({"nothing": [{"numeric": [">", 0]}]})
    assert matches({"x": [{"numeric": ["<", 0]}]}, {"x": "-1e2"})
    for text in ("NaN", "Infinity", "1,5", " 5", "0x10", ""):
        assert not matches({"x": [{"numeric": [">", -1e9]}]}, {"x": text}), text


def test_numeric_uses_decimal_precision() -> None:
    big = "12345678901234567890123456789012345678"
    assert matches({"x": [{"numeric": [">", 1e37]}]}, {"x": big})
    assert matches({"x": [{"numeric": [">", 0.1]}]}, {"x": "0.10000000000000000001"})
    assert not matches({"x": [{"numeric": [">", 0.1]}]}, {"x": 0.1})


def test_exists() -> None:
    assert matches({"eventName": [{"exists": True}]})
    assert matches({"dynamodb": {"NewImage": [{"exists": True}]}})  # an object counts
    assert matches({"nothing": [{"exists": True}]})  # null is present
    assert not matches({"missing": [{"exists": True}]})
    assert matches({"missing": [{"exists": False}]})
    assert not matches({"eventName": [{"exists": False}]})
    assert not matches({"nothing": [{"exists": False}]})


def test_exists_false_with_other_fields() -> None:
    pattern = {"eventName": ["INSERT"], "dynamodb": {"OldImage": [{"exists": False}]}}
    assert matches(pattern)  # no OldImage on an INSERT
    with_old = copy.deepcopy(RECORD)
    with_old["dynamodb"]["OldImage"] = {"Id": {"N": "101"}}
    assert not matches(pattern, with_old)
    assert not matches({"eventName": ["REMOVE"], "x": [{"exists": False}]})


def test_exists_false_inside_missing_objects() -> None:
    # The whole path is missing, so the leaf is missing too.
    assert matches({"dynamodb": {"OldImage": {"status": {"S": [{"exists": False}]}}}})
    assert matches({"absent": {"deeper": [{"exists": False}]}})
    assert matches({"eventName": {"deeper": [{"exists": False}]}})  # a string has no fields
    assert not matches({"absent": {"deeper": [{"exists": False}], "other": ["x"]}})
    assert not matches({"dynamodb": {"OldImage": {"status": {"S": ["DONE"]}}}})


def test_exists_or_value() -> None:
    pattern = {"eventName": [{"exists": False}, "INSERT"]}
    assert matches(pattern)
    assert matches(pattern, {"other": 1})
    assert not matches(pattern, {"eventName": "REMOVE"})


# -------------------------------------------------------------- structure


def test_and_within_a_pattern() -> None:
    assert matches({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"n": {"N": ["5"]}}}})
    assert not matches({"eventName": ["INSERT"], "dynamodb": {"NewImage": {"n": {"N": ["6"]}}}})
    assert not matches({"eventName": ["REMOVE"], "dynamodb": {"NewImage": {"n": {"N": ["5"]}}}})
    assert not matches({"eventName": ["INSERT"], "unknownField": ["x"]})


def test_or_across_filters() -> None:
    filters = compile_patterns({"eventName": ["REMOVE"]}, image(status={"S": ["DONE"]}))
    assert filters.matches(RECORD)
    assert filters.matches({"eventName": "REMOVE"})
    assert not filters.matches({"eventName": "MODIFY"})
    assert not compile_patterns({"eventName": ["REMOVE"]}, {"eventName": ["MODIFY"]}).matches(
        RECORD
    )


def test_no_filters_match_everything() -> None:
    assert compile_filter_criteria({"Filters": []}).matches(RECORD)
    assert compile_filter_criteria({}).matches({})
    assert CompiledFilters().matches(RECORD)


def test_compiled_filters_keep_pattern_texts() -> None:
    text = '{"eventName": ["INSERT"]}'
    assert compile_filter_criteria({"Filters": [{"Pattern": text}]}).patterns == (text,)


def test_fields_not_named_are_ignored_and_nesting_descends() -> None:
    assert matches({"dynamodb": {"StreamViewType": ["NEW_AND_OLD_IMAGES"]}})
    assert not matches({"dynamodb": {"StreamViewType": {"deeper": ["x"]}}})  # string, not object
    assert not matches({"StreamViewType": ["NEW_AND_OLD_IMAGES"]})  # wrong level


def test_leaf_on_object_matches_only_exists() -> None:
    assert not matches({"dynamodb": {"NewImage": ["x"]}})
    assert not matches({"dynamodb": {"NewImage": [{"anything-but": "x"}]}})
    assert not matches({"dynamodb": {"NewImage": [{"prefix": ""}]}})
    assert matches({"dynamodb": {"NewImage": [{"exists": True}]}})


def test_array_values_match_any_element() -> None:
    assert matches(image(tags={"SS": ["green"]}))
    assert not matches(image(tags={"SS": ["blue"]}))
    assert matches(image(tags={"SS": [{"prefix": "gr"}]}))
    assert matches(image(tags={"SS": [{"anything-but": "red"}]}))  # "green" is not red
    assert not matches(image(tags={"SS": [{"anything-but": ["red", "green"]}]}))
    assert matches({"x": ["b"]}, {"x": [["a"], ["b"]]})  # nested arrays flatten
    assert not matches({"x": ["a"]}, {"x": [{"a": 1}]})  # objects are not values
    assert not matches({"x": ["a"]}, {"x": []})


def test_nested_patterns_descend_into_arrays_of_objects() -> None:
    assert matches(image(items={"L": {"S": ["apple"]}}))
    assert matches(image(items={"L": {"N": [{"numeric": [">", 6]}]}}))
    assert not matches(image(items={"L": {"S": ["pear"]}}))
    # Fields of one sub-pattern must match within the same element.
    record = {"a": [{"b": "1", "c": "2"}, {"b": "3", "c": "4"}]}
    assert matches({"a": {"b": ["1"], "c": ["2"]}}, record)
    assert not matches({"a": {"b": ["1"], "c": ["4"]}}, record)


def test_dollar_or_inside_a_pattern() -> None:
    pattern = {"$or": [{"eventName": ["REMOVE"]}, image(status={"S": ["DONE"]})]}
    assert matches(pattern)
    assert matches(pattern, {"eventName": "REMOVE"})
    assert not matches(pattern, {"eventName": "MODIFY"})
    both = {"eventSource": ["aws:dynamodb"], **pattern}
    assert not matches(both, {"eventName": "REMOVE"})
    # A "$or" that is not a list of objects is an ordinary field name.
    assert matches({"$or": ["x"]}, {"$or": "x"})


def test_duplicate_keys_last_wins() -> None:
    assert matches('{"eventName": ["REMOVE"], "eventName": ["INSERT"]}')
    assert not matches('{"eventName": ["INSERT"], "eventName": ["REMOVE"]}')


def test_record_is_not_mutated() -> None:
    before = copy.deepcopy(RECORD)
    compile_patterns(image(n={"N": [{"numeric": [">", 1]}]}), {"x": [{"exists": False}]}).matches(
        RECORD
    )
    assert before == RECORD


# ------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("criteria", "message"),
    [
        (None, "object"),
        ([], "object"),
        ("{}", "object"),
        ({"Filters": "x"}, "Filters must be a list"),
        ({"Filters": None}, "Filters must be a list"),
        ({"Filters": {"Pattern": "{}"}}, "Filters must be a list"),
        ({"Filters": [{"Pattern": '{"a":["b"]}'}] * 6}, "at most 5"),
        ({"Filters": ["x"]}, "Filters[0] must be an object with a string Pattern"),
        ({"Filters": [{}]}, "Filters[0] must be an object with a string Pattern"),
        ({"Filters": [{"Pattern": {"a": ["b"]}}]}, "string Pattern"),
        ({"Filters": [{"Pattern": '{"a":["b"]}'}, {"Pattern": None}]}, "Filters[1]"),
    ],
)
def test_invalid_criteria(criteria: Any, message: str) -> None:
    with pytest.raises(FilterPatternError) as caught:
        compile_filter_criteria(criteria)
    assert message in str(caught.value)


def test_five_filters_are_allowed() -> None:
    compile_filter_criteria({"Filters": [{"Pattern": '{"a":["b"]}'}] * 5})


def test_pattern_length_limit() -> None:
    filler = "x" * (MAX_PATTERN_LENGTH - len('{"a":[""]}'))
    compile_patterns('{"a":["' + filler + '"]}')  # exactly at the limit
    with pytest.raises(FilterPatternError, match="4096"):
        compile_patterns('{"a":["' + filler + 'x"]}')


@pytest.mark.parametrize(
    ("pattern", "message"),
    [
        ("", "not valid JSON"),
        ("{", "not valid JSON"),
        ("{'a': ['b']}", "not valid JSON"),
        ('{"a": [1e400]}', "not valid JSON"),
        ('["a"]', "must be a JSON object"),
        ('"a"', "must be a JSON object"),
        ("null", "must be a JSON object"),
        ("{}", "empty objects"),
        ('{"a": {}}', 'at "a": empty objects'),
        ('{"a": "b"}', "non-empty array"),
        ('{"a": 1}', "non-empty array"),
        ('{"a": null}', "non-empty array"),
        ('{"a": {"b": true}}', 'at "a.b"'),
        ('{"a": []}', "empty arrays"),
        ('{"a": [["b"]]}', "nested arrays"),
        ('{"a": [{}]}', "exactly one operator"),
        ('{"a": [{"prefix": "x", "suffix": "y"}]}', "exactly one operator"),
        ('{"a": [{"wildcard": "x*"}]}', 'unknown operator "wildcard"'),
        ('{"a": [{"b": ["c"]}]}', 'unknown operator "b"'),
        ('{"a": [{"prefix": 1}]}', "prefix expects a string"),
        ('{"a": [{"prefix": null}]}', "prefix expects a string"),
        ('{"a": [{"prefix": ["x"]}]}', "prefix expects a string"),
        ('{"a": [{"suffix": true}]}', "suffix expects a string"),
        ('{"a": [{"equals-ignore-case": 5}]}', "equals-ignore-case expects a string"),
        ('{"a": [{"exists": "true"}]}', "exists expects true or false"),
        ('{"a": [{"exists": 1}]}', "exists expects true or false"),
        ('{"a": [{"numeric": [">"]}]}', "numeric expects"),
        ('{"a": [{"numeric": [">", 1, "<"]}]}', "numeric expects"),
        ('{"a": [{"numeric": []}]}', "numeric expects"),
        ('{"a": [{"numeric": ">"}]}', "numeric expects"),
        ('{"a": [{"numeric": [">", 1, "<", 5, "=", 3]}]}', "numeric expects"),
        ('{"a": [{"numeric": ["!=", 1]}]}', "unknown numeric operator"),
        ('{"a": [{"numeric": [1, ">"]}]}', "unknown numeric operator"),
        ('{"a": [{"numeric": [">", "1"]}]}', "expects a number"),
        ('{"a": [{"numeric": [">", true]}]}', "expects a number"),
        ('{"a": [{"numeric": ["<", 5, ">", 1]}]}', "lower bound then an upper bound"),
        ('{"a": [{"numeric": ["=", 5, "<", 6]}]}', "lower bound then an upper bound"),
        ('{"a": [{"numeric": [">", 5, "<", 5]}]}', "lower bound must be less"),
        ('{"a": [{"anything-but": {"b": 1}}]}', 'does not support "b"'),
        ('{"a": [{"anything-but": {"numeric": [">", 1]}}]}', 'does not support "numeric"'),
        ('{"a": [{"anything-but": {"prefix": "x", "suffix": "y"}}]}', "accepts one prefix"),
        ('{"a": [{"anything-but": {"prefix": 1}}]}', "anything-but prefix expects a string"),
        ('{"a": [{"anything-but": [{"prefix": "x"}]}]}', "accepts strings and numbers"),
        ('{"a": [{"anything-but": [["x"]]}]}', "accepts strings and numbers"),
        ('{"a": [{"anything-but": null}]}', "accepts strings and numbers"),
        ('{"a": [{"anything-but": true}]}', "accepts strings and numbers"),
        ('{"a": [{"anything-but": []}]}', "at least one value"),
        ('{"$or": [{"a": ["b"]}]}', "at least two"),
        ('{"$or": [{"a": ["b"]}, {}]}', "empty objects"),
    ],
)
def test_invalid_patterns(pattern: str, message: str) -> None:
    with pytest.raises(FilterPatternError) as caught:
        compile_patterns(pattern)
    text = str(caught.value)
    assert message in text
    assert text.startswith("Invalid filter pattern definition: Filters[0].Pattern")


def test_error_names_the_failing_filter() -> None:
    with pytest.raises(FilterPatternError, match=r"Filters\[2\]\.Pattern"):
        compile_patterns({"a": ["b"]}, {"a": ["b"]}, {"a": []})


def test_filter_pattern_error_is_a_value_error() -> None:
    assert issubclass(FilterPatternError, ValueError)


# ------------------------------------------------------------------ properties

scalars = (
    st.text(max_size=8)
    | st.integers(min_value=-(2**53), max_value=2**53)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
keys = st.text(min_size=1, max_size=5).filter(lambda k: k != "$or")
records = st.recursive(
    scalars,
    lambda children: st.dictionaries(keys, children, min_size=1, max_size=4),
    max_leaves=12,
).filter(lambda value: isinstance(value, dict))


def leaves(value: Any, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], Any]]:
    if isinstance(value, dict):
        return [leaf for key, child in value.items() for leaf in leaves(child, (*path, key))]
    return [(path, value)]


def pattern_for(chosen: list[tuple[tuple[str, ...], Any]], wrap: Any) -> dict[str, Any]:
    pattern: dict[str, Any] = {}
    for path, value in chosen:
        node = pattern
        for key in path[:-1]:
            node = node.setdefault(key, {})
        node[path[-1]] = wrap(value)
    return pattern


@settings(max_examples=150, deadline=None)
@given(records, st.data())
def test_pattern_from_own_values_matches(record: dict[str, Any], data: st.DataObject) -> None:
    found = leaves(record)
    chosen = data.draw(st.lists(st.sampled_from(found), min_size=1, unique_by=lambda p: p[0]))
    assert matches(pattern_for(chosen, lambda v: [v]), record)
    assert matches(pattern_for(chosen, lambda v: [{"exists": True}]), record)
    # anything-but the record's own (string or number) values never matches.
    excludable = [(path, value) for path, value in chosen if _excludable(value)]
    if excludable:
        assert not matches(pattern_for(excludable, lambda v: [{"anything-but": [v]}]), record)
        assert not matches(pattern_for(excludable, lambda v: [{"exists": False}]), record)


def _excludable(value: Any) -> bool:
    return isinstance(value, str) or (
        isinstance(value, int | float) and not isinstance(value, bool)
    )


@settings(max_examples=150, deadline=None)
@given(
    st.decimals(allow_nan=False, allow_infinity=False, places=4, min_value=-1000, max_value=1000),
    st.sampled_from(["=", "<", "<=", ">", ">="]),
    st.integers(min_value=-1000, max_value=1000),
)
def test_numeric_agrees_with_decimal_comparison(value: Any, op: str, bound: int) -> None:
    expected = {
        "=": value == bound,
        "<": value < bound,
        "<=": value <= bound,
        ">": value > bound,
        ">=": value >= bound,
    }[op]
    record = {"dynamodb": {"NewImage": {"n": {"N": str(value)}}}}
    assert matches(image(n={"N": [{"numeric": [op, bound]}]}), record) is expected


@settings(max_examples=150, deadline=None)
@given(scalars, st.lists(st.text(max_size=3) | st.integers(-5, 5), min_size=1, max_size=4))
def test_anything_but_is_the_negation_of_equality(value: Any, excluded: list[Any]) -> None:
    record = {"x": value}
    assert matches({"x": [{"anything-but": excluded}]}, record) is not matches(
        {"x": excluded}, record
    )
