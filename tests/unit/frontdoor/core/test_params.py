"""frontdoor/core/params.py: a worker's field names in each door's own."""

from __future__ import annotations

from typing import Any

from frontdoor.core.errors import ApiError
from frontdoor.core.params import ParamMap
from frontdoor.messages.models import MessagesRequest
from frontdoor.messages.translate import param_map as anthropic_params
from frontdoor.messages.translate import to_chat_request as anthropic_request
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.translate import param_map as responses_params
from frontdoor.responses.translate import to_chat_request as responses_request
from protos import common_pb2 as pb


def renamed(params: ParamMap, param: str) -> str:
    error = ApiError(400, "refused", param=param)
    params.rename(error)
    return str(error.param)


def test_a_messages_path_names_the_anthropic_message_it_came_from() -> None:
    body: dict[str, Any] = {
        "model": "sonnet",
        "max_tokens": 10,
        "system": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}],
        "messages": [
            {"role": "user", "content": "hi"},
            {"role": "assistant", "content": "hello"},
            {
                "role": "user",
                "content": [{"type": "image", "source": {"type": "url", "url": "https://x/y.png"}}],
            },
        ],
    }
    params = anthropic_params()
    chat = anthropic_request(MessagesRequest.model_validate(body), "sonnet", "r", params)

    assert [m.role for m in chat.messages][:2] == [pb.ROLE_SYSTEM, pb.ROLE_SYSTEM]
    assert renamed(params, "messages[4].content[0]") == "messages.2.content.0"
    assert renamed(params, "messages[1]") == "system"
    assert renamed(params, "reasoning_effort") == "thinking"
    assert renamed(params, "messages.0.content") == "messages.0.content"  # already the door's


def test_a_messages_path_names_the_responses_input_item_it_came_from() -> None:
    body: dict[str, Any] = {
        "model": "sonnet",
        "instructions": "be brief",
        "input": [
            {"role": "user", "content": "weather?"},
            {"type": "reasoning", "summary": []},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
            {"role": "user", "content": [{"type": "input_text", "text": "and?"}]},
        ],
    }
    history = [pb.ChatMessage(role=pb.ROLE_USER, content=[pb.ContentBlock(text="earlier")])]
    params = responses_params()
    chat = responses_request(ResponsesRequest.model_validate(body), "sonnet", "r", history, params)

    assert len(chat.messages) == 6  # instructions, history, user, assistant call, tool, user
    assert renamed(params, "messages[0]") == "instructions"
    assert renamed(params, "messages[1].content[0]") == "previous_response_id"
    assert renamed(params, "messages[3].tool_calls[0]") == "input[2].tool_calls[0]"
    assert renamed(params, "messages[5].content[0]") == "input[4].content[0]"
    assert renamed(params, "max_tokens") == "max_output_tokens"
    assert renamed(params, "response_format") == "text.format"
