"""A local HTTP server that speaks just enough of the Messages API for the real
anthropic SDK: it answers every request (POST /v1/messages, and the GETs of the
Message Batches API) from one queue of scripted replies, in order, and records
every request it received, so tests can assert what was sent.

Use the `messages_api` fixture (import it into the test module)::

    messages_api.enqueue(message_body('{"findings": []}'))
    messages_api.enqueue(error_body("rate_limit_error", "slow down"), status=429, headers={"retry-after": "1"})
"""

from __future__ import annotations

import json
import threading
from collections import deque
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest


@dataclass
class Reply:
    body: Any  # a dict is sent as JSON; str or bytes as they are
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds to wait before answering, to provoke timeouts


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]  # names lowercased
    body: Any  # parsed JSON, or the raw text when it was not JSON


def message_body(
    text: str,
    *,
    input_tokens: int = 100,
    output_tokens: int = 20,
    cache_creation_input_tokens: int = 0,
    cache_read_input_tokens: int = 0,
    cache_creation: dict[str, int] | None = None,
    model: str = "claude-haiku-4-5",
    stop_reason: str = "end_turn",
) -> dict[str, Any]:
    """A successful Messages API reply with one text block. `cache_creation`, when
    given, splits the cache writes by lifetime as the API does:
    {"ephemeral_5m_input_tokens": n, "ephemeral_1h_input_tokens": m}."""
    usage: dict[str, Any] = {
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cache_creation_input_tokens": cache_creation_input_tokens,
        "cache_read_input_tokens": cache_read_input_tokens,
    }
    if cache_creation is not None:
        usage["cache_creation"] = cache_creation
    return {
        "id": "msg_test",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [{"type": "text", "text": text}],
        "stop_reason": stop_reason,
        "stop_sequence": None,
        "usage": usage,
    }


def error_body(error_type: str, message: str) -> dict[str, Any]:
    """An error reply as the Messages API shapes it."""
    return {"type": "error", "error": {"type": error_type, "message": message}}


class MessagesAPI:
    """The server. `url` is its base URL; `requests` what it has received."""

    def __init__(self) -> None:
        self._replies: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self.requests: list[Received] = []
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        # A handler still sleeping out a delay must not hold up teardown.
        self._server.block_on_close = False
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def enqueue(self, body: Any, *, status: int = 200, headers: dict[str, str] | None = None, delay: float = 0.0):
        with self._lock:
            self._replies.append(Reply(body, status, headers or {}, delay))

    def start(self) -> MessagesAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, received: Received) -> Reply:
        with self._lock:
            self.requests.append(received)
            if self._replies:
                return self._replies.popleft()
        # A 400 is not retried, so a test that under-scripts fails at once and says why.
        return Reply(error_body("invalid_request_error", "messages_api: no scripted reply left"), status=400)


def _handler_for(api: MessagesAPI) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
            self._answer("POST")

        def do_GET(self) -> None:  # noqa: N802
            self._answer("GET")

        def _answer(self, method: str) -> None:
            length = int(self.headers.get("content-length") or 0)
            raw = self.rfile.read(length).decode()
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw
            headers = {name.lower(): value for name, value in self.headers.items()}
            reply = api._next_reply(Received(method, self.path, headers, body))
            if reply.delay and api._stopping.wait(reply.delay):
                return
            payload = reply.body
            if isinstance(payload, dict | list):
                payload = json.dumps(payload)
            if isinstance(payload, str):
                payload = payload.encode()
            try:
                self.send_response(reply.status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(payload)))
                self.send_header("request-id", f"req_test_{len(api.requests)}")
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(payload)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client gave up waiting (a timeout test)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass  # keep test output quiet

    return Handler


@pytest.fixture
def messages_api():
    """A started MessagesAPI on 127.0.0.1 with a free port, stopped after the test."""
    api = MessagesAPI().start()
    yield api
    api.stop()


def batch_body(batch_id: str, status: str = "in_progress", *, results_url: str | None = None) -> dict[str, Any]:
    """A Message Batch as create and retrieve return it; `results_url` once ended."""
    return {
        "id": batch_id,
        "type": "message_batch",
        "processing_status": status,
        "request_counts": {"processing": 0, "succeeded": 0, "errored": 0, "canceled": 0, "expired": 0},
        "created_at": "2026-11-25T10:00:00Z",
        "expires_at": "2026-11-26T10:00:00Z",
        "ended_at": "2026-11-25T11:00:00Z" if status == "ended" else None,
        "cancel_initiated_at": None,
        "archived_at": None,
        "results_url": results_url,
    }


def batch_results_body(results: dict[str, dict[str, Any]]) -> str:
    """The JSONL results file: custom id → a message_body() (succeeded), an
    error_body() (errored), or {"type": "expired"} / {"type": "canceled"}."""
    lines = []
    for custom_id, body in results.items():
        if body.get("type") == "message":
            result = {"type": "succeeded", "message": body}
        elif body.get("type") == "error":
            result = {"type": "errored", "error": body}
        else:
            result = body
        lines.append(json.dumps({"custom_id": custom_id, "result": result}))
    return "\n".join(lines) + "\n"
