"""The append-only audit log: who did what, to what, when and from where."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable

from sqlalchemy.orm import Session

from crossings.service.models import AuditEntry
from crossings.service.policy import Principal

__all__ = ["record", "to_csv", "to_json"]


def record(
    session: Session, principal: Principal, action: str, target: str, address: str, **detail
) -> None:
    """Add an entry; it is written with the caller's transaction (nothing is logged on rollback)."""
    session.add(
        AuditEntry(
            username=principal.username or "(anonymous)",
            action=action,
            target=target,
            address=address,
            detail=detail,
        )
    )


def to_json(entry: AuditEntry) -> dict:
    return {
        "id": entry.id,
        "at": entry.at.isoformat(),
        "username": entry.username,
        "action": entry.action,
        "target": entry.target,
        "address": entry.address,
        "detail": entry.detail,
    }


def to_csv(entries: Iterable[AuditEntry]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(["id", "at", "username", "action", "target", "address", "detail"])
    for entry in entries:
        row = to_json(entry)
        writer.writerow(
            [row[k] for k in ("id", "at", "username", "action", "target", "address")]
            + [str(row["detail"])]
        )
    return buffer.getvalue()
