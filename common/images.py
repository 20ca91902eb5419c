"""The image types Claude reads: the one list every door and worker checks against."""

from __future__ import annotations

IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def unsupported_image_type(media_type: str) -> str | None:
    """Why `media_type` cannot be sent to the model, or None when it can."""
    if media_type.lower() in IMAGE_TYPES:
        return None
    return f"image type {media_type!r} is not supported ({', '.join(sorted(IMAGE_TYPES))})"
