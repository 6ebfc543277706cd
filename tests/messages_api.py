"""A local HTTP server that speaks just enough of the Messages API for the real
anthropic SDK: it answers every request (POST /v1/messages, and the GETs of the
Message Batches API) from one queue of scripted replies, in order, and records
every request it received, so tests can assert what was sent.

It is strict, as the real API is (contract_problems): a request the real API
would refuse — an unknown top-level field, a schema keyword structured output
does not take, an object schema not closed, roles that do not alternate, a
conversation that does not end on the user, a cache breakpoint below the
model's minimum cacheable length or more than four of them — is answered with
the API's 400 invalid_request_error, and no scripted reply is used up.

Use the `messages_api` fixture (import it into the test module)::

    messages_api.enqueue(message_body('{"findings": []}'))
    messages_api.enqueue(error_body("rate_limit_error", "slow down"), status=429, headers={"retry-after": "1"})
"""

from __future__ import annotations

import json
import threading
from collections import deque
from collections.abc import Callable
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
    gate: threading.Event | None = None  # when given, answer only once it is set


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


# --- the contract: what the real Messages API refuses --------------------------

# Top-level fields of POST /v1/messages (the API answers any other with a 400).
MESSAGE_FIELDS = frozenset(
    {"model", "max_tokens", "messages", "system", "metadata", "stop_sequences", "stream", "temperature", "top_k",
     "top_p", "tools", "tool_choice", "thinking", "service_tier", "output_config", "container", "mcp_servers",
     "context_management", "inference_geo"}
)  # fmt: skip
# count_tokens takes the same request without max_tokens and the sampling fields.
COUNT_FIELDS = frozenset(
    {"model", "messages", "system", "tools", "tool_choice", "thinking", "output_config", "mcp_servers",
     "context_management"}
)  # fmt: skip
# What structured output's JSON schemas may say (the subset anthropic.transform_schema produces).
SCHEMA_KEYWORDS = frozenset(
    {"type", "enum", "const", "anyOf", "allOf", "$ref", "$defs", "description", "title", "properties",
     "additionalProperties", "required", "format", "items", "minItems", "default"}
)  # fmt: skip
SCHEMA_TYPES = frozenset({"object", "array", "string", "integer", "number", "boolean", "null"})
STRING_FORMATS = frozenset(
    {"date-time", "time", "date", "duration", "email", "hostname", "uri", "ipv4", "ipv6", "uuid"}
)
MAX_BREAKPOINTS = 4


def min_cacheable_tokens(model: str) -> int:
    """The shortest prefix a model caches, from Anthropic's docs (written out
    here again, not imported: the server is the contract, not the client)."""
    for prefix, tokens in (
        ("claude-haiku-4-5", 4096), ("claude-opus-4-5", 4096), ("claude-opus-4-6", 4096), ("claude-haiku", 2048),
        ("claude-3-haiku", 2048), ("claude-3-5-haiku", 2048), ("claude-opus-4-7", 2048), ("claude-sonnet-4-6", 2048),
    ):  # fmt: skip
        if model.startswith(prefix):
            return tokens
    return 1024


def tokens_of(text: str) -> int:
    """The server's token count: four characters a token."""
    return len(text) // 4


def contract_problems(path: str, body: Any) -> list[str]:
    """Why the real API would refuse this request; empty when it would take it."""
    if path.startswith("/v1/messages/batches") and path.rstrip("/") == "/v1/messages/batches":
        if not isinstance(body, dict) or set(body) != {"requests"}:
            return ["requests: Field required (and nothing else)"]
        found = []
        for index, item in enumerate(body["requests"]):
            if set(item) != {"custom_id", "params"}:
                found.append(f"requests.{index}: expected custom_id and params")
                continue
            found += [f"requests.{index}.params.{p}" for p in _message_problems(item["params"], MESSAGE_FIELDS)]
        return found
    if path == "/v1/messages/count_tokens":
        return _message_problems(body, COUNT_FIELDS, needs_max_tokens=False)
    if path == "/v1/messages":
        return _message_problems(body, MESSAGE_FIELDS)
    return []


def _message_problems(body: Any, fields: frozenset[str], needs_max_tokens: bool = True) -> list[str]:
    if not isinstance(body, dict):
        return ["the request body must be a JSON object"]
    found = [f"{name}: Extra inputs are not permitted" for name in sorted(set(body) - fields)]
    for name in ("model", "messages", *(["max_tokens"] if needs_max_tokens else [])):
        if name not in body:
            found.append(f"{name}: Field required")
    messages = body.get("messages") or []
    if "messages" in body and not messages:
        found.append("messages: at least one message is required")
    previous = None
    for index, message in enumerate(messages):
        role = message.get("role")
        if role not in ("user", "assistant"):
            found.append(f"messages.{index}.role: Input should be 'user' or 'assistant'")
        elif role == previous:
            found.append(f"messages: roles must alternate between 'user' and 'assistant' (messages.{index})")
        previous = role
    if messages and messages[0].get("role") != "user":
        found.append("messages: the first message must use the 'user' role")
    if messages and messages[-1].get("role") != "user" and "output_config" in body:
        found.append("messages: the conversation must end with a user message when structured output is requested")
    elif messages and messages[-1].get("role") != "user":
        found.append("messages: the final message must be a user message")
    found += _cache_problems(body)
    output_config = body.get("output_config")
    if output_config is not None:
        fmt = output_config.get("format") if isinstance(output_config, dict) else None
        if not isinstance(fmt, dict) or fmt.get("type") != "json_schema" or "schema" not in fmt:
            found.append("output_config.format: expected {type: json_schema, schema}")
        else:
            found += [f"output_config.format.schema{p}" for p in schema_problems(fmt["schema"])]
    return found


