"""Copy batch sizing: about a quarter second of work per batch, within bounds."""

from __future__ import annotations

from graphdrive.operations.copy import BatchSizer


def test_a_configured_size_is_used_as_it_is() -> None:
    sizer = BatchSizer(250)
    sizer.observe(250, 0.001)
    assert sizer.size == 250


def test_fast_batches_grow_at_most_fourfold_per_step_up_to_the_cap() -> None:
    sizer = BatchSizer(None)
    assert sizer.size == BatchSizer.START
    sizer.observe(sizer.size, 0.01)  # 200k items/s wants 50k items per batch
    assert sizer.size == BatchSizer.START * 4
    for _ in range(5):
        sizer.observe(sizer.size, 0.01)
    assert sizer.size == BatchSizer.LARGEST


def test_slow_batches_shrink_to_the_target_but_not_below_the_floor() -> None:
    sizer = BatchSizer(None)
    sizer.observe(2_000, 1.0)  # 2k items/s: 500 items is a quarter second
    assert sizer.size == 500
    sizer.observe(500, 10.0)
    assert sizer.size == BatchSizer.SMALLEST
