"""The neutral reasoning effort levels (ChatRequest.reasoning_effort) and what they mean.

Each door maps its client API's setting onto these; each worker kind maps them onto its own
(workerd/api/messages_api.py, workerd/cli/invocation.py). Empty: the client did not ask.
"""

from __future__ import annotations

NONE = "none"  # no thinking at all
LEVELS = ("low", "medium", "high", "xhigh", "max")  # thinking, from least to most
EFFORTS = frozenset({NONE, *LEVELS})


def thinks(effort: str) -> bool:
    """Whether the request asks for thinking (a level other than none)."""
    return effort in LEVELS
