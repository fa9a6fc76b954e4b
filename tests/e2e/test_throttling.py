"""Throttling that clients rely on: 429 + Retry-After once a user's request rate is exceeded."""

from __future__ import annotations

from typing import Any

import pytest

from .server import quick_token

pytestmark = pytest.mark.e2e


def test_rate_limit_answers_429_with_retry_after_per_user(spawn_server: Any) -> None:
    with spawn_server({"GRAPHDRIVE_RATE_LIMIT_PER_MINUTE": "5"}) as srv:
        alice = srv.client(quick_token(srv.data_dir, "alice"))
        bob = srv.client(quick_token(srv.data_dir, "bob"))
        statuses = [alice.get("/me/drive/root").status_code for _ in range(6)]
        assert statuses[:5] == [200] * 5
        assert statuses[5] == 429
        throttled = alice.get("/me/drive/root")
        assert throttled.status_code == 429
        assert int(throttled.headers["Retry-After"]) >= 1
        assert throttled.json()["error"]["code"] == "activityLimitReached"
        # Another user is not held back by alice's rate; health checks never are.
        assert bob.get("/me/drive/root").status_code == 200
        assert srv.client().get(f"{srv.origin}/healthz").status_code == 200
        alice.close()
        bob.close()


def test_throttling_is_off_by_default(server: Any, alice: Any) -> None:
    assert all(alice.get("/me/drive").status_code == 200 for _ in range(50))
