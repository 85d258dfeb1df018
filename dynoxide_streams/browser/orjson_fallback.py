"""A pure-Python stand-in for the part of ``orjson`` the engine uses, for Pyodide.

orjson is a C extension (Rust, in fact): Pyodide's npm package does not ship it, and the
browser bundle takes no Pyodide-built wheels. The bundle installs this module as
``orjson`` in the Pyodide filesystem, so every ``import orjson`` in the engine gets it
and the engine code stays the same code the server runs. On CPython the real orjson is
always used; this file is never imported there except by its tests.

What it matches (the subset the package calls): ``dumps(obj, option=OPT_SORT_KEYS)`` →
compact UTF-8 ``bytes`` (no spaces, non-ASCII kept as is, NaN and infinities written as
``null``); ``loads(bytes | str)`` → objects, refusing NaN/Infinity literals and numbers
beyond a double as orjson does, reading integers beyond 64 bits as doubles (the engine's wire layer has its own path for those);
``JSONDecodeError`` (a ``ValueError``). Hand-written rather than a library because it is
the stdlib ``json`` module with orjson's options and refusals, ~40 lines.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["OPT_SORT_KEYS", "JSONDecodeError", "dumps", "loads"]

OPT_SORT_KEYS = 1 << 5

JSONDecodeError = json.JSONDecodeError

_INT_MIN = -(2**63)
_UINT_MAX = 2**64 - 1


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _clean(obj: Any) -> Any:
    """``obj`` with non-finite floats replaced by None (orjson writes them as null)."""
    if isinstance(obj, float):
        return _finite(obj)
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_clean(v) for v in obj]
    return obj


def dumps(obj: Any, option: int | None = None) -> bytes:
    """Serialise ``obj`` as compact UTF-8 JSON bytes, keys sorted with ``OPT_SORT_KEYS``."""
    sort = bool(option and option & OPT_SORT_KEYS)
    try:
        text = json.dumps(
            obj, separators=(",", ":"), ensure_ascii=False, sort_keys=sort, allow_nan=False
        )
    except ValueError:
        text = json.dumps(_clean(obj), separators=(",", ":"), ensure_ascii=False, sort_keys=sort)
    return text.encode("utf-8", "surrogatepass")


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _parse_int(text: str) -> int | float:
    value = int(text)
    if not _INT_MIN <= value <= _UINT_MAX:
        return _parse_float(text)  # orjson reads an integer beyond 64 bits as a double
    return value


def _parse_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError("number out of range")
    return value


def loads(data: bytes | bytearray | memoryview | str) -> Any:
    """Parse JSON text; raises :data:`JSONDecodeError` on anything orjson refuses."""
    try:
        text = data if isinstance(data, str) else bytes(data).decode("utf-8")
        return json.loads(
            text,
            parse_constant=_refuse_constant,
            parse_int=_parse_int,
            parse_float=_parse_float,
        )
    except JSONDecodeError:
        raise
    except (ValueError, RecursionError) as exc:
        raise JSONDecodeError(str(exc), str(data)[:64], 0) from None
