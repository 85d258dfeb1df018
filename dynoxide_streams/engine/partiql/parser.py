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

from dynoxide_streams.engine import messages
from dynoxide_streams.engine.partiql import ast as A
from dynoxide_streams.engine.partiql.lexer import Token, syntax_error, tokenize
from dynoxide_streams.engine.values import normalize_number
from dynoxide_streams.errors import DynamoDBError, ValidationException

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
            paths = [self.path()]
            while self.at_op(","):
                self.advance()
                paths.append(self.path())
            projection = tuple(paths)
        self.keyword("FROM")
        table = self.name()
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
        self.keyword("INSERT")
        self.keyword("INTO")
        table = self.name()
        self.keyword("VALUE")
        item = self.value()
        return A.Insert(table, item)

    def update(self) -> A.Update:
        self.keyword("UPDATE")
        table = self.name()
        actions: list[A.SetItem | A.RemoveItem] = []
        while self.at_keyword("SET", "REMOVE"):
            if self.advance().value == "SET":
                while True:
                    path = self.path()
                    self.op("=")
                    actions.append(A.SetItem(path, self.sum()))
                    if not self.at_op(","):
                        break
                    self.advance()
            else:
                while True:
                    actions.append(A.RemoveItem(self.path()))
                    if not self.at_op(","):
                        break
                    self.advance()
        if not actions:
            raise self.fail("SET or REMOVE")
        self.keyword("WHERE")
        where = self.cond()
        return A.Update(table, tuple(actions), where, self.returning())

    def delete(self) -> A.Delete:
        self.keyword("DELETE")
        self.keyword("FROM")
        table = self.name()
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
        items = [self.conj()]
        while self.at_keyword("OR"):
            self.advance()
            items.append(self.conj())
        return items[0] if len(items) == 1 else A.Or(tuple(items))

    def conj(self) -> A.Cond:
        items = [self.negation()]
        while self.at_keyword("AND"):
            self.advance()
            items.append(self.negation())
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
            return A.Compare(op, left, self.sum())
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
            choices = [self.value()]
            while self.at_op(","):
                self.advance()
                choices.append(self.value())
            self.op(close)
            node = A.InList(left, tuple(choices))
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
            left = A.Arith(op, left, self.primary())
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
        args: list[A.Value] = []
        if not self.at_op(")"):
            args.append(self.sum())
            while self.at_op(","):
                self.advance()
                args.append(self.sum())
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
            items: list[A.Value] = []
            if not self.at_op("]"):
                items.append(self.value())
                while self.at_op(","):
                    self.advance()
                    items.append(self.value())
            self.op("]")
            return A.ListLit(tuple(items))
        if tok.kind == "op" and tok.value == "{":
            self.advance()
            pairs: list[tuple[str, A.Value]] = []
            if not self.at_op("}"):
                while True:
                    if self.tok.kind != "string":
                        raise self.fail("a string literal key")
                    key = self.advance().value
                    self.op(":")
                    pairs.append((key, self.value()))
                    if not self.at_op(","):
                        break
                    self.advance()
            self.op("}")
            return A.MapLit(tuple(pairs))
        if tok.kind == "op" and tok.value == "<<":
            self.advance()
            members: list[A.Literal] = []
            if not self.at_op(">>"):
                while True:
                    member = self.value()
                    if not isinstance(member, A.Literal):
                        raise syntax_error(_describe(tok) + "; a set holds only literals")
                    members.append(member)
                    if not self.at_op(","):
                        break
                    self.advance()
            self.op(">>")
            return A.SetLit(tuple(members))
        raise self.fail("a value")

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
