"""``POST …/copy`` → ``202 Accepted`` latency with 50 concurrent clients.

Each request copies one small file (a unique ``name`` each time, so no conflict), over loopback
with one minimal HTTP/1.1 client (``harness.RawClient``: httpx would cost the load generator more
CPU than the server spends) whose 50 tasks send back to back (closed loop). A warm-up opens
every connection first and is not counted. Two servers, each fresh:

- ``GRAPHDRIVE_WORKERS=1``: a worker runs the accepted copies meanwhile (each copy's plan,
  build and publish transactions compete with the accepts for SQLite's single writer);
- ``GRAPHDRIVE_WORKERS=0``: the API alone — the pure accept path.

An unloaded reference (1 client, back to back) shows the service time without queueing. In a
closed loop, latency ≈ concurrency / throughput, so p99 < 20 ms at 50 clients needs roughly
2,500+ accepts per second. Two paced runs (the 50 clients together offering half, then a
quarter of the throughput just measured) show the latency of a server that is busy but not
saturated.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.harness import Load, RawClient, Server, closed_loop, mint_token, say

WARMUP = 100
SEQUENTIAL = 200
PACED_FRACTIONS = (0.5, 0.25)  # the paced runs offer these shares of the saturated rate
PACED_SECONDS = 10.0


@dataclass
class AcceptResult:
    workers: int
    loaded: Load
    unloaded: Load
    paced: list[tuple[float, Load]]  # (share of the saturated rate, load)


def _prepare(server: Server, token: str) -> tuple[str, str]:
    """Upload one small file and create the destination folder; return their ids."""
    with server.client(token) as client:
        uploaded = client.put("/me/drive/root:/bench-source.txt:/content", content=b"x" * 1024)
        uploaded.raise_for_status()
        folder = client.post("/me/drive/root/children", json={"name": "copies", "folder": {}})
        folder.raise_for_status()
        return str(uploaded.json()["id"]), str(folder.json()["id"])


async def _measure(
    server: Server, token: str, *, concurrency: int, requests: int, max_seconds: float
) -> tuple[Load, Load, list[tuple[float, Load]]]:
    source_id, dest_id = _prepare(server, token)

    async def send(client: RawClient, index: int) -> Any:
        return await client.post_json(
            f"/v1.0/me/drive/items/{source_id}/copy",
            {"parentReference": {"id": dest_id}, "name": f"copy-{index}.txt"},
        )

    client = RawClient(server.origin, {"Authorization": f"Bearer {token}"})
    try:
        common: dict[str, Any] = {"server_pid": server.pid, "max_seconds": max_seconds}
        await closed_loop(client, send, concurrency=concurrency, total=WARMUP, **common)
        unloaded = await closed_loop(
            client, send, concurrency=1, total=SEQUENTIAL, first=WARMUP, **common
        )
        loaded = await closed_loop(
            client,
            send,
            concurrency=concurrency,
            total=requests,
            first=WARMUP + SEQUENTIAL,
            **common,
        )
        paced = []
        first = WARMUP + SEQUENTIAL + requests
        for fraction in PACED_FRACTIONS:
            pace = fraction * loaded.throughput
            total = min(requests, max(1, int(pace * PACED_SECONDS)))
            run = await closed_loop(
                client,
                send,
                concurrency=concurrency,
                total=total,
                first=first,
                pace=pace,
                **common,
            )
            paced.append((fraction, run))
            first += total
    finally:
        await client.aclose()
    return loaded, unloaded, paced


def run(work: Path, *, concurrency: int, requests: int, max_seconds: float) -> list[AcceptResult]:
    results = []
    for workers in (1, 0):
        data = work / f"accept-workers{workers}"
        token = mint_token(data)
        with Server(data, {"GRAPHDRIVE_WORKERS": str(workers)}) as server:
            loaded, unloaded, paced = asyncio.run(
                _measure(
                    server,
                    token,
                    concurrency=concurrency,
                    requests=requests,
                    max_seconds=max_seconds,
                )
            )
        say(f"POST copy → 202, GRAPHDRIVE_WORKERS={workers}")
        say(f"  1 client:   {unloaded.describe()}")
        say(f"  {concurrency} clients: {loaded.describe()}")
        for fraction, run in paced:
            say(
                f"  {concurrency} clients paced at {fraction:.0%} of that rate "
                f"({fraction * loaded.throughput:.0f}/s offered): {run.describe()}"
            )
        results.append(AcceptResult(workers, loaded, unloaded, paced))
    return results
