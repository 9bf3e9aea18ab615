import logging

from cdss.core.request_context import request_id_var


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record so log lines can be joined to audit entries."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = request_id_var.get()
        return True
