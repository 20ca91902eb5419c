#!/usr/bin/env python3
"""A scriptable stand-in for the `claude` CLI, for fault cases the real CLI cannot produce.

Speaks the stream-json protocol as the CLI does over a long-lived process: answers the
`initialize` control request, acknowledges silent user lines (`shouldQuery: false`) with an
empty result, takes assistant lines into its history, and answers every other user line as
one turn, acting on a marker in its text:
  FAKE:crash    print init, then exit 3 without a result
  FAKE:crash_if_warm  crash like FAKE:crash when `initialize` came first (a warm process)
  FAKE:error    end the turn with an API error result (is_error, status 500); stay alive
  FAKE:garbage  print lines that are not JSON, then exit 0
  FAKE:hang     print init, then sleep until killed (ignores SIGINT and SIGTERM)
  FAKE:sleep:S  answer after S seconds
  FAKE:stall:S  send the first half of the answer, then the rest S seconds later (mid-stream)
  FAKE:crash_once:PATH  crash when PATH does not exist yet (creating it), else answer
  (none)        answer "fake says: <text>" as a well-formed stream-json run
`--version` prints 9.9.9. Every answered turn appends "<pid> <worker> <marker>" to
$FAKE_CLAUDE_LOG when set; every stdin line is appended to $FAKE_CLAUDE_STDIN_DIR/<pid>.jsonl
when set. It exits at stdin EOF.
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


def answer(text: str, stall_s: float = 0.0) -> None:
    reply = f"fake says: {text}"
    emit(
        {
            "type": "stream_event",
            "event": {"type": "message_start", "message": {"id": "m1", "model": "fake-model"}},
        }
    )
    for n, piece in enumerate((reply[: len(reply) // 2], reply[len(reply) // 2 :])):
        if n:
            time.sleep(stall_s)
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


def record_stdin(line: str) -> None:
    folder = os.environ.get("FAKE_CLAUDE_STDIN_DIR")
    if folder:
        with open(os.path.join(folder, f"{os.getpid()}.jsonl"), "a", encoding="utf-8") as handle:
            handle.write(line if line.endswith("\n") else line + "\n")


def silent_result() -> None:
    emit({"type": "result", "subtype": "success", "is_error": False, "num_turns": 0, "result": ""})


def control_response(request_id: str) -> None:
    response = {"subtype": "success", "request_id": request_id, "response": {"pid": os.getpid()}}
    emit({"type": "control_response", "response": response})


def turn(line: str, warm: bool) -> None:
    text = prompt_text(line)
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
    if name == "crash_if_warm" and warm:
        marker = "FAKE:crash"
    if name == "sleep":
        time.sleep(float(arg))
    if marker == "FAKE:crash":
        sys.stderr.write("fake crash: secret sk-ant-oat01-shouldnotleak\n")
        sys.exit(3)
    if marker == "FAKE:error":
        result = {"type": "result", "subtype": "success", "is_error": True}
        emit({**result, "api_error_status": 500, "result": "API Error: 500 fake failure"})
        return
    if marker == "FAKE:garbage":
        print("this is not json", flush=True)
        print("{half a json", flush=True)
        sys.exit(0)
    if marker == "FAKE:hang":
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        while True:
            time.sleep(60)
    answer(text, float(arg) if name == "stall" else 0.0)


def main() -> None:
    if "--version" in sys.argv:
        print("9.9.9 (Claude Code, fake)")
        return
    warm = False
    while line := sys.stdin.readline():
        record_stdin(line)
        if not line.strip():
            continue
        obj = json.loads(line)
        if obj.get("type") == "control_request":
            warm = warm or obj["request"].get("subtype") == "initialize"
            control_response(obj["request_id"])
        elif obj.get("type") == "user" and obj.get("shouldQuery") is False:
            silent_result()
        elif obj.get("type") == "user":
            turn(line, warm)


if __name__ == "__main__":
    main()
