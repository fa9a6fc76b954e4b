"""When a held monitor GET (or an event stream) tells the client about a new report."""

from __future__ import annotations

from graphdrive.api.routes.monitor import noticeably_changed

RUNNING = {"operation": "ItemCopy", "percentageComplete": 27.8, "status": "inProgress"}


def test_progress_of_less_than_a_point_is_not_worth_an_answer() -> None:
    assert not noticeably_changed(RUNNING, {**RUNNING, "percentageComplete": 28.7})
    assert not noticeably_changed(RUNNING, dict(RUNNING))


def test_a_whole_point_of_progress_is() -> None:
    assert noticeably_changed(RUNNING, {**RUNNING, "percentageComplete": 28.8})


def test_any_other_change_is_even_without_progress() -> None:
    finished = {**RUNNING, "status": "completed", "resourceId": "X"}
    assert noticeably_changed(RUNNING, finished)
    assert noticeably_changed(RUNNING, {**RUNNING, "status": "deletePending"})
    queued = {"operation": "ItemCopy", "percentageComplete": 0.0, "status": "notStarted"}
    assert noticeably_changed(queued, {**queued, "status": "inProgress"})
