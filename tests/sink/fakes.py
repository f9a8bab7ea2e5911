"""Seams for the sink tests: a scripted PostHog behind ``httpx.MockTransport``."""

from __future__ import annotations

import gzip
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx
import orjson

__all__ = ["POISON", "Reply", "ScriptedPostHog"]

POISON = "poison"


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    status: int
    headers: dict[str, str] = field(default_factory=dict)
    text: str = ""


@dataclass
class ScriptedPostHog:
    """
    A capture endpoint for ``httpx.MockTransport``.

    Scripted replies (or exceptions to raise) are used first, in order; after that it
    answers like capture: 400 for an event whose distinct_id is ``poison`` (standing
    for whatever capture refuses that the sink cannot foresee), 413 over
    ``max_events``, otherwise 200.
    """

    script: list[Reply | Exception] = field(default_factory=list)
    max_events: int | None = None
    on_request: Callable[[ScriptedPostHog], None] | None = None
    requests: list[httpx.Request] = field(default_factory=list)
    bodies: list[dict[str, Any]] = field(default_factory=list)
    delivered: list[dict[str, Any]] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        body = orjson.loads(gzip.decompress(request.content))
        self.bodies.append(body)
        if self.on_request is not None:
            self.on_request(self)
        reply = self._reply(body["batch"])
        if isinstance(reply, Exception):
            raise reply
        if 200 <= reply.status < 300:
            self.delivered += body["batch"]
        return httpx.Response(reply.status, headers=reply.headers, text=reply.text)

    def _reply(self, batch: list[dict[str, Any]]) -> Reply | Exception:
        if self.script:
            return self.script.pop(0)
        if any(event["distinct_id"] == POISON for event in batch):
            return Reply(400, text="event refused")
        if self.max_events is not None and len(batch) > self.max_events:
            return Reply(413, text="payload too large")
        return Reply(200, text='{"status":1}')

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self))

    @property
    def sizes(self) -> list[int]:
        return [len(body["batch"]) for body in self.bodies]
