"""Benchmarks for graphdrive: printed figures, never assertions.

``python -m bench`` (or ``make bench``) runs them all; see ``docs/performance.md``.

- :mod:`bench.copy_throughput` — folder copy rate and server peak RSS, beside a plain SQL
  ``INSERT … SELECT`` (:mod:`bench.baseline_sql`) and ``cp -r`` (:mod:`bench.baseline_cp`).
- :mod:`bench.copy_phases` — where a copy's time goes: its SQL, phase by phase.
- :mod:`bench.statement_overhead` — one small statement through graphdrive's database layer.
- :mod:`bench.accept_latency` — ``POST …/copy`` → 202 latency under 50 concurrent clients.
- :mod:`bench.monitor_throughput` — monitor ``GET`` requests per second.
- :mod:`bench.scale_out` — copy and monitor throughput on PostgreSQL beside SQLite, and many
  concurrent copies with 1 or 2 worker processes.
"""
