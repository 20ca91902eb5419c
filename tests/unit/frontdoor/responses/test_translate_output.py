"""The Responses API door: request translation (responses/translate.py) and the output builders
(responses/output.py: the response object and the typed stream events)."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from frontdoor.core.errors import ApiError
from frontdoor.responses.models import ResponsesRequest
from frontdoor.responses.output import ResponseBuilder, ResponsesSse
from frontdoor.responses.translate import to_chat_request
from protos import common_pb2 as pb

PNG_URL = "data:image/png;base64," + base64.b64encode(b"\x89PNG-fake").decode()


def _translate(**fields: Any) -> pb.ChatRequest:
    data: dict[str, Any] = {"model": "gpt-4o", "input": "hi", **fields}
    return to_chat_request(ResponsesRequest.model_validate(data), "sonnet", "req-1")


def _reject(**fields: Any) -> ApiError:
    with pytest.raises(ApiError) as info:
        _translate(**fields)
    assert info.value.status == 400
    return info.value


def test_a_string_input_is_one_user_turn_after_the_instructions() -> None:
    request = _translate(instructions="Be brief.", max_output_tokens=50, temperature=0.5)
    assert [m.role for m in request.messages] == [pb.ROLE_SYSTEM, pb.ROLE_USER]
    assert [m.content[0].text for m in request.messages] == ["Be brief.", "hi"]
    assert request.max_tokens == 50 and request.temperature == 0.5
    assert request.model == "sonnet" and request.request_id == "req-1"


def test_items_map_onto_content_blocks() -> None:
    request = _translate(
        input=[
            {"role": "developer", "content": "rules"},
            {
                "type": "message",
                "role": "user",
                "content": [
                    {"type": "input_text", "text": "look"},
                    {"type": "input_image", "image_url": PNG_URL},
                    {"type": "input_image", "image_url": "https://example.com/a.png"},
                ],
            },
            {"role": "assistant", "content": [{"type": "output_text", "text": "calling"}]},
            {"type": "function_call", "call_id": "toolu_1", "name": "f", "arguments": "{}"},
            {"type": "function_call", "call_id": "toolu_2", "name": "g", "arguments": '{"a":1}'},
            {"type": "function_call_output", "call_id": "toolu_1", "output": "one"},
            {
                "type": "function_call_output",
                "call_id": "toolu_2",
                "output": [{"type": "input_text", "text": "two"}],
            },
            {"type": "reasoning", "id": "rs_1", "summary": []},
        ]
    )
    roles = [m.role for m in request.messages]
    assert roles == [pb.ROLE_SYSTEM, pb.ROLE_USER, pb.ROLE_ASSISTANT, pb.ROLE_TOOL, pb.ROLE_TOOL]
    user = request.messages[1].content
    assert user[0].text == "look"
    assert user[1].image.media_type == "image/png" and user[1].image.data == b"\x89PNG-fake"
    assert user[2].image.url == "https://example.com/a.png"
    assistant = request.messages[2].content
    assert assistant[0].text == "calling"
    uses = [(b.tool_use.id, b.tool_use.name, b.tool_use.arguments_json) for b in assistant[1:]]
    assert uses == [("toolu_1", "f", "{}"), ("toolu_2", "g", '{"a":1}')]
    results = [m.content[0].tool_result for m in request.messages[3:]]
    assert [(r.tool_use_id, r.content) for r in results] == [("toolu_1", "one"), ("toolu_2", "two")]


def test_a_function_call_without_a_preceding_assistant_turn_gets_one() -> None:
    request = _translate(
        input=[
            {"role": "user", "content": "q"},
            {"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"},
        ]
    )
    assert [m.role for m in request.messages] == [pb.ROLE_USER, pb.ROLE_ASSISTANT]


def test_tools_choice_format_and_effort() -> None:
    schema = {"type": "object", "properties": {"a": {"type": "string"}}}
    request = _translate(
        tools=[{"type": "function", "name": "f", "description": "d", "parameters": schema}],
        tool_choice={"type": "function", "name": "f"},
        parallel_tool_calls=False,
        text={"format": {"type": "json_schema", "name": "x", "schema": schema, "strict": True}},
        reasoning={"effort": "minimal"},
    )
    [tool] = request.tools
    assert (tool.name, tool.description, json.loads(tool.parameters_json)) == ("f", "d", schema)
    assert request.tool_choice.mode == pb.TOOL_CHOICE_NAMED and request.tool_choice.name == "f"
    assert request.parallel_tool_calls is False
    assert request.response_format == pb.RESPONSE_FORMAT_JSON_SCHEMA
    assert json.loads(request.json_schema) == schema
    assert request.reasoning_effort == "low"
    assert _translate(tool_choice="required").tool_choice.mode == pb.TOOL_CHOICE_REQUIRED
    json_object = _translate(text={"format": {"type": "json_object"}})
    assert json_object.response_format == pb.RESPONSE_FORMAT_JSON_OBJECT


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"tools": [{"type": "function"}]}, "tools[0].name"),
        ({"tool_choice": "sometimes"}, "tool_choice"),
        ({"tool_choice": {"type": "file_search"}}, "tool_choice"),
        ({"text": {"format": {"type": "json_schema", "name": "x"}}}, "text.format.schema"),
        ({"reasoning": {"effort": "extreme"}}, "reasoning.effort"),
        ({"input": [{"role": "tool", "content": "x"}]}, "input[0].role"),
        ({"input": [{"type": "file_search_call"}]}, "input[0].type"),
        ({"input": [{"role": "user", "content": [{"type": "input_file"}]}]}, "input[0].content[0]"),
        ({"input": [{"type": "function_call_output", "output": "x"}]}, "input[0]"),
        ({"input": []}, "input"),
    ],
)
def test_refusals(fields: dict[str, Any], param: str) -> None:
    assert _reject(**fields).param == param


# --- output ---------------------------------------------------------------------------------


def _events(*events: pb.Event) -> tuple[ResponseBuilder, list[dict[str, Any]]]:
    builder = ResponseBuilder("resp_abc", 100, "sonnet", {"metadata": {}})
    out = builder.opening()
    for event in events:
        out.extend(builder.add(event))
    out.append(builder.ending())
    return builder, out


def _tool(index: int, arguments: str, call_id: str = "", name: str = "") -> pb.Event:
    return pb.Event(
        tool_call=pb.ToolCallDelta(index=index, id=call_id, name=name, arguments_delta=arguments)
    )


RUN = (
    pb.Event(model_info=pb.ModelInfo(model="claude-sonnet-4-5")),
    pb.Event(thinking=pb.ThinkingDelta(text="hmm ")),
    pb.Event(thinking=pb.ThinkingDelta(text="ok")),
    pb.Event(thinking=pb.ThinkingDelta(signature="sig")),
    pb.Event(text=pb.TextDelta(text="Let me ")),
    pb.Event(text=pb.TextDelta(text="check.")),
    _tool(0, '{"a":', "toolu_1", "f"),
    _tool(0, "1}"),
    pb.Event(usage=pb.Usage(input_tokens=10, cache_read_tokens=5, output_tokens=7)),
    pb.Event(finish=pb.Finish(reason=pb.FINISH_TOOL_CALLS)),
)


def test_the_response_object() -> None:
    builder, _ = _events(*RUN)
    response = builder.response()
    assert response["id"] == "resp_abc" and response["object"] == "response"
    assert response["status"] == "completed" and response["incomplete_details"] is None
    assert response["model"] == "claude-sonnet-4-5" and response["metadata"] == {}
    reasoning, message, call = response["output"]
    assert reasoning["type"] == "reasoning"
    assert reasoning["summary"] == [{"type": "summary_text", "text": "hmm ok"}]
    assert "sig" not in json.dumps(response)
    assert message["type"] == "message" and message["status"] == "completed"
    assert message["content"][0]["text"] == "Let me check."
    assert message["content"][0]["annotations"] == []
    assert call == {
        "id": call["id"],
        "type": "function_call",
        "call_id": "toolu_1",
        "name": "f",
        "arguments": '{"a":1}',
        "status": "completed",
    }
    assert response["usage"] == {
        "input_tokens": 15,
        "input_tokens_details": {"cached_tokens": 5},
        "output_tokens": 7,
        "output_tokens_details": {"reasoning_tokens": 0},
        "total_tokens": 22,
    }


def test_the_stream_events_in_order() -> None:
    _, events = _events(*RUN)
    assert [e["sequence_number"] for e in events] == list(range(len(events)))
    assert [e["type"] for e in events] == [
        "response.created",
        "response.in_progress",
        "response.output_item.added",
        "response.reasoning_summary_part.added",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.delta",
        "response.reasoning_summary_text.done",
        "response.reasoning_summary_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.content_part.added",
        "response.output_text.delta",
        "response.output_text.delta",
        "response.output_text.done",
        "response.content_part.done",
        "response.output_item.done",
        "response.output_item.added",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.delta",
        "response.function_call_arguments.done",
        "response.output_item.done",
        "response.completed",
    ]
    assert events[0]["response"]["status"] == "in_progress"
    assert events[-1]["response"]["status"] == "completed"
    assert [i["type"] for i in events[-1]["response"]["output"]] == [
        "reasoning",
        "message",
        "function_call",
    ]


def test_a_length_finish_is_incomplete() -> None:
    builder, events = _events(
        pb.Event(text=pb.TextDelta(text="cut")),
        pb.Event(finish=pb.Finish(reason=pb.FINISH_LENGTH)),
    )
    assert builder.response()["status"] == "incomplete"
    assert builder.response()["incomplete_details"] == {"reason": "max_output_tokens"}
    assert events[-1]["type"] == "response.incomplete"


def test_the_sse_writer_fails_the_response_on_an_error() -> None:
    writer = ResponsesSse(ResponseBuilder("resp_abc", 1, "sonnet", {}))
    opening = writer.opening()
    assert opening.startswith(b"event: response.created\ndata: {")
    data, go_on = writer.event(pb.Event(text=pb.TextDelta(text="x")))
    assert go_on and b"event: response.output_text.delta\n" in data
    error = pb.Event(error=pb.Error(code=pb.UPSTREAM_ERROR, message="boom"))
    data, go_on = writer.event(error)
    assert not go_on
    last = data.split(b"\n\n")[-2]
    assert last.startswith(b"event: response.failed\n")
    payload = json.loads(last.split(b"data: ", 1)[1])
    assert payload["response"]["status"] == "failed"
    assert payload["response"]["error"]["message"] == "boom"
    assert writer.closing(False) == b""


def test_the_sse_writer_fails_a_run_that_ends_without_a_finish() -> None:
    writer = ResponsesSse(ResponseBuilder("resp_abc", 1, "sonnet", {}))
    writer.opening()
    assert b"event: response.failed\n" in writer.closing(True)
