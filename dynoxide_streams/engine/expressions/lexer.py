"""The tokenizer shared by every expression grammar.

It never fails: a character that starts no token becomes a one-character ``INVALID``
token, and a lone ``#`` or ``:`` (no name after it) is ``INVALID`` too, so that the
parser reports it the way DynamoDB does (``Syntax error; token: "-", near: "a-b"``).
Keywords are not distinguished here: every word is a ``NAME`` and each grammar decides
which words are its keywords (case-insensitively).

Tokens:

* ``NAME``       ``[A-Za-z][A-Za-z0-9_]*`` — attribute names, function names, keywords
* ``ATTR_NAME``  ``#[A-Za-z0-9_]+`` — an ExpressionAttributeNames placeholder
* ``ATTR_VALUE`` ``:[A-Za-z0-9_]+`` — an ExpressionAttributeValues placeholder
* ``NUMBER``     ``[0-9]+`` — only meaningful as a list index ``[3]``
* ``OP``         ``=  <>  <  <=  >  >=  +  -``
* punctuation    ``(  )  [  ]  .  ,`` — each is its own kind, spelled as itself
* ``EOF``        always the last token, positioned at the end of the text
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

TokenKind = Literal[
    "NAME",
    "ATTR_NAME",
    "ATTR_VALUE",
    "NUMBER",
    "OP",
    "(",
    ")",
    "[",
    "]",
    ".",
    ",",
    "INVALID",
    "EOF",
]
"""A token's kind, as listed above (a punctuation kind is the character itself)."""

_WHITESPACE = frozenset(" \t\r\n")
_LETTERS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
_DIGITS = frozenset("0123456789")
_NAME_CHARS = _LETTERS | _DIGITS | {"_"}
_PUNCTUATION: dict[str, TokenKind] = {"(": "(", ")": ")", "[": "[", "]": "]", ".": ".", ",": ","}


@dataclass(frozen=True, slots=True)
class Token:
    """One token: its kind, its exact source text and its ``[start, end)`` offsets."""

    kind: TokenKind
    text: str
    start: int
    end: int

    def is_word(self, word: str) -> bool:
        """Whether this is the (case-insensitive) word ``word``."""
        return self.kind == "NAME" and self.text.upper() == word

    def is_op(self, op: str) -> bool:
        return self.kind == "OP" and self.text == op


def tokenize(text: str) -> list[Token]:
    """Split ``text`` into tokens, ending with an ``EOF`` token."""
    tokens: list[Token] = []
    i = 0
    n = len(text)
    while i < n:
        c = text[i]
        if c in _WHITESPACE:
            i += 1
            continue
        start = i
        if c in _LETTERS:
            i = _scan(text, i + 1, _NAME_CHARS)
            kind: TokenKind = "NAME"
        elif c in _DIGITS:
            i = _scan(text, i + 1, _DIGITS)
            kind = "NUMBER"
        elif c in "#:":
            i = _scan(text, i + 1, _NAME_CHARS)
            if i == start + 1:
                kind = "INVALID"
            else:
                kind = "ATTR_NAME" if c == "#" else "ATTR_VALUE"
        elif c in "<>":
            i += 1
            if i < n and (text[i] == "=" or (c == "<" and text[i] == ">")):
                i += 1
            kind = "OP"
        elif c in "=+-":
            i += 1
            kind = "OP"
        elif c in _PUNCTUATION:
            i += 1
            kind = _PUNCTUATION[c]
        else:
            i += 1
            kind = "INVALID"
        tokens.append(Token(kind, text[start:i], start, i))
    tokens.append(Token("EOF", "", n, n))
    return tokens


def _scan(text: str, i: int, allowed: frozenset[str]) -> int:
    n = len(text)
    while i < n and text[i] in allowed:
        i += 1
    return i
