"""Reading a request body as a hostile or broken client may send it.

Every body the frontdoor reads comes through `read_body`:
- a declared length over MAX_BODY_BYTES is refused (413) before a byte is read, and a client
  that asked `Expect: 100-continue` is refused before it is told to continue
  (`continue_refusal`);
- a body that stops arriving gets 408 after CLIENT_BODY_TIMEOUT_MS of silence, and its
  connection is closed (`abandon`), so it cannot hold a socket;
- the body is decoded here, not by aiohttp (the server runs with auto_decompress off): a
  Content-Encoding the proxy does not take is 415, a body that is not what its encoding says is
  400, one that decodes past the limit is 413, each naming the header.
The decoding and the refusals are pure; `read_body`, `abandon` and `close_abandoned` are the
thin aiohttp side.
"""

from __future__ import annotations

import asyncio
import zlib

from aiohttp import hdrs, web

from frontdoor.core.errors import ApiError
from frontdoor.state import CONFIG

CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
ENCODING_PARAM = "Content-Encoding"
CODINGS = ("gzip", "deflate")
"""The content codings a body may come in (besides identity)."""
_ALIASES = {"x-gzip": "gzip"}
DECODE_OFF_LOOP_BYTES = 64 * 1024
"""A compressed body from this size is decoded in a worker thread (zlib lets go of the GIL): the
largest took 200 ms, which the event loop must not spend; a smaller one takes a few ms."""
ABANDONED = web.RequestKey("body_abandoned", bool)
"""The request's body was given up on: its answer closes the connection."""


def content_coding(header: str) -> str:
    """The body's one content coding ("identity", "gzip" or "deflate"); ApiError 415 naming the
    header for anything else (another coding, or more than one)."""
    codings = [part.strip().lower() for part in header.split(",")]
    applied = [_ALIASES.get(c, c) for c in codings if c and c != "identity"]
    if not applied:
        return "identity"
    if len(applied) == 1 and applied[0] in CODINGS:
        return applied[0]
    raise ApiError(
        415,
        f"Content-Encoding {header!r} is not supported: send the body as is, gzip or deflate",
        code="unsupported_content_encoding",
        param=ENCODING_PARAM,
    )


def declared_length_refusal(content_length: int | None, limit: int) -> ApiError | None:
    """413 for a Content-Length over the limit, before any of the body is read."""
    if content_length is None or content_length <= limit:
        return None
    return too_large(f"Content-Length is {content_length} bytes; the limit is {limit}")


def continue_refusal(expect: str, content_length: int | None, limit: int) -> ApiError | None:
    """Why a client that sent `Expect: <expect>` must not be told to continue: an expectation
    other than 100-continue (417), or a declared length over the limit (413)."""
    if expect.strip().lower() != "100-continue":
        return ApiError(
            417,
            f"Expect {expect!r} is not supported (only 100-continue)",
            code="expectation_failed",
            param="Expect",
        )
    return declared_length_refusal(content_length, limit)


def too_large(detail: str) -> ApiError:
    return ApiError(413, f"request body too large: {detail} (MAX_BODY_BYTES)")


def decode(raw: bytes, coding: str, limit: int) -> bytes:
    """The body under its content coding; ApiError 400 naming Content-Encoding when it is not
    valid data of that coding (or ends inside it), 413 when it decodes to more than `limit`
    bytes (decoding stops there: a small bomb cannot take the memory)."""
    if coding == "identity" or not raw:
        return raw
    decoded = bytearray()
    rest = raw
    while rest:  # gzip allows several members one after the other (RFC 1952)
        decompressor = zlib.decompressobj(_window_bits(coding, rest))
        try:
            decoded += decompressor.decompress(rest, limit + 1 - len(decoded))
        except zlib.error as exc:
            raise _not_encoded(coding, str(exc)) from None
        if len(decoded) > limit:
            raise too_large(f"it decodes to more than {limit} bytes")
        if not decompressor.eof:
            raise _not_encoded(coding, "the body ends inside the compressed stream")
        rest = decompressor.unused_data
        if rest and coding != "gzip":
            raise _not_encoded(coding, "data follows the end of the compressed stream")
    return bytes(decoded)


def _window_bits(coding: str, data: bytes) -> int:
    """zlib's framing for `coding`: gzip's header; for deflate the zlib wrapper RFC 9110 names,
    or raw deflate when the data has no zlib header (what many clients send)."""
    if coding == "gzip":
        return 16 + zlib.MAX_WBITS
    zlib_header = len(data) >= 2 and data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
    return zlib.MAX_WBITS if zlib_header else -zlib.MAX_WBITS


def _not_encoded(coding: str, detail: str) -> ApiError:
    return ApiError(
        400,
        f"request body is not valid {coding} data (Content-Encoding: {coding}): {detail}",
        code="invalid_content_encoding",
        param=ENCODING_PARAM,
    )


async def read_body(request: web.Request) -> bytes:
    """The request's body, decoded; ApiError for a body that is too large, never finishes,
    cannot be read or does not decode (module docstring)."""
    config = request.app[CONFIG]
    limit = config.max_body_bytes
    coding = content_coding(request.headers.get(hdrs.CONTENT_ENCODING, ""))
    refusal = declared_length_refusal(request.content_length, limit)
    if refusal is not None:
        raise refusal
    raw = await _receive(request, limit, config.client_body_timeout_ms / 1000)
    if coding != "identity" and len(raw) >= DECODE_OFF_LOOP_BYTES:
        return await asyncio.to_thread(decode, raw, coding, limit)
    return decode(raw, coding, limit)


async def _receive(request: web.Request, limit: int, silence_s: float) -> bytes:
    """The raw body as it arrives, each wait for more bounded by `silence_s`."""
    body = bytearray()
    while True:
        try:
            async with asyncio.timeout(silence_s):
                chunk = await request.content.readany()
        except TimeoutError:
            abandon(request)
            raise ApiError(
                408,
                f"the request body stopped arriving: nothing for {silence_s:g} s "
                "(CLIENT_BODY_TIMEOUT_MS)",
                code="body_timeout",
            ) from None
        except web.RequestPayloadError as exc:  # aiohttp's own framing (chunks, length)
            abandon(request)
            raise ApiError(400, f"request body could not be read: {exc}") from None
        if not chunk:
            return bytes(body)
        body += chunk
        if len(body) > limit:
            raise too_large(f"more than {limit} bytes")


def abandon(request: web.Request) -> None:
    """Read no more of this body: the answer closes the connection, and aiohttp does not wait
    for the rest first (it would for up to 10 s: bytes a silent client never sends)."""
    request[ABANDONED] = True
    if not request.content.is_eof():
        request.content.feed_eof()


async def close_abandoned(request: web.Request, response: web.StreamResponse) -> None:
    """on_response_prepare: the answer to a request whose body was abandoned closes its
    connection (what is left of the body must not be read as a next request). aiohttp has
    chosen the Connection header by now: it is set here too."""
    if request.get(ABANDONED):
        response.force_close()
        response.headers[hdrs.CONNECTION] = "close"
