"""DynamoDB expressions: parse once into an AST, then evaluate it against items.

Pure code — no I/O. Every client error is a ``ValidationException`` with DynamoDB's
message. Modules:

* ``lexer``        text → tokens
* ``parser``       tokens → syntax tree (``syntax``), syntax errors
* ``resolve``      syntax tree → AST (``ast``): placeholders, semantic errors in AWS order
* ``keycondition`` KeyConditionExpression shape rules → :class:`KeyTerm`
* ``evaluate``     conditions against items
* ``update``       UpdateExpression plans applied to items
* ``projection``   ProjectionExpression paths applied to items
* ``paths``        document path lookup, rendering and overlap rules
* ``reserved``     DynamoDB's reserved words
* ``substitutions`` ExpressionAttributeNames/Values of a request and their use
* ``api``          the ``parse_*`` entry points

Typical use for one request::

    subs = Substitutions(names, values)
    condition = parse_condition(text, subs)          # ValidationException on bad input
    plan = parse_update(update_text, subs)
    subs.check_all_used()
    if evaluate(condition, old_item):
        new_item = apply_update(plan, old_item or key)
"""

from __future__ import annotations

from dynoxide_streams.engine.expressions.api import (
    MAX_EXPRESSION_BYTES,
    condition_paths,
    parse_condition,
    parse_key_condition,
    parse_projection,
    parse_update,
    references,
)
from dynoxide_streams.engine.expressions.ast import (
    Condition,
    KeyTerm,
    Path,
    UpdatePlan,
)
from dynoxide_streams.engine.expressions.evaluate import evaluate
from dynoxide_streams.engine.expressions.projection import project
from dynoxide_streams.engine.expressions.substitutions import Substitutions
from dynoxide_streams.engine.expressions.update import apply_update, only_removes

__all__ = [
    "MAX_EXPRESSION_BYTES",
    "Condition",
    "KeyTerm",
    "Path",
    "Substitutions",
    "UpdatePlan",
    "apply_update",
    "condition_paths",
    "evaluate",
    "only_removes",
    "parse_condition",
    "parse_key_condition",
    "parse_projection",
    "parse_update",
    "project",
    "references",
]
