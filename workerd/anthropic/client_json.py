"""Pure: the client's JSON text (tool arguments, tool and response schemas) read and written safely.

Client JSON is content: whatever it holds must end as that request's 400, never as an exception
that breaks a worker's Run stream (and gets the worker marked down). Three things the standard
`json` module lets through would:
- nesting: its decoder and encoder recurse in C up to the interpreter's recursion limit, so a
  value nested ~1000 deep raises RecursionError (or, parsed on a shallow stack, a later dump
  does). A value nested beyond MAX_DEPTH is refused, measured without recursion.
- `NaN`, `Infinity` and numbers beyond a float (`1e999`): accepted on the way in, written back
  out as `NaN`/`Infinity`, which is not JSON. Refused on the way in; `dumps` never writes them.
- integers past the interpreter's digit limit raise a plain ValueError, not a JSONDecodeError.
"""

from __future__ import annotations

import json
import math
import re
from itertools import accumulate
from typing import Any

MAX_DEPTH = 100
"""The deepest nesting of arrays and objects taken in client JSON (far beyond any real tool)."""

# In valid JSON every string is closed, so this scans linearly; brackets inside strings are text.
_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*+"|[\[\]{}]', re.DOTALL)
_STEP = {"[": 1, "{": 1, "]": -1, "}": -1}


class ClientJsonError(ValueError):
    """The client's JSON cannot be taken; the message says why (a 400 naming the field)."""


def loads(text: str) -> Any:
    """The value of `text`, refused (ClientJsonError) when it is not JSON, nests deeper than
    MAX_DEPTH, or holds a number JSON cannot carry."""
    try:
        value = json.loads(text, parse_constant=_no_constant, parse_float=_finite_float)
    except json.JSONDecodeError as exc:
        raise ClientJsonError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except RecursionError:
        raise ClientJsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # our number checks, or an integer past the digit limit
        raise ClientJsonError(str(exc)) from None
    if too_deep(text):
        raise ClientJsonError(f"nested deeper than {MAX_DEPTH} levels")
    return value


def too_deep(text: str) -> bool:
    """Whether the arrays and objects of valid JSON `text` nest deeper than MAX_DEPTH, found
    without recursion. Nearly every text has fewer brackets than that: counted in C, no scan."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return False
    steps = (_STEP.get(token, 0) for token in _TOKENS.findall(text))
    return max(accumulate(steps, initial=0)) > MAX_DEPTH


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps` that never writes NaN or Infinity (ValueError instead)."""
    return json.dumps(value, allow_nan=False, **options)


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"the number {text[:40]} is too large")
    return value
