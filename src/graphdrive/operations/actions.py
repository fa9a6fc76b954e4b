"""What an action is, and the registry that maps action names to implementations."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

from sqlalchemy.ext.asyncio import AsyncConnection

from graphdrive.operations.context import JobContext
from graphdrive.operations.model import Operation


class Action(ABC):
    """One kind of long-running action (one module each, e.g. ``copy.py``)."""

    #: The name stored in ``operations.action``.
    name: ClassVar[str]
    #: The ``operation`` field of the asyncJobStatus report, e.g. ``ItemCopy``.
    operation: ClassVar[str]

    @abstractmethod
    async def run(self, ctx: JobContext, op: Operation) -> None:
        """Do (or resume, from ``op.checkpoint``) the work, committing progress as it goes
        through :meth:`JobContext.advance`, and finish with :meth:`JobContext.complete` in the
        same transaction that publishes the result. Raise
        :class:`~graphdrive.operations.model.ActionFailed` for permanent failures; any other
        exception is treated as transient and retried with backoff."""

    @abstractmethod
    async def cleanup(self, conn: AsyncConnection, op: Operation) -> None:
        """Remove every trace of partial work (idempotent); runs in the transaction that marks
        the operation failed or cancelled."""


class ActionRegistry:
    def __init__(self, *actions: Action) -> None:
        self._actions: dict[str, Action] = {}
        for action in actions:
            self.register(action)

    def register(self, action: Action) -> None:
        if action.name in self._actions:
            raise ValueError(f"action {action.name!r} is already registered")
        self._actions[action.name] = action

    def get(self, name: str) -> Action:
        try:
            return self._actions[name]
        except KeyError:
            raise LookupError(f"no action named {name!r} is registered") from None

    def operation_name(self, name: str) -> str:
        action = self._actions.get(name)
        return action.operation if action else name
