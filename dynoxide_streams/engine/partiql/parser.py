"""PartiQL tokens → statement tree (``ast``), by recursive descent.

Grammar (DynamoDB's subset; keywords case-insensitive)::

    statement := select | insert | update | delete | EXISTS '(' select ')'  [';']
    select    := SELECT ('*' | path {',' path}) FROM name ['.' name]
                 [WHERE cond] [ORDER BY name [ASC|DESC] {',' name [ASC|DESC]}]
    insert    := INSERT INTO name VALUE value
    update    := UPDATE name (SET path '=' value {',' path '=' value} | REMOVE path {',' path})+
                 WHERE cond [RETURNING (ALL|MODIFIED) (OLD|NEW) '*']
    delete    := DELETE FROM name WHERE cond [RETURNING ALL OLD '*']
    cond      := and {OR and};  and := not {AND not};  not := NOT not | predicate
    predicate := '(' cond ')' | function-call
               | sum [(= | <> | != | < | <= | > | >=) sum | [NOT] BETWEEN sum AND sum
                      | [NOT] IN ('[' | '(') value {',' value} (']' | ')')
                      | IS [NOT] (MISSING | NULL)]
    sum       := primary {(+|-) primary}
    primary   := path | literal | '?' | name '(' [value {',' value}] ')' | '(' sum ')'
    path      := name {'.' name | '[' integer ']'}

Every syntax error is a ValidationException naming the offending token and its line and
column.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import TypeVar

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.partiql.lexer import Token, syntax_error, tokenize
from dynoxide_streams.engine.values import normalize_number
from dynoxide_streams.errors import DynamoDBError, ValidationException

_T = TypeVar("_T")

_COMPARATORS = {"=": "=", "<>": "<>", "!=": "<>", "<": "<", "<=": "<=", ">": ">", ">=": ">="}
_RETURNING = {
    ("ALL", "OLD"): "ALL_OLD",
    ("ALL", "NEW"): "ALL_NEW",
    ("MODIFIED", "OLD"): "UPDATED_OLD",
    ("MODIFIED", "NEW"): "UPDATED_NEW",
}


def _describe(token: Token) -> str:
    if token.kind == "eof":
        return f"unexpected end of statement at line {token.line}, column {token.column}"
    return f"unexpected token '{token.text}' at line {token.line}, column {token.column}"


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.pos = 0
        self.params = 0

    # ---------------------------------------------------------------- helpers
    @property
    def tok(self) -> Token:
        return self.tokens[self.pos]

    def advance(self) -> Token:
        token = self.tokens[self.pos]
        if token.kind != "eof":
            self.pos += 1
        return token

    def fail(self, expected: str | None = None) -> ValidationException:
        detail = _describe(self.tok)
        if expected:
            detail += f"; expected {expected}"
        return syntax_error(detail)

    def _next_kind(self) -> str:
        return self.tokens[min(self.pos + 1, len(self.tokens) - 1)].kind

    def _next_is_op(self, op: str) -> bool:
        nxt = self.tokens[min(self.pos + 1, len(self.tokens) - 1)]
        return nxt.kind == "op" and nxt.value == op

    def at_keyword(self, *words: str) -> bool:
        return self.tok.kind == "keyword" and self.tok.value in words

    def at_op(self, *ops: str) -> bool:
        return self.tok.kind == "op" and self.tok.value in ops

    def keyword(self, word: str) -> None:
        if not self.at_keyword(word):
            raise self.fail(word)
        self.advance()

    def op(self, op: str) -> None:
        if not self.at_op(op):
            raise self.fail(f"'{op}'")
        self.advance()

    def name(self) -> str:
        if self.tok.kind in ("name", "quoted"):
            return self.advance().value
        raise self.fail("a name")

    def table_after(self, *words: str) -> str:
        """The table name that follows the keywords ``words`` (``DELETE FROM t``)."""
        for word in words:
            self.keyword(word)
        return self.name()

    def separated(self, item: Callable[[], _T], separator: str = ",") -> list[_T]:
        """One or more ``item``s with ``separator`` (an operator such as ``,`` or a
        keyword such as ``OR``) between them: ``item {separator item}``."""
        items = [item()]
        while self.at_op(separator) or self.at_keyword(separator):
            self.advance()
            items.append(item())
        return items

    # -------------------------------------------------------------- statements
    def statement(self) -> A.Statement:
        if self.at_keyword("SELECT"):
            stmt: A.Statement = self.select()
        elif self.at_keyword("INSERT"):
            stmt = self.insert()
        elif self.at_keyword("UPDATE"):
            stmt = self.update()
        elif self.at_keyword("DELETE"):
            stmt = self.delete()
        elif self.tok.kind == "name" and self.tok.value.upper() == "EXISTS":
            self.advance()
            self.op("(")
            stmt = A.Exists(self.select())
            self.op(")")
        else:
            raise self.fail("SELECT, INSERT, UPDATE or DELETE")
        if self.at_op(";"):
            self.advance()
        if self.tok.kind != "eof":
            raise self.fail("end of statement")
        return stmt

    def select(self) -> A.Select:
        self.keyword("SELECT")
        projection: tuple[A.Path, ...] | None
        if self.at_op("*"):
            self.advance()
            projection = None
        else:
            projection = tuple(self.separated(self.path))
        table = self.table_after("FROM")
        index = None
        if self.at_op("."):
            self.advance()
            index = self.name()
        where = None
        if self.at_keyword("WHERE"):
            self.advance()
            where = self.cond()
        order: list[tuple[str, bool]] = []
        if self.at_keyword("ORDER"):
            self.advance()
            self.keyword("BY")
            while True:
                name = self.name()
                desc = False
                if self.at_keyword("ASC", "DESC"):
                    desc = self.advance().value == "DESC"
                order.append((name, desc))
                if not self.at_op(","):
                    break
                self.advance()
        return A.Select(projection, table, index, where, tuple(order))

    def insert(self) -> A.Insert:
        table = self.table_after("INSERT", "INTO")
        self.keyword("VALUE")
        return A.Insert(table, self.value())

    def update(self) -> A.Update:
        table = self.table_after("UPDATE")
        actions: list[A.SetItem | A.RemoveItem] = []
        while self.at_keyword("SET", "REMOVE"):
            action = self.set_item if self.advance().value == "SET" else self.remove_item
            actions.extend(self.separated(action))
        if not actions:
            raise self.fail("SET or REMOVE")
        self.keyword("WHERE")
        where = self.cond()
        return A.Update(table, tuple(actions), where, self.returning())

    def set_item(self) -> A.SetItem:
        path = self.path()
        self.op("=")
        return A.SetItem(path, self.sum())

    def remove_item(self) -> A.RemoveItem:
        return A.RemoveItem(self.path())

    def delete(self) -> A.Delete:
        table = self.table_after("DELETE", "FROM")
        self.keyword("WHERE")
        where = self.cond()
        return A.Delete(table, where, self.returning())

    def returning(self) -> str | None:
        if not self.at_keyword("RETURNING"):
            return None
        self.advance()
        if not self.at_keyword("ALL", "MODIFIED"):
            raise self.fail("ALL or MODIFIED")
        which = self.advance().value
        if not self.at_keyword("OLD", "NEW"):
            raise self.fail("OLD or NEW")
        age = self.advance().value
        self.op("*")
        return _RETURNING[(which, age)]

    # -------------------------------------------------------------- conditions
    def cond(self) -> A.Cond:
        items = self.separated(self.conj, "OR")
        return items[0] if len(items) == 1 else A.Or(tuple(items))

    def conj(self) -> A.Cond:
        items = self.separated(self.negation, "AND")
        return items[0] if len(items) == 1 else A.And(tuple(items))

    def negation(self) -> A.Cond:
        if self.at_keyword("NOT"):
            self.advance()
            return A.Not(self.negation())
        return self.predicate()

    def predicate(self) -> A.Cond:
        if self.at_op("("):
            # A parenthesised condition, or a parenthesised value that a comparison
            # follows: try the condition first and fall back.
            start, params = self.pos, self.params
            self.advance()
            try:
                inner = self.cond()
                self.op(")")
            except DynamoDBError:
                self.pos, self.params = start, params
            else:
                if not (
                    self.at_op(*_COMPARATORS, "+", "-") or self.at_keyword("BETWEEN", "IN", "IS")
                ):
                    return inner
                self.pos, self.params = start, params
        left = self.sum()
        if self.at_op(*_COMPARATORS):
            op = _COMPARATORS[self.advance().value]
            return A.Comparison(op, left, self.sum())
        negated = False
        after = self.tokens[self.pos + 1] if self.tok.kind != "eof" else self.tok
        if self.at_keyword("NOT") and after.kind == "keyword" and after.value in ("BETWEEN", "IN"):
            self.advance()
            negated = True
        if self.at_keyword("BETWEEN"):
            self.advance()
            low = self.sum()
            self.keyword("AND")
            node: A.Cond = A.Between(left, low, self.sum())
            return A.Not(node) if negated else node
        if self.at_keyword("IN"):
            self.advance()
            if self.at_op("["):
                close = "]"
            elif self.at_op("("):
                close = ")"
            else:
                raise self.fail("'[' or '('")
            self.advance()
            choices = self.separated(self.value)
            self.op(close)
            node = A.In(left, tuple(choices))
            return A.Not(node) if negated else node
        if self.at_keyword("IS"):
            self.advance()
            is_not = False
            if self.at_keyword("NOT"):
                self.advance()
                is_not = True
            if not self.at_keyword("MISSING", "NULL"):
                raise self.fail("MISSING or NULL")
            return A.IsTest(left, self.advance().value, is_not)
        if isinstance(left, A.Call):
            return A.FuncCond(left)
        raise self.fail("a comparison")

    # ------------------------------------------------------------------ values
    def sum(self) -> A.Value:
        left = self.primary()
        while self.at_op("+", "-"):
            op = self.advance().value
            left = A.Arithmetic(op, left, self.primary())
        return left

    def primary(self) -> A.Value:
        tok = self.tok
        if tok.kind == "op" and tok.value == "(":
            self.advance()
            inner = self.sum()
            self.op(")")
            return inner
        callable_word = tok.kind == "name" or (tok.kind == "keyword" and tok.value == "MISSING")
        if callable_word and self._next_is_op("("):
            return self.call()
        if tok.kind in ("name", "quoted"):
            return A.PathRef(self.path())
        return self.value()

    def call(self) -> A.Call:
        name = self.advance().text.lower()
        self.op("(")
        args = [] if self.at_op(")") else self.separated(self.sum)
        self.op(")")
        return A.Call(name, tuple(args))

    def number(self, negative: bool = False) -> A.Literal:
        token = self.advance()
        text = ("-" if negative else "") + token.value
        try:
            return A.Literal({"N": normalize_number(text)})
        except ValidationException:
            raise
        except ValueError:
            raise syntax_error(_describe(token)) from None

    def value(self) -> A.Value:
        """A literal, a ``?`` or a document (map, list, set)."""
        tok = self.tok
        if tok.kind == "param":
            self.advance()
            self.params += 1
            return A.Param(self.params - 1)
        if tok.kind == "string":
            self.advance()
            return A.Literal({"S": tok.value})
        if tok.kind == "number":
            return self.number()
        if tok.kind == "op" and tok.value in ("-", "+") and self._next_kind() == "number":
            self.advance()
            return self.number(negative=tok.value == "-")
        if tok.kind == "keyword" and tok.value == "MISSING":
            raise ValidationException(messages.PARTIQL_MISSING_COMPARE.format())
        if tok.kind == "keyword" and tok.value in ("TRUE", "FALSE"):
            self.advance()
            return A.Literal({"BOOL": tok.value == "TRUE"})
        if tok.kind == "keyword" and tok.value == "NULL":
            self.advance()
            return A.Literal({"NULL": True})
        if tok.kind == "op" and tok.value == "[":
            self.advance()
            items = [] if self.at_op("]") else self.separated(self.value)
            self.op("]")
            return A.ListLit(tuple(items))
        if tok.kind == "op" and tok.value == "{":
            self.advance()
            pairs = [] if self.at_op("}") else self.separated(self.map_pair)
            self.op("}")
            return A.MapLit(tuple(pairs))
        if tok.kind == "op" and tok.value == "<<":
            self.advance()

            def member() -> A.Literal:
                value = self.value()
                if not isinstance(value, A.Literal):
                    raise syntax_error(_describe(tok) + "; a set holds only literals")
                return value

            members = [] if self.at_op(">>") else self.separated(member)
            self.op(">>")
            return A.SetLit(tuple(members))
        raise self.fail("a value")

    def map_pair(self) -> tuple[str, A.Value]:
        if self.tok.kind != "string":
            raise self.fail("a string literal key")
        key = self.advance().value
        self.op(":")
        return key, self.value()

    def path(self) -> A.Path:
        parts: list[str | int] = [self.name()]
        while True:
            if self.at_op(".") and self._next_kind() in ("name", "quoted"):
                self.advance()
                parts.append(self.name())
            elif self.at_op("["):
                self.advance()
                if self.tok.kind != "number" or not self.tok.value.isdigit():
                    raise self.fail("a list index")
                parts.append(int(self.advance().value))
                self.op("]")
            else:
                return tuple(parts)


@functools.lru_cache(maxsize=1024)
def parse(text: str) -> A.Parsed:
    """Parse one statement. Raises ValidationException on a syntax error.

    Results are cached by text (the tree is immutable): applications repeat a few
    statements with different parameters."""
    parser = _Parser(text)
    statement = parser.statement()
    return A.Parsed(statement, parser.params)
