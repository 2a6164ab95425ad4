"""The append-only audit log: who did what, to what, when and from where."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Iterable

from sqlalchemy import insert
from sqlalchemy.orm import Session

from crossings.service.models import AuditEntry, utcnow
from crossings.service.policy import Principal

__all__ = ["record", "to_csv", "to_json", "ReadLog"]


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


class ReadLog:
    """Audit entries of reads, written in batches by one thread.

    Under load, a commit per read makes every request wait for SQLite's single writer. Reads are
    therefore queued here and written together every ``interval_s`` (and before anyone reads the
    log); writes (proposals, decisions, reports) stay in their own transaction.
    """

    def __init__(self, factory, interval_s: float = 0.25):
        self.factory = factory
        self.interval_s = interval_s
        self.pending: list[dict] = []
        self.lock = threading.Lock()
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, name="crossings-audit", daemon=True)
        self.thread.start()

    def add(self, principal: Principal, action: str, target: str, address: str, **detail) -> None:
        entry = dict(
            username=principal.username or "(anonymous)",
            action=action,
            target=target,
            address=address,
            detail=detail,
            at=utcnow(),
        )
        with self.lock:
            self.pending.append(entry)

    def flush(self) -> None:
        with self.lock:
            batch, self.pending = self.pending, []
        if batch:
            with self.factory() as session:
                # One executemany, not an ORM object per entry: under load there are thousands.
                session.execute(insert(AuditEntry), batch)
                session.commit()

    def _run(self) -> None:
        while not self.stopped.wait(self.interval_s):
            self.flush()

    def close(self) -> None:
        self.stopped.set()
        self.flush()


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
