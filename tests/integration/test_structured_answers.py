"""A JSON answer asked for, prose answered: both worker modes give the same clear 422 carrying
the model's text (never an empty success), and nothing retries it."""

from __future__ import annotations

import openai
import pytest
from openai.types.shared_params import ResponseFormatJSONSchema

from tests.mock_upstream import MockUpstream, echo_reply
from tests.stack import TOKEN, Stack

pytestmark = pytest.mark.stack
SCHEMA: ResponseFormatJSONSchema = {
    "type": "json_schema",
    "json_schema": {
        "name": "weather",
        "schema": {"type": "object", "properties": {"sky": {"type": "string"}}},
    },
}


@pytest.mark.parametrize(("kind", "upstream_calls"), [("api", 1), ("cli", 2)])
def test_prose_for_a_schema_is_a_422_with_the_text(
    stacks: dict[str, Stack], upstream: MockUpstream, kind: str, upstream_calls: int
) -> None:
    """The mock answers prose (no SCN:json marker); the CLI spends one turn of its own on
    enforcing the schema, and the SDK, told 422, does not retry (max_retries=2)."""
    client = openai.OpenAI(
        base_url=stacks[kind].base_url + "/v1", api_key=TOKEN, max_retries=2, timeout=60
    )
    before = len(upstream.message_requests())
    with pytest.raises(openai.UnprocessableEntityError) as caught:
        client.chat.completions.create(
            model="sonnet",
            messages=[{"role": "user", "content": "weather in Paris?"}],
            response_format=SCHEMA,
        )

    assert caught.value.status_code == 422
    assert caught.value.code == "output_invalid"
    # The model's last words: on the CLI, its answer to the CLI's own reminder of the schema.
    prose = echo_reply("weather in Paris?") if kind == "api" else echo_reply("")
    assert "it wrote: " + prose in caught.value.message
    assert len(upstream.message_requests()) - before == upstream_calls
