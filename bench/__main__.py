"""Run graphdrive's benchmarks: ``python -m bench [--quick] [--sizes 10000,100000,1000000]``.

Figures are printed, never asserted: the machine may be shared, so compare the ratios measured
within one run rather than absolute numbers across runs. See ``docs/performance.md``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import (
    accept_latency,
    copy_phases,
    copy_throughput,
    hashing,
    monitor_throughput,
    roundtrip,
    scale_out,
    statement_overhead,
)
from bench.harness import Load, graphdrive_pragmas, machine, say, seed

BENCHMARKS = (
    "copy",
    "phases",
    "overhead",
    "accept",
    "roundtrip",
    "monitor",
    "hashing",
    "backends",
    "workers",
)
TARGET_SIZE = 100_000
RSS_SIZE = 1_000_000
POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"


def _sizes(text: str) -> list[int]:
    return [int(part.replace("_", "")) for part in text.split(",") if part.strip()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument(
        "--quick", action="store_true", help="fast subset: 10k copy, fewer requests"
    )
    parser.add_argument(
        "--sizes",
        type=_sizes,
        default=None,
        help="tree sizes for the copy benchmark (default 10000,100000; 1000000 is opt-in)",
    )
    parser.add_argument(
        "--only",
        default=",".join(BENCHMARKS),
        help=f"comma-separated subset of {','.join(BENCHMARKS)} (default: all)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="copy, phases, backends, workers: run each copy, baseline, variant and topology N "
        "times, keep the best (1)",
    )
    parser.add_argument("--concurrency", type=int, default=50, help="concurrent clients (50)")
    parser.add_argument(
        "--requests", type=int, default=None, help="POST copy requests per server (2000)"
    )
    parser.add_argument(
        "--monitor-requests", type=int, default=None, help="monitor GET requests (5000)"
    )
    parser.add_argument(
        "--max-seconds", type=float, default=None, help="time bound of each load run (60)"
    )
    parser.add_argument(
        "--cp-max-items",
        type=int,
        default=TARGET_SIZE,
        help="largest tree also copied with cp -r (default 100000: 1M files is ~4 GB)",
    )
    parser.add_argument(
        "--no-variants", action="store_true", help="phases: only the configured copy SQL"
    )
    parser.add_argument(
        "--phases-size",
        type=int,
        default=None,
        help="tree size for phases and overhead (default: the largest --sizes entry ≤ 100000)",
    )
    parser.add_argument(
        "--postgres-url",
        default=os.environ.get("GRAPHDRIVE_BENCH_POSTGRES_URL", POSTGRES_URL),
        help="backends, workers: a PostgreSQL database to connect to for creating and dropping "
        f"scratch databases bench_<random> (env GRAPHDRIVE_BENCH_POSTGRES_URL; {POSTGRES_URL})",
    )
    parser.add_argument(
        "--many-copies", type=int, default=None, help="workers: copies started at once (32)"
    )
    parser.add_argument(
        "--many-tree", type=int, default=None, help="workers: items in each copied tree (2500)"
    )
    parser.add_argument("--work-dir", type=Path, default=None, help="scratch dir (a new tmp dir)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch dir")
    parser.add_argument("--json", type=Path, default=None, help="also write raw results here")
    args = parser.parse_args(argv)
    quick = args.quick
    args.sizes = args.sizes or ([10_000] if quick else [10_000, TARGET_SIZE])
    args.requests = args.requests or (500 if quick else 2000)
    args.monitor_requests = args.monitor_requests or (2000 if quick else 5000)
    args.max_seconds = args.max_seconds or (20.0 if quick else 60.0)
    args.many_copies = args.many_copies or (16 if quick else 32)
    args.many_tree = args.many_tree or (1000 if quick else 2500)
    args.only = [name.strip() for name in args.only.split(",") if name.strip()]
    unknown = set(args.only) - set(BENCHMARKS)
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(sorted(unknown))}")
    return args


def _verdict(met: bool | None) -> str:
    return "not run" if met is None else ("MET" if met else "NOT MET")


def _summary(results: dict[str, Any], concurrency: int) -> None:
    say("\n== summary ==")
    copies: list[copy_throughput.CopyResult] = results.get("copy", [])
    if copies:
        say(
            f"{'items':>10} {'copy items/s':>13} {'SQL bare/s':>11} {'SQL idx/s':>10} "
            f"{'cp -r/s':>9} {'copy/SQLb':>9} {'copy/SQLi':>9} {'copy/cp':>8} {'peak RSS':>9}"
        )
        for r in copies:
            cp_rate = "n/a" if math.isnan(r.cp_rate) else f"{r.cp_rate:,.0f}"
            say(
                f"{r.items:>10,} {r.client_rate:>13,.0f} {r.sql_bare_rate:>11,.0f} "
                f"{r.sql_indexed_rate:>10,.0f} {cp_rate:>9} {r.vs_sql_bare:>9.0%} "
                f"{r.vs_sql_indexed:>9.0%} {copy_throughput.ratio(r.vs_cp):>8} "
                f"{r.peak_rss_mb:>6.0f} MB"
            )
    at_target = next((r for r in copies if r.items == TARGET_SIZE), None)
    at_rss = next((r for r in copies if r.items == RSS_SIZE), None)
    say("targets:")
    if "copy" not in results:
        pass
    elif at_target:
        bare, indexed, cp = at_target.vs_sql_bare, at_target.vs_sql_indexed, at_target.vs_cp
        say(
            f"  100k copy ≥ 30% of plain SQL INSERT…SELECT: {bare:.0%} of bare "
            f"({_verdict(bare >= 0.3)}), {indexed:.0%} of indexed ({_verdict(indexed >= 0.3)})"
        )
        verdict = _verdict(None if math.isnan(cp) else cp >= 5)
        say(f"  100k copy ≥ 5x cp -r: {copy_throughput.ratio(cp)} ({verdict})")
    else:
        say("  100k copy ratios: not run (add 100000 to --sizes)")
    if "copy" not in results:
        pass
    elif at_rss:
        say(
            f"  1M copy peak server RSS < 300 MB: {at_rss.peak_rss_mb:.0f} MB "
            f"({_verdict(at_rss.peak_rss_mb < 300)})"
        )
    else:
        say("  1M copy peak server RSS < 300 MB: not run (opt in: --sizes 10000,100000,1000000)")
    for accepted in results.get("accept", []):
        p99 = accepted.loaded.ms(99)
        say(
            f"  POST copy → 202 p99 < 20 ms, {concurrency} clients, "
            f"GRAPHDRIVE_WORKERS={accepted.workers}: {p99:.1f} ms ({_verdict(p99 < 20)})"
        )
        for fraction, run in accepted.paced:
            say(
                f"    paced, {concurrency} clients offering {fraction:.0%} of the saturated "
                f"rate ({fraction * accepted.loaded.throughput:.0f}/s): p99 {run.ms(99):.1f} ms"
            )
    for trips in results.get("roundtrip", []):
        say(f"  POST copy → completed, one client (no target), {trips.describe()}")
    if "monitor" in results:
        monitor = results["monitor"]
        say(
            f"  monitor GET, {concurrency} clients (no target): {monitor.monitor.throughput:.0f}"
            f" requests/s (raw client), {monitor.monitor_httpx.throughput:.0f}/s (httpx)"
        )
    if "phases" in results:
        configured = next(iter(results["phases"].values()))
        top = sorted(
            ((k, v) for k, v in configured.items() if k not in ("total", "items")),
            key=lambda kv: -kv[1],
        )[:3]
        shares = ", ".join(f"{k} {v / configured['total']:.0%}" for k, v in top)
        say(f"copy SQL as configured, largest shares: {shares}")
    if results.get("backends") or results.get("workers"):
        scale_out.summarize(results.get("backends", {}), results.get("workers", []))
    if "overhead" in results:
        o = results["overhead"]
        say(
            f"one point lookup: sqlite3 {o.sqlite3_ms:.3f} ms, graphdrive unit of work "
            f"{o.unit_of_work_ms:.3f} ms ({o.unit_of_work_ms / o.sqlite3_ms:.0f}x), glance "
            f"{o.glance_ms:.3f} ms ({o.glance_ms / o.sqlite3_ms:.0f}x)"
        )


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        data = {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in (
            "client_rate",
            "server_rate",
            "vs_sql_bare",
            "vs_sql_indexed",
            "vs_cp",
            "rate",
        ):
            if hasattr(value, name):
                data[name] = getattr(value, name)
        if isinstance(value, Load):
            data["latencies"] = None
            data.update(
                count=value.count,
                throughput=value.throughput,
                p50_ms=value.ms(50),
                p95_ms=value.ms(95),
                p99_ms=value.ms(99),
                max_ms=value.ms(100),
            )
        return data
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    work = args.work_dir or Path(tempfile.mkdtemp(prefix="graphdrive-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    host = machine()
    say(f"graphdrive benchmarks, {time.strftime('%Y-%m-%d %H:%M %Z')}")
    say(f"machine: {host.describe()}")
    say(f"scratch: {work}")
    results: dict[str, Any] = {"machine": host, "date": time.strftime("%Y-%m-%d")}
    started = time.perf_counter()
    try:
        if "copy" in args.only:
            results["copy"] = copy_throughput.run(
                work, args.sizes, cp_max_items=args.cp_max_items, repeat=args.repeat
            )
        if "phases" in args.only or "overhead" in args.only:
            pragmas = graphdrive_pragmas(work / "pragmas.db")
            size = args.phases_size or max(
                [s for s in args.sizes if s <= TARGET_SIZE] or [TARGET_SIZE]
            )
            seeded = work / f"copy-{size}" / "graphdrive.db"
            if seeded.exists():
                source_id = _source_id(seeded)
            else:
                say(f"(seeding {size:,} items)")
                source_id = seed(seeded.parent, size)["id"]
            if "phases" in args.only:
                say(f"copy SQL phases, {size:,} items (stdlib sqlite3, same PRAGMAs)")
                results["phases"] = copy_phases.run(
                    work,
                    seeded,
                    source_id,
                    pragmas,
                    variants=not args.no_variants,
                    repeat=args.repeat,
                )
            if "overhead" in args.only:
                results["overhead"] = statement_overhead.run(seeded, pragmas)
        if "accept" in args.only:
            results["accept"] = accept_latency.run(
                work,
                concurrency=args.concurrency,
                requests=args.requests,
                max_seconds=args.max_seconds,
            )
        if "roundtrip" in args.only:
            results["roundtrip"] = roundtrip.run(work, requests=100 if args.quick else 300)
        if "monitor" in args.only:
            results["monitor"] = monitor_throughput.run(
                work,
                concurrency=args.concurrency,
                requests=args.monitor_requests,
                max_seconds=args.max_seconds,
            )
        if "hashing" in args.only:
            results["hashing"] = hashing.run()
        if "backends" in args.only:
            results["backends"] = scale_out.run_backends(
                work,
                args.sizes,
                admin_url=args.postgres_url,
                concurrency=args.concurrency,
                requests=args.monitor_requests,
                max_seconds=args.max_seconds,
                repeat=args.repeat,
            )
        if "workers" in args.only:
            results["workers"] = scale_out.run_workers(
                work,
                admin_url=args.postgres_url,
                copies=args.many_copies,
                tree=args.many_tree,
                repeat=args.repeat,
            )
        _summary(results, args.concurrency)
        say(f"(all benchmarks: {time.perf_counter() - started:.0f} s)")
        if args.json:
            args.json.write_text(json.dumps(_jsonable(results), indent=2, default=str))
    finally:
        if args.keep:
            say(f"scratch kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


def _source_id(db: Path) -> str:
    """The id of the seeded top folder ("Big") in a seeded database."""
    conn = sqlite3.connect(db)
    try:
        row = conn.execute("SELECT id FROM items WHERE name = 'Big' LIMIT 1").fetchone()
    finally:
        conn.close()
    return str(row[0])


if __name__ == "__main__":
    main()
