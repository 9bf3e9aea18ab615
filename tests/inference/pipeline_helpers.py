"""Run the analysis workflow in-process, message by message, for unit tests."""

from __future__ import annotations

from collections import deque
from typing import Any

from django.test import TestCase

from inference.analysis.services import Message, analysis_advance, analysis_step_execute


class InlineBroker:
    """Collects workflow messages; ``drain`` delivers them one at a time, like a worker would."""

    def __init__(self, runner: Any = None) -> None:
        self.queue: deque[Message] = deque()
        self.delivered: list[Message] = []
        self.runner = runner

    def __call__(self, messages: list[Message]) -> None:
        self.queue.extend(messages)

    def deliver(self, message: Message) -> None:
        self.delivered.append(message)
        what, object_id, _ = message
        # Tests run inside a transaction: run on-commit hooks as a real commit would.
        with TestCase.captureOnCommitCallbacks(execute=True):
            if what == "advance":
                analysis_advance(request_id=object_id, dispatch=self)
            else:
                analysis_step_execute(step_id=object_id, dispatch=self, runner=self.runner)

    def drain(self, limit: int = 200) -> None:
        for _ in range(limit):
            if not self.queue:
                return
            self.deliver(self.queue.popleft())
        raise AssertionError("workflow did not settle")
