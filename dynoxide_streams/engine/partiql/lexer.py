"""PartiQL text → tokens, each with its line and column (1-based)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from dynoxide_streams.engine import messages
from dynoxide_streams.errors import ValidationException

KEYWORDS = frozenset(
    {
        "ALL",
        "AND",
        "ASC",
        "BETWEEN",
        "BY",
        "DELETE",
        "DESC",
        "FALSE",
        "FROM",
        "IN",
        "INSERT",
        "INTO",
        "IS",
        "MISSING",
        "MODIFIED",
        "NEW",
        "NOT",
        "NULL",
        "OLD",
        "OR",
        "ORDER",
        "REMOVE",
        "RETURNING",
        "SELECT",
        "SET",
        "TRUE",
        "UPDATE",
        "VALUE",
        "VALUES",
        "WHERE",
    }
)
"""Words that are keywords when unquoted (case-insensitive); quote them to use them as
names."""


@dataclass(frozen=True, slots=True)
class Token:
    """One token. ``kind`` is ``keyword`` (``value`` upper-cased), ``name`` (an unquoted
    identifier), ``quoted`` (a ``"..."`` identifier, unescaped), ``string`` (a
    ``'...'`` literal, unescaped), ``number``, ``param`` (``?``), ``op`` or ``eof``;
    ``text`` is the token as written."""

    kind: str
    value: str
    text: str
    line: int
    column: int


_TOKEN = re.compile(
    r"""
    (?P<space>\s+|--[^\n]*|/\*.*?\*/)
  | (?P<quoted>"(?:[^"]|"")*")
  | (?P<string>'(?:[^']|'')*')
  | (?P<number>(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?)
  | (?P<word>[A-Za-z_][A-Za-z0-9_$]*)
  | (?P<op><<|>>|<>|!=|<=|>=|[=<>\[\](){},.:*?+\-;])
    """,
    re.VERBOSE | re.DOTALL,
)


def _position(text: str, offset: int) -> tuple[int, int]:
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def syntax_error(detail: str) -> ValidationException:
    """The ValidationException of a statement that does not parse."""
    return ValidationException(messages.PARTIQL_SYNTAX.format(detail=detail))


def tokenize(text: str) -> list[Token]:
    """The tokens of ``text``, ending with one ``eof`` token; comments and white space
    are dropped. Raises ValidationException on a character no token starts with or an
    unterminated quote."""
    tokens: list[Token] = []
    offset = 0
    while offset < len(text):
        match = _TOKEN.match(text, offset)
        if match is None:
            line, column = _position(text, offset)
            char = text[offset]
            if char in "'\"":
                raise syntax_error(f"unterminated quote at line {line}, column {column}")
            raise syntax_error(f"unexpected character '{char}' at line {line}, column {column}")
        kind = match.lastgroup
        raw = match.group()
        if kind != "space":
            line, column = _position(text, offset)
            assert kind is not None
            if kind == "quoted":
                tokens.append(Token("quoted", raw[1:-1].replace('""', '"'), raw, line, column))
            elif kind == "string":
                tokens.append(Token("string", raw[1:-1].replace("''", "'"), raw, line, column))
            elif kind == "word":
                upper = raw.upper()
                if upper in KEYWORDS:
                    tokens.append(Token("keyword", upper, raw, line, column))
                else:
                    tokens.append(Token("name", raw, raw, line, column))
            elif kind == "op" and raw == "?":
                tokens.append(Token("param", raw, raw, line, column))
            else:
                tokens.append(Token(kind, raw, raw, line, column))
        offset = match.end()
    line, column = _position(text, len(text))
    tokens.append(Token("eof", "", "", line, column))
    return tokens
