#!/usr/bin/env python3
"""A scriptable stand-in for the `claude` CLI, for fault cases the real CLI cannot produce.

Reads the first stream-json user line from stdin and acts on a marker in its text:
  FAKE:crash    print init, then exit 3 without a result
  FAKE:garbage  print lines that are not JSON, then exit 0
  FAKE:hang     print init, then sleep until killed (ignores SIGINT and SIGTERM)
  FAKE:sleep:S  answer after S seconds
  FAKE:crash_once:PATH  crash when PATH does not exist yet (creating it), else answer
  (none)        answer "fake says: <text>" as a well-formed stream-json run
Every run appends "<pid> <worker> <marker>" to $FAKE_CLAUDE_LOG when set.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import time


def emit(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def prompt_text(line: str) -> str:
    content = json.loads(line)["message"]["content"]
    if isinstance(content, str):
        return content
    return " ".join(block.get("text", "") for block in content if isinstance(block, dict))


def answer(text: str) -> None:
    reply = f"fake says: {text}"
    emit(
        {
            "type": "stream_event",
            "event": {"type": "message_start", "message": {"id": "m1", "model": "fake-model"}},
        }
    )
    for piece in (reply[: len(reply) // 2], reply[len(reply) // 2 :]):
        delta = {"type": "text_delta", "text": piece}
        emit({"type": "stream_event", "event": {"type": "content_block_delta", "delta": delta}})
    usage = {
        "input_tokens": 3,
        "output_tokens": 4,
        "cache_read_input_tokens": 0,
        "cache_creation_input_tokens": 0,
    }
    emit(
        {
            "type": "result",
            "subtype": "success",
            "is_error": False,
            "result": reply,
            "stop_reason": "end_turn",
            "usage": usage,
        }
    )


def main() -> None:
    line = sys.stdin.readline()
    text = prompt_text(line) if line.strip() else ""
    marker = next((word for word in text.split() if word.startswith("FAKE:")), "FAKE:echo")
    log = os.environ.get("FAKE_CLAUDE_LOG")
    if log:
        with open(log, "a", encoding="utf-8") as handle:
            handle.write(f"{os.getpid()} {os.environ.get('CCP_WORKER', '?')} {marker}\n")
    emit({"type": "system", "subtype": "init", "session_id": "fake"})
    name, _, arg = marker.partition(":")[2].partition(":")
    if name == "crash_once" and not os.path.exists(arg):
        open(arg, "w").close()
        marker = "FAKE:crash"
    if name == "sleep":
        time.sleep(float(arg))
    if marker == "FAKE:crash":
        sys.stderr.write("fake crash: secret sk-ant-oat01-shouldnotleak\n")
        sys.exit(3)
    if marker == "FAKE:garbage":
        print("this is not json")
        print("{half a json")
        return
    if marker == "FAKE:hang":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(60)
    answer(text)


if __name__ == "__main__":
    main()