def _blocks(body: dict) -> list[dict]:
    """Every content block in prompt order: system, then each message's."""
    system = body.get("system")
    blocks = [{"type": "text", "text": system}] if isinstance(system, str) else list(system or [])
    for message in body.get("messages") or []:
        content = message.get("content")
        blocks += [{"type": "text", "text": content}] if isinstance(content, str) else list(content or [])
    return blocks


def _cache_problems(body: dict) -> list[str]:
    found, prefix, marks = [], 0, 0
    minimum = min_cacheable_tokens(str(body.get("model", "")))
    for block in _blocks(body):
        prefix += tokens_of(str(block.get("text", "")))
        control = block.get("cache_control")
        if control is None:
            continue
        marks += 1
        if control.get("type") != "ephemeral" or control.get("ttl", "5m") not in ("5m", "1h"):
            found.append("cache_control: expected {type: ephemeral, ttl: 5m | 1h}")
        if prefix < minimum:
            found.append(
                f"cache_control: the prompt up to this block is {prefix} tokens, below the minimum of {minimum} "
                f"tokens {body.get('model')} caches"
            )
    if marks > MAX_BREAKPOINTS:
        found.append(f"A maximum of {MAX_BREAKPOINTS} blocks with cache_control may be provided. Found {marks}.")
    return found


def schema_problems(schema: Any, where: str = "") -> list[str]:
    """Why structured output would refuse this JSON schema."""
    if not isinstance(schema, dict):
        return [f"{where}: a schema must be an object"]
    found = []
    kind = schema.get("type")
    for key in schema:
        if key not in SCHEMA_KEYWORDS:
            found.append(f"{where}: For '{kind}' type, property '{key}' is not supported")
    if kind is not None and kind not in SCHEMA_TYPES:
        found.append(f"{where}: type {kind!r} is not supported (one type per schema; use anyOf)")
    if kind == "object" and schema.get("additionalProperties") is not False:
        found.append(f"{where}: For 'object' type, 'additionalProperties' must be explicitly set to false")
    if "format" in schema and schema["format"] not in STRING_FORMATS:
        found.append(f"{where}: string format {schema['format']!r} is not supported")
    if schema.get("minItems") not in (None, 0, 1):
        found.append(f"{where}: For 'array' type, 'minItems' values other than 0 or 1 are not supported")
    for name, sub in (schema.get("properties") or {}).items():
        found += schema_problems(sub, f"{where}.properties.{name}")
    for name, sub in (schema.get("$defs") or {}).items():
        found += schema_problems(sub, f"{where}.$defs.{name}")
    if "items" in schema:
        found += schema_problems(schema["items"], f"{where}.items")
    for key in ("anyOf", "allOf"):
        for index, sub in enumerate(schema.get(key) or []):
            found += schema_problems(sub, f"{where}.{key}.{index}")
    return found


class MessagesAPI:
    """The server. `url` is its base URL; `requests` what it has received (the
    refused ones too); `refused` the 400s it answered for breaking the contract.
    `responder`, when given, answers any request the queue has no reply for
    (the bench's stand-in model)."""

    def __init__(self, responder: Callable[[Received], Reply] | None = None) -> None:
        self.responder = responder
        self.refused: list[tuple[Received, list[str]]] = []
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

    def enqueue(
        self,
        body: Any,
        *,
        status: int = 200,
        headers: dict[str, str] | None = None,
        delay: float = 0.0,
        gate: threading.Event | None = None,
    ):
        with self._lock:
            self._replies.append(Reply(body, status, headers or {}, delay, gate))

    def start(self) -> MessagesAPI:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def _next_reply(self, received: Received) -> Reply:
        problems = contract_problems(received.path.split("?")[0], received.body) if received.method == "POST" else []
        with self._lock:
            self.requests.append(received)
            if problems:
                self.refused.append((received, problems))
                return Reply(error_body("invalid_request_error", "; ".join(problems)), status=400)
            if self._replies:
                return self._replies.popleft()
        if self.responder is not None:
            return self.responder(received)
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
            while reply.gate is not None and not reply.gate.wait(0.05):
                if api._stopping.is_set():
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
