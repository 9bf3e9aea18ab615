"""Transactions that commit without waiting for PostgreSQL's WAL flush."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


@contextmanager
def atomic_without_flush_wait() -> Iterator[None]:
    """``transaction.atomic()`` whose commit does not wait for the WAL flush (PostgreSQL's
    ``synchronous_commit`` off for this transaction only).

    For writes that cost more in the flush wait than in their own work and whose loss in a
    crash of PostgreSQL itself within the flush delay (a fraction of a second) is tolerable:
    read audit entries, the analysis workflow's bookkeeping. The commit is visible at once and
    nothing is ever half-written. Nested inside a caller's transaction it is a savepoint and
    leaves the caller's durability alone; other databases ignore it.
    """
    outermost = not connection.in_atomic_block
    with transaction.atomic():
        if outermost and connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
        yield
