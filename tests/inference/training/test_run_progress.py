"""The time left printed on a training run's progress lines."""

from __future__ import annotations

from inference.training.run_progress import time_left


def test_time_left_follows_the_pace_so_far() -> None:
    assert time_left(10, 40, started=0.0, now=20.0) == "about 60 s left"
    assert time_left(1, 40, started=0.0, now=60.0) == "about 39 min left"
    assert time_left(5, 100, started=0.0, now=600.0) == "about 3.2 h left"


def test_time_left_is_silent_before_the_first_unit_and_after_the_last() -> None:
    assert time_left(0, 40, started=0.0, now=20.0) == ""
    assert time_left(40, 40, started=0.0, now=20.0) == ""
    assert time_left(3, 40, started=5.0, now=5.0) == ""
