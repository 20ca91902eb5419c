"""Pure: the client's JSON text (tool arguments, tool and response schemas) read and written safely.

Client JSON is content: whatever it holds must end as that request's 400, never as an exception
that breaks a worker's Run stream (and gets the worker marked down). The limits are the door's
(common/json_limits.py: MAX_DEPTH without recursion, no NaN, Infinity or number beyond a float,
no integer past the digit limit), so what a door passed passes here; this module words the
refusal for the workerd and writes JSON that never holds NaN or Infinity.
"""

from __future__ import annotations

import json
from typing import Any

from common.json_limits import MAX_DEPTH, JsonLimitError, JsonNotFinite, JsonTooDeep, parse

__all__ = ["MAX_DEPTH", "ClientJsonError", "dumps", "loads"]
LITERALS = ("NaN", "Infinity", "-Infinity")  # what Python's json reads beyond JSON


class ClientJsonError(ValueError):
    """The client's JSON cannot be taken; the message says why (a 400 naming the field)."""


def loads(text: str) -> Any:
    """The value of `text`, refused (ClientJsonError) when it is not JSON, nests deeper than
    MAX_DEPTH, or holds a number JSON cannot carry."""
    try:
        return parse(text)
    except json.JSONDecodeError as exc:
        raise ClientJsonError(f"not valid JSON ({exc.msg} at position {exc.pos})") from None
    except JsonTooDeep:
        raise ClientJsonError(f"nested deeper than {MAX_DEPTH} levels") from None
    except JsonNotFinite as exc:
        if exc.text in LITERALS:
            raise ClientJsonError(f"{exc.text} is not a JSON number") from None
        raise ClientJsonError(f"the number {exc.text[:40]} is too large") from None
    except JsonLimitError as exc:
        raise ClientJsonError(exc.reason) from None


def dumps(value: Any, **options: Any) -> str:
    """`json.dumps` that never writes NaN or Infinity (ValueError instead)."""
    return json.dumps(value, allow_nan=False, **options)
