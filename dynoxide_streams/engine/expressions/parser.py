"""Recursive-descent parsers: expression text → syntax tree (``syntax.py``).

Three grammars share one token cursor:

* conditions (Condition/Filter/KeyCondition expressions), lowest precedence first::

      or       := and ("OR" and)*
      and      := not ("AND" not)*
      not      := "NOT" not | primary
      primary  := leaf | "(" or ")"
      leaf     := operand' (comparator operand'
                           | "BETWEEN" operand' "AND" operand'
                           | "IN" "(" operand' ("," operand')* ")")
                | call                                  -- a function as a condition
      operand' := "(" operand' ")" | operand
      operand  := call | :value | path
      call     := NAME "(" operand' ("," operand')* ")"

* updates::

      update   := clause+                 -- clause keywords SET REMOVE ADD DELETE
      SET      path "=" value ("," ...)*  value := inner | "(" inner ")"
      inner    := operand' (("+" | "-") operand')?      operand' := "(" operand ")" | operand
      REMOVE   path ("," path)*
      ADD / DELETE   path :value ("," ...)*

* projections: ``path ("," path)*``.

``path := name ("." name | "[" digits "]")*`` where ``name`` is a NAME or ``#name``.
Keywords (``AND OR NOT BETWEEN IN`` in conditions, ``SET REMOVE ADD DELETE`` in
updates) match case-insensitively and cannot be attribute or function names.

Where two alternatives start alike (a ``(`` may open a condition group or a
parenthesised operand; an update value may be ``(a + b)`` or ``(a) + b``) the parser
backtracks, and like a PEG parser it reports a syntax error at the *farthest* token any
alternative reached: ``Syntax error; token: "<tok>", near: "<prev tok next>"``.
Parentheses directly wrapping another parenthesised group (``((a = b))``) are flagged as
redundant; ``resolve.py`` turns that into DynamoDB's error after the parse succeeds.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import NoReturn, TypeVar

import dynoxide_streams.engine.messages as messages
from dynoxide_streams.engine.expressions.ast import (
    And,
    Arithmetic,
    Between,
    Comparison,
    In,
    Not,
    Or,
)
from dynoxide_streams.engine.expressions.lexer import Token, TokenKind, tokenize
from dynoxide_streams.engine.expressions.syntax import (
    NameRef,
    PathElement,
    SAction,
    SAddOrDelete,
    SCall,
    SClause,
    SCondition,
    SFunction,
    SOperand,
    SPath,
    SRemove,
    SSet,
    SUpdate,
    SValue,
)
from dynoxide_streams.errors import ValidationException

MAX_NESTING = 64
"""Deepest nesting of parentheses, function calls and NOTs accepted in one expression."""

CONDITION_KEYWORDS = frozenset({"AND", "OR", "NOT", "BETWEEN", "IN"})
UPDATE_KEYWORDS = frozenset({"SET", "REMOVE", "ADD", "DELETE"})
_COMPARATORS = frozenset({"=", "<>", "<", "<=", ">", ">="})


_T = TypeVar("_T")


class _Backtrack(Exception):
    """The current alternative does not match (the position is already recorded)."""


def syntax_error(kind: str, text: str, tokens: list[Token], index: int) -> ValidationException:
    """DynamoDB's syntax error for the token at ``index``.

    ``near`` is the source text from the token before the bad one to the token after
    it (``a-b`` for the ``-`` in ``a-b``); at the end of the text the token is
    ``<EOF>`` and ``near`` is the last token.
    """
    bad = tokens[index]
    prev = tokens[index - 1] if index > 0 else None
    after = tokens[index + 1] if index + 1 < len(tokens) else None
    start = prev.start if prev is not None else bad.start
    if bad.kind == "EOF":
        token = "<EOF>"
        end = prev.end if prev is not None else bad.start
    else:
        token = bad.text
        end = after.end if after is not None and after.kind != "EOF" else bad.end
    return ValidationException(
        messages.SYNTAX_ERROR.format(kind=kind, token=token, near=text[start:end])
    )


class _Cursor:
    """A token cursor with PEG-style failure tracking, shared by the three grammars."""

    keywords: frozenset[str] = frozenset()

    def __init__(self, text: str, kind: str) -> None:
        self.text = text
        self.kind = kind
        self.tokens = tokenize(text)
        self.pos = 0
        self.farthest = 0
        self.depth = 0
        self.groups: set[tuple[int, int]] = set()
        self.redundant = False

    # ------------------------------------------------------------- primitives

    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def peek(self, offset: int = 1) -> Token:
        return self.tokens[min(self.pos + offset, len(self.tokens) - 1)]

    def advance(self) -> Token:
        tok = self.tokens[self.pos]
        if tok.kind != "EOF":
            self.pos += 1
        return tok

    def fail(self) -> NoReturn:
        self.farthest = max(self.farthest, self.pos)
        raise _Backtrack

    def expect(self, kind: TokenKind) -> Token:
        if self.tok.kind != kind:
            self.fail()
        return self.advance()

    def expect_op(self, op: str) -> None:
        if not self.tok.is_op(op):
            self.fail()
        self.advance()

    def expect_word(self, word: str) -> None:
        if not self.tok.is_word(word):
            self.fail()
        self.advance()

    def is_keyword(self, tok: Token) -> bool:
        return tok.kind == "NAME" and tok.text.upper() in self.keywords

    def error(self) -> ValidationException:
        return syntax_error(self.kind, self.text, self.tokens, self.farthest)

    @contextmanager
    def nested(self) -> Iterator[None]:
        """Count one level of nesting (just opened by the previous token).

        Refuses expressions nested too deeply, as a syntax error at that token.
        """
        self.depth += 1
        try:
            if self.depth > MAX_NESTING:
                raise syntax_error(self.kind, self.text, self.tokens, self.pos - 1)
            yield
        finally:
            self.depth -= 1

    def close_group(self, open_index: int) -> None:
        """Record the parenthesised group that just closed (``self.pos - 1`` is ``)``)."""
        span = (open_index, self.pos - 1)
        if (open_index + 1, self.pos - 2) in self.groups:
            self.redundant = True
        self.groups.add(span)

    def separated(self, item: Callable[[], _T], word: str | None = None) -> list[_T]:
        """One or more ``item``s separated by commas, or by the keyword ``word``."""
        items = [item()]
        while (self.tok.kind == ",") if word is None else self.tok.is_word(word):
            self.advance()
            items.append(item())
        return items

    def attempt(self, *alternatives: Callable[[], _T]) -> _T:
        """Try each alternative from the same position; the first to match wins."""
        start = self.pos
        for alternative in alternatives[:-1]:
            try:
                return alternative()
            except _Backtrack:
                self.pos = start
        return alternatives[-1]()

    # ------------------------------------------------------------------ paths

    def path(self) -> SPath:
        elements: list[PathElement] = [self.path_name()]
        while True:
            if self.tok.kind == ".":
                self.advance()
                elements.append(self.path_name())
            elif self.tok.kind == "[":
                self.advance()
                index = self.expect("NUMBER")
                self.expect("]")
                elements.append(int(index.text))
            else:
                return SPath(tuple(elements))

    def path_name(self) -> str | NameRef:
        tok = self.tok
        if tok.kind == "ATTR_NAME":
            self.advance()
            return NameRef(tok.text)
        if tok.kind == "NAME" and not self.is_keyword(tok):
            self.advance()
            return tok.text
        self.fail()

    def value_ref(self) -> SValue:
        return SValue(self.expect("ATTR_VALUE").text)

    def starts_call(self) -> bool:
        return self.tok.kind == "NAME" and not self.is_keyword(self.tok) and self.peek().kind == "("

    def operand(self) -> SOperand:
        """A value reference, a function call (arguments as :meth:`operand_p`) or a path."""
        if self.tok.kind == "ATTR_VALUE":
            return self.value_ref()
        if self.starts_call():
            return self.call(self.operand_p)
        return self.path()

    def operand_p(self) -> SOperand:
        """An operand where the grammar may allow parentheses (here: none)."""
        return self.operand()

    def call(self, argument: Callable[[], SOperand]) -> SCall:
        name = self.advance().text
        self.advance()  # "("
        with self.nested():
            args = self.separated(argument)
            self.expect(")")
        return SCall(name, tuple(args))


# ------------------------------------------------------------------ conditions


class _ConditionParser(_Cursor):
    keywords = CONDITION_KEYWORDS

    def run(self) -> SCondition:
        try:
            condition = self.or_()
            self.expect("EOF")
        except _Backtrack:
            raise self.error() from None
        return condition

    def or_(self) -> SCondition:
        items = self.separated(self.and_, "OR")
        return items[0] if len(items) == 1 else Or(tuple(items))

    def and_(self) -> SCondition:
        items = self.separated(self.not_, "AND")
        return items[0] if len(items) == 1 else And(tuple(items))

    def not_(self) -> SCondition:
        if self.tok.is_word("NOT"):
            self.advance()
            with self.nested():
                return Not(self.not_())
        return self.primary()

    def primary(self) -> SCondition:
        if self.tok.kind != "(":
            return self.leaf()
        return self.attempt(self.leaf, self.group)

    def group(self) -> SCondition:
        open_index = self.pos
        self.expect("(")
        with self.nested():
            condition = self.or_()
            self.expect(")")
        self.close_group(open_index)
        return condition

    def leaf(self) -> SCondition:
        first = self.operand_p()
        tok = self.tok
        if tok.kind == "OP" and tok.text in _COMPARATORS:
            self.advance()
            return Comparison(tok.text, first, self.operand_p())
        if tok.is_word("BETWEEN"):
            self.advance()
            low = self.operand_p()
            self.expect_word("AND")
            return Between(first, low, self.operand_p())
        if tok.is_word("IN"):
            self.advance()
            self.expect("(")
            with self.nested():
                choices = self.separated(self.operand_p)
                self.expect(")")
            return In(first, tuple(choices))
        if isinstance(first, SCall):
            return SFunction(first)
        self.fail()

    def operand_p(self) -> SOperand:
        if self.tok.kind != "(":
            return self.operand()
        open_index = self.pos
        self.advance()
        with self.nested():
            inner = self.operand_p()
            self.expect(")")
        self.close_group(open_index)
        return inner


# --------------------------------------------------------------------- updates


class _UpdateParser(_Cursor):
    keywords = UPDATE_KEYWORDS

    def run(self) -> SUpdate:
        clauses: list[SClause] = []
        try:
            while True:
                clauses.append(self.clause())
                if self.tok.kind == "EOF":
                    break
        except _Backtrack:
            raise self.error() from None
        return SUpdate(tuple(clauses))

    def clause(self) -> SClause:
        if not self.is_keyword(self.tok):
            self.fail()
        keyword = self.advance().text.upper()
        actions_of: dict[str, Callable[[], SAction]] = {
            "SET": self.set_action,
            "REMOVE": self.remove_action,
            "ADD": lambda: self.add_or_delete_action("ADD"),
            "DELETE": lambda: self.add_or_delete_action("DELETE"),
        }
        actions = self.separated(actions_of[keyword])
        return SClause(keyword, tuple(actions))

    def set_action(self) -> SSet:
        path = self.path()
        self.expect_op("=")
        return SSet(path, self.attempt(self.set_value, self.parenthesised_set_value))

    def remove_action(self) -> SRemove:
        return SRemove(self.path())

    def add_or_delete_action(self, keyword: str) -> SAddOrDelete:
        path = self.path()
        return SAddOrDelete(keyword, path, self.value_ref())

    def parenthesised_set_value(self) -> SOperand | Arithmetic[SOperand]:
        self.expect("(")
        with self.nested():
            value = self.set_value()
            self.expect(")")
        return value

    def set_value(self) -> SOperand | Arithmetic[SOperand]:
        left = self.operand_p()
        tok = self.tok
        if tok.is_op("+") or tok.is_op("-"):
            self.advance()
            return Arithmetic(tok.text, left, self.operand_p())
        return left

    def operand_p(self) -> SOperand:
        if self.tok.kind != "(":
            return self.operand()
        self.advance()
        with self.nested():
            inner = self.operand()
            self.expect(")")
        return inner


# ----------------------------------------------------------------- projections


class _ProjectionParser(_Cursor):
    def run(self) -> tuple[SPath, ...]:
        try:
            paths = self.separated(self.path)
            self.expect("EOF")
        except _Backtrack:
            raise self.error() from None
        return tuple(paths)


# ------------------------------------------------------------------ entry points


def parse_condition_syntax(text: str, kind: str) -> tuple[SCondition, bool]:
    """Parse a condition; returns the tree and whether it has redundant parentheses."""
    parser = _ConditionParser(text, kind)
    return parser.run(), parser.redundant


def parse_update_syntax(text: str) -> SUpdate:
    return _UpdateParser(text, "UpdateExpression").run()


def parse_projection_syntax(text: str) -> tuple[SPath, ...]:
    return _ProjectionParser(text, "ProjectionExpression").run()
