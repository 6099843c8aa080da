"""Who holds what across worker nodes (``GET /api/workers``, ops:read): the live worker nodes with their capacity,
labels, detector frames/s (measured at start, and served now), the cameras each holds under a lease, the cameras
nobody holds, and which node runs the singleton workers.

Owns this read-only route; it reads the membership and the leases from Redis at request time
(``sharpeyes.leases``) and never changes them. A non-admin sees the cameras of its jurisdiction subtree only (the
counts cover every camera).
"""

from __future__ import annotations

import logging
import time
from typing import Annotated, Any

import redis
from fastapi import APIRouter, Depends, HTTPException
from pydantic import BaseModel, Field

from api.auth import requires
from api.deps import ApiDeps
from identity.roles import Permission, Principal, Role
from sharpeyes.leases import CameraLeases, Membership, singleton_holder

log = logging.getLogger(__name__)


class WorkerNode(BaseModel):
    node_id: str = Field(description="The node's id (cluster.node_id, or <hostname>-<pid>).")
    capacity: int = Field(description="Most cameras the node takes.")
    labels: list[str] = Field(description="The node's labels; a camera pinned to a label runs on such a node.")
    detect_fps: float = Field(description="Detector frames/s the node measured at start (0: not measured yet).")
    detected_fps: float = Field(description="Frames/s its detector served over its last heartbeat interval.")
    frames_detected: int = Field(description="Frames run through its detector since it started.")
    started_at: float = Field(description="When the node started (Unix seconds).")
    heartbeat_expires_in_s: float = Field(description="Seconds until the node is counted dead without a heartbeat.")
    cameras_held: int = Field(description="Cameras the node holds a lease on (all of them, in or out of scope).")
    cameras: list[str] = Field(description="The cameras it holds that you see (your jurisdiction subtree).")
    singletons: bool = Field(description="The node runs the singleton workers now.")


class WorkersOut(BaseModel):
    nodes: list[WorkerNode] = Field(description="Live worker nodes, by id.")
    cameras_enabled: int = Field(description="Enabled cameras (all).")
    cameras_here: int = Field(description="Cameras this process samples itself (a single hub, `sharpeyes run` "
                              "without leases: all of them).")
    cameras_unheld: list[str] = Field(description="Enabled cameras you see that no live node holds and this process "
                                      "does not sample either: nobody looks at them now.")
    singletons: dict[str, Any] | None = Field(
        description="The holder of the singleton lock (node_id, token); null when no node holds it (a single hub, "
        "`sharpeyes run` without cluster.leases, runs them without the lock).")


def create_workers_router(deps: ApiDeps) -> APIRouter:
    """``GET /api/workers``."""
    registry, client, keys, supervisor = deps.registry, deps.redis, deps.keys, deps.supervisor
    membership, leases = Membership(client, keys), CameraLeases(client, keys)
    router = APIRouter()

    @router.get("/api/workers", response_model=WorkersOut, tags=["operations"],
                summary="Worker nodes, the cameras each holds, and who runs the singleton workers")
    def workers(principal: Annotated[Principal, Depends(requires(Permission.OPS_READ))]) -> WorkersOut:
        enabled = {c.id: c.jurisdiction_code for c in registry.cameras(enabled_only=True)}
        visible = {c for c, code in enabled.items() if principal.role is Role.ADMIN or principal.sees(code)}
        try:
            nodes = membership.alive_until()
            holders = leases.holders(enabled)
            singleton = singleton_holder(client, keys)
        except redis.RedisError as exc:
            raise HTTPException(503, f"event store unavailable: {exc}") from None
        now_ms = time.time() * 1000
        out = []
        for n, until in nodes:
            held = sorted(c for c, lease in holders.items() if lease.node_id == n.node_id)
            out.append(WorkerNode(
                node_id=n.node_id, capacity=n.capacity, labels=sorted(n.labels), detect_fps=n.detect_fps,
                detected_fps=n.detected_fps, frames_detected=n.frames_detected, started_at=n.started_at,
                heartbeat_expires_in_s=round(max(0.0, (until - now_ms) / 1000), 1), cameras_held=len(held),
                cameras=[c for c in held if c in visible],
                singletons=singleton is not None and singleton.node_id == n.node_id))
        live = {n.node_id for n, _ in nodes}
        here = {str(w["name"]).split(":", 1)[1] for w in (supervisor.status() if supervisor else [])
                if str(w["name"]).startswith("ingest:")}
        unheld = sorted(c for c in visible if c not in here and (c not in holders or holders[c].node_id not in live))
        return WorkersOut(nodes=out, cameras_enabled=len(enabled), cameras_here=len(here & set(enabled)),
                          cameras_unheld=unheld,
                          singletons=None if singleton is None else {"node_id": singleton.node_id,
                                                                     "token": singleton.token})

    return router
