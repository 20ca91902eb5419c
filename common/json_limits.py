"""What JSON the proxy takes from a client: one depth limit and finite numbers, pure.

Python's `json` reads `1e400` as `inf` and writes it back as `Infinity`, which no JSON reader
(the upstream's, the CLI's) accepts; and a value nested a thousand deep parses here but raises
RecursionError in whichever process walks it next. So every client JSON, the request body and
JSON held in a client string (tool-call arguments), goes through `parse`: the same limits
everywhere, and the failure names where in the value it is (`JsonLimitError.path`).
"""

from __future__ import annotations

import json
import math
import sys
from collections.abc import Callable, Iterator

MAX_DEPTH = 100
"""The deepest nesting of arrays and objects accepted, the request body's own levels included
(a chat request's tool-call arguments sit 5 levels down): far beyond what a schema or a tool
call needs, far below what a recursive walk of it in any process can fail on."""

Path = tuple[str | int, ...]
_TO_BRACES = bytes.maketrans(b"[]", b"{}")
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))


class JsonLimitError(ValueError):
    """Valid JSON the proxy refuses (or JSON Python cannot read); `path` leads to the value
    when it is known (empty for the whole document)."""

    def __init__(self, reason: str, path: Path = ()) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = path


class JsonTooDeep(JsonLimitError):
    """Valid JSON nested deeper than the limit."""


class JsonNotFinite(JsonLimitError):
    """Valid JSON holding a number no float carries (`1e400`) or a NaN/Infinity literal
    (`text`, as the client wrote it)."""

    def __init__(self, text: str, path: Path) -> None:
        super().__init__(f"{text} is not a finite JSON number", path)
        self.text = text


class _NotFinite:
    """Where the parser met a number that is no float (`1e400`) or a NaN/Infinity literal."""

    def __init__(self, text: str) -> None:
        self.text = text


def parse(raw: str | bytes, max_depth: int = MAX_DEPTH, interruptible: bool = False) -> object:
    """`raw` as Python values within the limits; `interruptible` (for a large body parsed in a
    worker thread): each object is built by a Python function, so the interpreter can hand the
    GIL to the event loop's thread while the parse runs (the C parser alone holds it for the
    whole parse: 0.3 s for 18 MB of tiny messages), at about twice the parse's cost.

    Raises json.JSONDecodeError (or UnicodeDecodeError) for what is not JSON, JsonLimitError
    for JSON that nests deeper than `max_depth`, holds a number that is not finite (or the
    NaN/Infinity literals Python accepts), or an integer longer than Python reads
    (sys.get_int_max_str_digits, its guard against quadratic parsing)."""
    found: list[_NotFinite] = []

    def number(text: str) -> object:
        value = float(text)
        if math.isfinite(value):
            return value
        found.append(_NotFinite(text))
        return found[-1]

    def constant(text: str) -> object:
        found.append(_NotFinite(text))
        return found[-1]

    try:
        hook = _object if interruptible else None
        value = json.loads(raw, parse_float=number, parse_constant=constant, object_pairs_hook=hook)
    except RecursionError:
        raise JsonTooDeep(f"it nests deeper than {max_depth} levels") from None
    except json.JSONDecodeError:
        raise
    except ValueError:  # an integer past sys.get_int_max_str_digits
        limit = sys.get_int_max_str_digits()
        raise JsonLimitError(f"it has an integer of more than {limit} digits") from None
    if found:
        path = _first(value, lambda node, _: isinstance(node, _NotFinite))
        raise JsonNotFinite(found[0].text, path)
    data = raw if isinstance(raw, bytes) else raw.encode("utf-8", "surrogatepass")
    if exceeds_depth(data, max_depth):
        path = _first(value, lambda _, depth: depth > max_depth)
        raise JsonTooDeep(f"it nests deeper than {max_depth} levels", path)
    return value


def _object(pairs: list[tuple[str, object]]) -> dict[str, object]:
    return dict(pairs)


def exceeds_depth(raw: bytes, max_depth: int = MAX_DEPTH) -> bool:
    """Whether valid JSON `raw` nests arrays and objects deeper than `max_depth`, read from the
    bytes in a few C-speed passes (no walk over the parsed values, which for a body of many
    small messages costs a second).

    Escaped backslashes and quotes go first, then every byte but quotes and brackets; adjacent
    quotes hold nothing and go too (which keeps the rest paired), then what is left inside
    strings. What remains are the containers, `{` and `}` for both kinds: each pass removes the
    innermost ones, so the passes needed to empty it are the depth."""
    if raw.count(b"[") + raw.count(b"{") <= max_depth:
        return False
    bare = raw.replace(b"\\\\", b"").replace(b'\\"', b"").translate(_TO_BRACES, _NOT_STRUCTURE)
    bare = bare.replace(b'""', b"")
    if b'"' in bare:
        bare = b"".join(bare.split(b'"')[::2])
    for _ in range(max_depth):
        if not bare:
            return False
        bare = bare.replace(b"{}", b"")
    return bool(bare)


def _first(value: object, wanted: Callable[[object, int], bool]) -> Path:
    """The path of the first node (in document order) `wanted(node, depth)` picks; only called
    once a parse found one, so an error names where it is."""
    return next((path for path, _ in _where(value, wanted)), ())


def _where(value: object, wanted: Callable[[object, int], bool]) -> Iterator[tuple[Path, object]]:
    """The nodes of `value` (with their paths) for which `wanted(node, depth)` holds, in
    document order, without recursion (the value may be as deep as the parser allows)."""
    stack: list[tuple[Path, object, int]] = [((), value, 0)]
    while stack:
        path, node, depth = stack.pop()
        if isinstance(node, dict | list):
            depth += 1
        if wanted(node, depth):
            yield path, node
            continue
        if isinstance(node, dict):
            children = [((*path, key), child, depth) for key, child in node.items()]
        elif isinstance(node, list):
            children = [((*path, index), child, depth) for index, child in enumerate(node)]
        else:
            continue
        stack.extend(reversed(children))
