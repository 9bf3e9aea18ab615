"""Start-up checks of configuration: each names the environment variable that is wrong."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, Tags, register

from cdss.env import ENV


@register(Tags.security, deploy=False)
def environment_check(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    errors: list[CheckMessage] = [
        Error(problem.message, hint=f"Set {problem.variable} correctly.", id=problem.check_id)
        for problem in ENV.problems
    ]
    # Required when DEBUG is off: (value, problem, hint, check id).
    required_live = [
        (ENV.secret_key, "SECRET_KEY is required when DEBUG is off; there is no default.",
         "Set SECRET_KEY to a long random string.", "cdss.E001"),
        (settings.ALLOWED_HOSTS, "ALLOWED_HOSTS is empty while DEBUG is off.",
         "Set ALLOWED_HOSTS to a comma-separated list of host names.", "cdss.E005"),
    ]
    if not settings.DEBUG:
        errors.extend(Error(problem, hint=hint, id=check_id) for value, problem, hint, check_id in required_live if not value)
    if not settings.DICOMWEB_URL:
        errors.append(Error("DICOMWEB_URL is empty.", hint="Set DICOMWEB_URL.", id="cdss.E006"))
    return errors
