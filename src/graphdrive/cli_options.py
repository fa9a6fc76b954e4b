"""What every server-side command shares: the ``--data-dir`` option and settings loading."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from graphdrive.settings import Settings

DataDir = Annotated[
    Path | None,
    typer.Option("--data-dir", help="Where metadata and content live [env: GRAPHDRIVE_DATA_DIR]"),
]


def load_settings(**overrides: Any) -> Settings:
    """Environment settings with the CLI flags that were given laid over them."""
    given = {k: v for k, v in overrides.items() if v is not None}
    return Settings(**given)
