"""Settings of one service instance."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["ServiceSettings", "SESSION_COOKIE", "CSRF_HEADER"]

SESSION_COOKIE = "crossings_session"
CSRF_HEADER = "X-CSRF-Token"


@dataclass(frozen=True)
class ServiceSettings:
    """``people_detector``: ``"hog"`` (OpenCV's, the ``people`` extra) or a function taking an RGB
    PIL image and returning people boxes ``(x0, y0, x1, y1)``."""

    db_url: str = "sqlite:///crossings-service.db"
    session_hours: float = 12.0
    # Behind a TLS reverse proxy set secure cookies and trust its X-Forwarded-For.
    secure_cookies: bool = False
    trust_proxy: bool = False
    max_photo_bytes: int = 10 * 1024 * 1024
    login_failures_per_user: int = 5
    login_failures_per_address: int = 20
    login_window_s: int = 900
    people_detector: str | Callable | None = None
    # Layers, policy and signed-in sessions are reread from the database after this many seconds
    # (a publish, policy edit or sign-out in another worker applies within it).
    cache_ttl_s: float = 2.0

    def to_json(self) -> str:
        """The settings as JSON, for worker processes (a detector function cannot be passed)."""
        if callable(self.people_detector):
            raise ValueError("a people_detector function cannot be passed to worker processes")
        return json.dumps(dataclasses.asdict(self))

    @classmethod
    def from_json(cls, text: str) -> ServiceSettings:
        return cls(**json.loads(text))
