"""Settings of one service instance."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ServiceSettings", "SESSION_COOKIE", "CSRF_HEADER"]

SESSION_COOKIE = "crossings_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class ServiceSettings:
    """``people_detector`` takes an RGB PIL image and returns people boxes ``(x0, y0, x1, y1)``."""

    db_url: str = "sqlite:///crossings-service.db"
    session_hours: float = 12.0
    # Behind a TLS reverse proxy set secure cookies and trust its X-Forwarded-For.
    secure_cookies: bool = False
    trust_proxy: bool = False
    max_photo_bytes: int = 10 * 1024 * 1024
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window_s: int = 900
    people_detector: Callable | None = None
