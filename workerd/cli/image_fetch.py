"""Remote images for CLI modes: fetched by workerd only when FETCH_REMOTE_IMAGES is on.

The CLI takes images only as base64 blocks, so an http(s) `image_url` is downloaded here
(bounded in size and time, image types only) and inlined, giving CLI workers the same
behaviour as api workers, where the Messages API fetches the URL itself.
"""

from __future__ import annotations

import aiohttp

from common.images import IMAGE_TYPES
from protos import common_pb2 as pb
from workerd.errors import UnservableRequest

MAX_IMAGE_BYTES = 10 * 1024 * 1024
FETCH_TIMEOUT_S = 15.0


async def inline_remote_images(request: pb.ChatRequest) -> None:
    """Replace every remote image in `request` by its downloaded bytes (in place); an image
    that cannot be used is an UnservableRequest naming `messages`."""
    blocks = [b.image for m in request.messages for b in m.content if b.HasField("image")]
    remote = [image for image in blocks if image.url]
    if not remote:
        return
    timeout = aiohttp.ClientTimeout(total=FETCH_TIMEOUT_S)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for image in remote:
            image.media_type, image.data = await _fetch(session, image.url)
            image.url = ""


async def _fetch(session: aiohttp.ClientSession, url: str) -> tuple[str, bytes]:
    try:
        async with session.get(url) as response:
            if response.status != 200:
                raise _refused(f"fetching {url} gave HTTP {response.status}")
            media_type = response.content_type.lower()
            if media_type not in IMAGE_TYPES:
                raise _refused(f"{url} is {media_type}, not a jpeg, png, gif or webp image")
            data = await response.content.read(MAX_IMAGE_BYTES + 1)
    except (aiohttp.ClientError, TimeoutError) as exc:
        raise _refused(f"could not fetch {url}: {type(exc).__name__}") from None
    if len(data) > MAX_IMAGE_BYTES:
        raise _refused(f"{url} is larger than {MAX_IMAGE_BYTES} bytes")
    return media_type, data


def _refused(why: str) -> UnservableRequest:
    return UnservableRequest(why, "messages")
