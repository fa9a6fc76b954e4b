"""One client, one copy at a time: ``POST …/copy`` until its monitor says ``completed``.

What a script copying files one by one waits for, in the embedded default
(``GRAPHDRIVE_WORKERS=1``): the accept, the worker's claim and copy, and the monitor's answer.
The client long-polls (``Prefer: wait=10``), as a client that wants the result at once would;
``--requests`` round trips of a one-file copy, then of a 100-item folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from bench.harness import Server, mint_token, percentile, say


@dataclass
class RoundTrips:
    what: str
    seconds: list[float]  # sorted

    def ms(self, p: float) -> float:
        return percentile(self.seconds, p) * 1000

    def describe(self) -> str:
        return (
            f"{self.what}: {len(self.seconds)} round trips, p50 {self.ms(50):.1f} ms, "
            f"p90 {self.ms(90):.1f} ms, p99 {self.ms(99):.1f} ms"
        )


def _sources(client: httpx.Client) -> tuple[str, str, str]:
    """A one-file source, a 100-item folder (10 folders of 9 files), and a destination."""
    file = client.put("/me/drive/root:/roundtrip.txt:/content", content=b"x" * 1024)
    file.raise_for_status()
    folder = client.post("/me/drive/root/children", json={"name": "tree", "folder": {}})
    folder.raise_for_status()
    for f in range(10):
        sub = client.put(
            f"/me/drive/items/{folder.json()['id']}:/d{f}/f0.txt:/content", content=b"y"
        )
        sub.raise_for_status()
        parent = sub.json()["parentReference"]["id"]
        for n in range(1, 9):
            client.put(
                f"/me/drive/items/{parent}:/f{n}.txt:/content", content=b"y"
            ).raise_for_status()
    dest = client.post("/me/drive/root/children", json={"name": "copies", "folder": {}})
    dest.raise_for_status()
    return file.json()["id"], folder.json()["id"], dest.json()["id"]


def _round_trips(client: httpx.Client, source: str, dest: str, count: int, tag: str) -> list[float]:
    seconds = []
    with httpx.Client(timeout=60) as monitor:
        for n in range(count):
            started = time.perf_counter()
            answer = client.post(
                f"/me/drive/items/{source}/copy",
                json={"parentReference": {"id": dest}, "name": f"{tag}-{n}"},
            )
            answer.raise_for_status()
            while True:
                report = monitor.get(answer.headers["Location"], headers={"Prefer": "wait=10"})
                status = report.json()["status"]
                if status == "completed":
                    break
                if status in ("failed", "cancelled"):
                    raise RuntimeError(f"the copy ended {status}: {report.text}")
            seconds.append(time.perf_counter() - started)
    return sorted(seconds)


def run(work: Path, *, requests: int) -> list[RoundTrips]:
    data = work / "roundtrip"
    token = mint_token(data)
    with Server(data, {"GRAPHDRIVE_WORKERS": "1"}) as server, server.client(token) as client:
        file, folder, dest = _sources(client)
        results = [
            RoundTrips("one file", _round_trips(client, file, dest, requests, "file")),
            RoundTrips("100-item folder", _round_trips(client, folder, dest, requests, "tree")),
        ]
    say("POST copy → monitor completed, one client, one copy at a time (Prefer: wait=10)")
    for result in results:
        say(f"  {result.describe()}")
    return results
