"""Baseline: ``cp -r`` of a file tree shaped like the seeded one, on the same disk.

The tree has exactly the seeded shape (:func:`graphdrive.devtools.seed.plan_tree`: the same
folders and files, same names, the same ~1 KB contents). It is created just before and
``sync``-ed, so the page cache is warm and the kernel is not still writing the tree out while
``cp -r`` runs; ``cp -r`` is timed as a user would run it (no ``sync`` afterwards; the
graphdrive copy, by contrast, commits durably). It runs at least :data:`MIN_RUNS` times and the
fastest run counts: on a shared disk a slow ``cp -r`` would flatter graphdrive's ratio.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from pathlib import Path

from graphdrive.devtools.seed import plan_tree


def build_tree(root: Path, total: int, *, fanout: int = 10, files_per_folder: int = 20) -> Path:
    """Create the seeded tree shape as real folders and small files under ``root``."""
    contents = [f"seed content {n}\n".encode() * 64 for n in range(4)]
    paths: list[Path] = []
    for index, parent, is_folder in plan_tree(total, fanout, files_per_folder):
        name = f"dir-{index}" if is_folder else f"file-{index}.txt"
        name = "Big" if index == 0 else name
        path = (root if parent is None else paths[parent]) / name
        paths.append(path)
        if is_folder:
            path.mkdir(parents=parent is None)
        else:
            path.write_bytes(contents[index % len(contents)])
    return paths[0]


MIN_RUNS = 3


def measure(work: Path, items: int, *, repeat: int = 1) -> dict[str, float]:
    """Items per second of ``cp -r`` for a tree of ``items`` items (best of at least
    :data:`MIN_RUNS` runs); ``slowest``: the slowest run's rate, to show the disk's noise."""
    base = work / "baseline-cp"
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(parents=True)
    try:
        started = time.perf_counter()
        source = build_tree(base / "src", items)
        created = time.perf_counter() - started
        runs = []
        for _ in range(max(repeat, MIN_RUNS)):
            shutil.rmtree(base / "dst", ignore_errors=True)
            os.sync()
            started = time.perf_counter()
            subprocess.run(["cp", "-r", str(source), str(base / "dst")], check=True)
            runs.append(time.perf_counter() - started)
        seconds = min(runs)
        return {
            "rate": items / seconds,
            "seconds": seconds,
            "create_seconds": created,
            "slowest": items / max(runs),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)
