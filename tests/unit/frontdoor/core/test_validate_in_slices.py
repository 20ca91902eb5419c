"""frontdoor/core/door.py validate_in_slices: a long message list validated a slice at a time
(so a worker thread lets the event loop run between slices) gives the same model as one
validation, and a failure names the same place in the whole body."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from frontdoor.chat.models import ChatCompletionRequest
from frontdoor.core.door import VALIDATION_SLICE, validate_in_slices
from frontdoor.messages.models import MessagesRequest
from frontdoor.responses.models import ResponsesRequest

COUNT = VALIDATION_SLICE * 2 + 7


def chat_body() -> dict[str, Any]:
    messages = [{"role": "user", "content": f"m{n}"} for n in range(COUNT)]
    return {"model": "sonnet", "messages": messages}


@pytest.mark.parametrize(
    ("model", "body"),
    [
        (ChatCompletionRequest, chat_body()),
        (MessagesRequest, {**chat_body(), "max_tokens": 5}),
        (ResponsesRequest, {"model": "sonnet", "input": chat_body()["messages"]}),
    ],
    ids=["chat", "messages", "responses"],
)
def test_slices_give_the_same_model(model: type[pydantic.BaseModel], body: dict[str, Any]) -> None:
    assert validate_in_slices(model, body) == model.model_validate(body)


def test_a_failure_in_a_later_slice_names_its_place_in_the_whole_list() -> None:
    body = chat_body()
    body["messages"][COUNT - 3] = {"role": "nobody", "content": "x"}
    with pytest.raises(pydantic.ValidationError) as sliced:
        validate_in_slices(ChatCompletionRequest, body)
    assert sliced.value.errors()[0]["loc"][:2] == ("messages", COUNT - 3)
