"""Comprehensive-governance centers (综治中心) over HTTP: the list, a center's archived events, and its live events
as Server-Sent Events read from the center's Redis stream.

Scope: the list holds the centers of the principal's jurisdiction subtree; a center outside it answers 404 like
one that does not exist (its events and its stream). Owns only HTTP concerns; centers are the registry's
jurisdictions that host one, streams are named by :class:`sharpeyes.keys.Keys`. Reads; writes nothing.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, Header, HTTPException, Query
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from api.auth import authenticated
from api.deps import ApiDeps
from api.events import EventPage, EventQuery, Reader
from events.publisher import decode_entry
from identity.roles import Principal

log = logging.getLogger(__name__)

TIER_BY_LEN = {6: "county", 9: "township", 12: "village", 15: "grid"}


class Center(BaseModel):
    code: str = Field(description="Civil code of the jurisdiction node hosting the center.")
    name: str
    tier: str = Field(description="county, township, village or grid")
    jurisdiction: str = Field(description="Name of the jurisdiction node.")
    parent_code: str | None
    synthetic: bool = Field(description="True for demo/test nodes that are not real statistical codes.")
    stream: str = Field(description="Redis stream key of this center's events.")


def _sse(client: redis.Redis, stream: str, start: str, heartbeat_s: float) -> Iterator[bytes]:
    """The entries of ``stream`` after ``start`` as Server-Sent Events, a comment every ``heartbeat_s`` idle."""
    last = start
    # a blocking XREAD must return before the client's socket timeout, or an idle stream reads as a Redis error
    timeout = client.connection_pool.connection_kwargs.get("socket_timeout")
    block_s = heartbeat_s if not timeout else max(0.1, min(heartbeat_s, float(timeout) - 1.0))
    idle_since = time.monotonic()
    yield b": connected\n\n"
    while True:
        try:
            resp: Any = client.xread({stream: last}, count=100, block=int(block_s * 1000))
        except redis.RedisError as exc:
            yield f"event: error\ndata: {json.dumps(str(exc))}\n\n".encode()
            time.sleep(heartbeat_s)
            continue
        if not resp:
            if time.monotonic() - idle_since >= heartbeat_s - 0.05:
                yield b": keep-alive\n\n"
                idle_since = time.monotonic()
            continue
        idle_since = time.monotonic()
        for _name, entries in resp:
            for entry_id, fields in entries:
                last = entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
                try:
                    ev = decode_entry(fields)
                except ValueError:
                    continue
                yield f"id: {last}\nevent: {ev.type.value}\ndata: {ev.to_json()}\n\n".encode()


def create_centers_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/centers``, ``GET /api/centers/{code}/events`` and ``GET /api/centers/{code}/events/stream``."""
    registry, client, keys, archive = deps.registry, deps.redis, deps.keys, deps.archive
    router = APIRouter()

    def center(code: str, principal: Principal) -> None:
        node = registry.get_jurisdiction(code)
        if node is None or not node.has_center or not principal.sees(code):
            raise HTTPException(404, f"no center at {code}")

    @router.get("/api/centers", response_model=list[Center],
                summary="Comprehensive-governance centers (综治中心) of your jurisdiction")
    def centers(principal: Annotated[Principal, Depends(authenticated)]) -> list[Center]:
        return [
            Center(code=j.code, name=j.center_name, tier=TIER_BY_LEN.get(len(j.code), j.level), jurisdiction=j.name,
                   parent_code=j.parent_code, synthetic=j.synthetic, stream=keys.center_stream(j.code))
            for j in registry.centers() if principal.sees(j.code)
        ]

    @router.get("/api/centers/{code}/events", response_model=EventPage, summary="A center's events, newest first")
    def center_events(code: str, principal: Reader, query: Annotated[EventQuery, Depends()]) -> EventPage:
        center(code, principal)
        return query.page(archive, center=code)

    @router.get("/api/centers/{code}/events/stream", summary="Live events of a center (Server-Sent Events)")
    def center_stream(
        code: str,
        principal: Reader,
        heartbeat_s: Annotated[float, Query(gt=0, le=60)] = 15.0,
        last_event_id: Annotated[str | None, Header(pattern=r"^\d+-\d+$",
                                                    description="Resume after this stream entry id")] = None,
    ) -> StreamingResponse:
        center(code, principal)
        stream = keys.center_stream(code)
        if last_event_id is None:
            # pin "now" to a concrete entry id before answering, so nothing added after the client connected is
            # missed (with "$", entries added before the first XREAD would be)
            try:
                newest: Any = client.xrevrange(stream, count=1)
            except redis.RedisError as exc:
                raise HTTPException(503, f"event store unavailable: {exc}") from None
            start = newest[0][0].decode() if newest else "0-0"
        else:
            start = last_event_id
        return StreamingResponse(_sse(client, stream, start, heartbeat_s), media_type="text/event-stream",
                                 headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})

    return router
