"""Incremental parsing of server-sent events as TGI and OpenAI-style servers send them.

Bytes arrive in arbitrary chunks: an event may be split anywhere, even inside a UTF-8
character or between `\\r` and `\\n`. TGI writes `data:{json}` (no space), OpenAI-style
routes write `data: {json}` and end with `data: [DONE]`; an error during generation is a
`data:` event whose JSON has an `error` key while the HTTP status stays 200.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class StreamEvent:
    """One parsed `data:` event: a token, the final answer, an error, or the end marker."""

    text: str = ""
    token: bool = False
    final_text: str | None = None
    error: str | None = None
    error_type: str | None = None
    done: bool = False
    generated_tokens: int | None = None


#: The largest event the parser keeps: a token event is a few hundred bytes, a final one a few KiB.
MAX_EVENT_BYTES = 1 << 20


class SseParser:
    """Feed bytes, get complete events; keeps what is left over for the next chunk."""

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []
        self._pending = 0  # bytes in _data, so a multi-line event is capped as a whole

    def feed(self, chunk: bytes) -> list[StreamEvent]:
        self._buffer += chunk
        if len(self._buffer) + self._pending > MAX_EVENT_BYTES:
            # No TGI or OpenAI event comes near this: a server streaming an endless line is cut here.
            self._buffer, self._data, self._pending = b"", [], 0
            return [StreamEvent(error=f"event larger than {MAX_EVENT_BYTES} bytes", error_type="protocol")]
        events: list[StreamEvent] = []
        while True:
            line, sep, rest = _split_line(self._buffer)
            if not sep:
                break
            self._buffer = rest
            text = line.decode("utf-8", errors="replace")
            if text == "":
                if self._data:
                    events.append(parse_data("\n".join(self._data)))
                    self._data, self._pending = [], 0
            elif text.startswith(":"):
                continue  # comment / keep-alive
            elif text.startswith("data:"):
                value = text[5:]
                self._data.append(value[1:] if value.startswith(" ") else value)
                self._pending += len(line)
        return events

    def close(self) -> list[StreamEvent]:
        """Events still pending when the stream ends without a final blank line."""
        events = self.feed(b"\n\n") if self._buffer or self._data else []
        self._buffer = b""
        return events


def _split_line(buffer: bytes) -> tuple[bytes, bool, bytes]:
    found = [i for i in (buffer.find(b"\n"), buffer.find(b"\r")) if i >= 0]
    if not found:
        return b"", False, buffer
    i = min(found)
    if buffer[i] == 0x0A:
        return buffer[:i], True, buffer[i + 1 :]
    if i + 1 == len(buffer):
        return b"", False, buffer  # wait: the \n of a \r\n may be in the next chunk
    skip = 2 if buffer[i + 1] == 0x0A else 1
    return buffer[:i], True, buffer[i + skip :]


def parse_data(data: str) -> StreamEvent:
    if data.strip() == "[DONE]":
        return StreamEvent(done=True)
    try:
        payload: Any = json.loads(data)
    except (json.JSONDecodeError, RecursionError):
        return StreamEvent(error=f"unparseable event: {data[:80]!r}", error_type="protocol")
    if not isinstance(payload, dict):
        return StreamEvent(error="event is not a JSON object", error_type="protocol")
    if "error" in payload:
        error = payload["error"]
        message = error.get("message", str(error)) if isinstance(error, dict) else str(error)
        return StreamEvent(error=message, error_type=str(payload.get("error_type") or "generation"))
    try:
        return _openai_chunk(payload) if "choices" in payload else _tgi_event(payload)
    except (AttributeError, TypeError, IndexError, KeyError):
        # A field of the wrong type ("token": "x", "choices": [1]): the server does not speak the protocol.
        return StreamEvent(error="event has the wrong shape", error_type="protocol")


def _openai_chunk(payload: dict[str, Any]) -> StreamEvent:
    choices = payload.get("choices") or [{}]
    delta = choices[0].get("delta") or {}
    usage = payload.get("usage") or {}
    # Chat chunks carry delta.content, completion chunks (/v1/completions) carry text.
    content = delta.get("content") if "delta" in choices[0] else choices[0].get("text")
    return StreamEvent(text=str(content or ""), token=bool(content), generated_tokens=usage.get("completion_tokens"))


def _tgi_event(payload: dict[str, Any]) -> StreamEvent:
    token = payload.get("token") or {}
    details = payload.get("details") or {}
    text = "" if token.get("special") else str(token.get("text", ""))
    final = payload.get("generated_text")
    return StreamEvent(
        text=text,
        token=bool(token) and not token.get("special"),
        final_text=str(final) if final is not None else None,
        done=final is not None,
        generated_tokens=details.get("generated_tokens"),
    )
