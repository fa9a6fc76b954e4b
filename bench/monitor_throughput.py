"""Monitor ``GET`` throughput for a completed operation, 50 concurrent clients.

A fresh server (``GRAPHDRIVE_WORKERS=1``) copies one small file; once the copy is completed,
50 client tasks ``GET`` its monitor URL back to back (closed loop, loopback, no token).

httpx spends 2-4 ms of CPU per request here, so with httpx the load generator saturates before
the server does. The server's capacity is therefore measured with a minimal asyncio HTTP/1.1
client (:class:`bench.harness.RawClient`, 50 keep-alive connections); the httpx figure is
printed beside it. For scale, the same raw load against ``/healthz`` (no database, no hashing)
shows what the HTTP stack alone allows on this machine.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx

from bench.harness import Load, RawClient, Server, async_client, closed_loop, mint_token, say

WARMUP = 200


@dataclass
class MonitorResult:
    monitor: Load  # lightweight client: the server's capacity
    healthz: Load
    monitor_httpx: Load  # httpx.AsyncClient: what a Python client reaches


def completed_monitor(server: Server, token: str) -> str:
    with server.client(token) as client:
        uploaded = client.put("/me/drive/root:/bench-source.txt:/content", content=b"x" * 1024)
        uploaded.raise_for_status()
        answer = client.post(f"/me/drive/items/{uploaded.json()['id']}/copy", json={"name": "c"})
        answer.raise_for_status()
        monitor = answer.headers["Location"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            report = httpx.get(monitor, headers={"Prefer": "wait=5"}, timeout=30).json()
            if report["status"] == "completed":
                return str(monitor)
        raise RuntimeError(f"the copy did not complete: {report}")


async def _measure(
    server: Server, monitor: str, *, concurrency: int, requests: int, max_seconds: float
) -> MonitorResult:
    path = urlsplit(monitor).path
    common: dict[str, Any] = {
        "server_pid": server.pid,
        "concurrency": concurrency,
        "max_seconds": max_seconds,
    }

    async def raw_monitor(client: RawClient, _: int) -> Any:
        return await client.get(path)

    async def raw_healthz(client: RawClient, _: int) -> Any:
        return await client.get("/healthz")

    async def httpx_monitor(client: httpx.AsyncClient, _: int) -> Any:
        return await client.get(path)

    loads = []
    raw = RawClient(server.origin)
    try:
        for send in (raw_monitor, raw_healthz):
            await closed_loop(raw, send, total=WARMUP, **common)
            loads.append(await closed_loop(raw, send, total=requests, **common))
    finally:
        await raw.aclose()
    async with async_client(server.origin, None, concurrency) as client:
        await closed_loop(client, httpx_monitor, total=WARMUP, **common)
        loads.append(await closed_loop(client, httpx_monitor, total=requests, **common))
    return MonitorResult(*loads)


def run(work: Path, *, concurrency: int, requests: int, max_seconds: float) -> MonitorResult:
    data = work / "monitor"
    token = mint_token(data)
    with Server(data, {"GRAPHDRIVE_WORKERS": "1"}) as server:
        monitor = completed_monitor(server, token)
        result = asyncio.run(
            _measure(
                server, monitor, concurrency=concurrency, requests=requests, max_seconds=max_seconds
            )
        )
    say("monitor GET throughput (completed operation)")
    say(f"  monitor, raw asyncio client: {result.monitor.describe()}")
    say(f"  /healthz, raw asyncio client (HTTP stack only): {result.healthz.describe()}")
    say(f"  monitor, httpx.AsyncClient: {result.monitor_httpx.describe()}")
    return result
