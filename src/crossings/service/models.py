"""Tables of the service (SQLAlchemy 2). Geometry is stored as WKB in EPSG:4326 on every backend.

PostGIS adds a generated ``geom`` column and row-level security in the migration; the models stay
the same on both backends so that one test suite covers both.
"""

from __future__ import annotations

import datetime as dt
import secrets

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc)


def opaque_id() -> str:
    # Random, not sequential: ids a user cannot see must not be guessable by counting.
    return secrets.token_urlsafe(12)


class Base(DeclarativeBase):
    type_annotation_map = {dt.datetime: DateTime(timezone=True)}


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(128), default="")
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    grants: Mapped[list[Grant]] = relationship(
        back_populates="user", cascade="all, delete-orphan", lazy="selectin"
    )


class Grant(Base):
    """A role in one country with a set of verbs (space-separated)."""

    __tablename__ = "grants"
    __table_args__ = (UniqueConstraint("user_id", "role", "country"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(32))
    country: Mapped[str] = mapped_column(String(3))
    verbs: Mapped[str] = mapped_column(String(128))
    user: Mapped[User] = relationship(back_populates="grants")


class Session(Base):
    """A login. Only the SHA-256 of the opaque token is stored."""

    __tablename__ = "sessions"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    csrf_token: Mapped[str] = mapped_column(String(64))
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    expires: Mapped[dt.datetime]
    address: Mapped[str] = mapped_column(String(64), default="")
    user: Mapped[User] = relationship(lazy="joined")


class LoginFailure(Base):
    """Failed logins, counted per username and per address to rate-limit guessing."""

    __tablename__ = "login_failures"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    username: Mapped[str] = mapped_column(String(64), index=True)
    address: Mapped[str] = mapped_column(String(64), index=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)


class Policy(Base):
    """What a role sees of a layer's features of one sensitivity level, in and out of its countries.

    ``layer`` is a layer name or ``*`` (the default for every layer); treatments are ``exact``,
    ``generalised`` (to a grid of ``grid_km``) or ``withheld``.
    """

    __tablename__ = "policy"
    __table_args__ = (UniqueConstraint("layer", "sensitivity", "role"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    layer: Mapped[str] = mapped_column(String(128))
    sensitivity: Mapped[str] = mapped_column(String(16))
    role: Mapped[str] = mapped_column(String(32))
    in_country: Mapped[str] = mapped_column(String(16))
    elsewhere: Mapped[str] = mapped_column(String(16))
    grid_km: Mapped[float] = mapped_column(Float, default=10.0)


class Layer(Base):
    __tablename__ = "layers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(32), default="other")
    sensitivity: Mapped[str] = mapped_column(String(16), default="public")
    source_run: Mapped[str] = mapped_column(Text, default="")
    source_crs: Mapped[str] = mapped_column(Text, default="")
    # Property names that stay on generalised features; every other property is dropped.
    public_fields: Mapped[list] = mapped_column(JSON, default=list)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)


class RunTable(Base):
    """A table a run wrote (CSV), published whole: it has no coordinates to generalise."""

    __tablename__ = "run_tables"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    sensitivity: Mapped[str] = mapped_column(String(16), default="public")
    source_run: Mapped[str] = mapped_column(Text, default="")
    columns: Mapped[list] = mapped_column(JSON, default=list)
    rows: Mapped[list] = mapped_column(JSON, default=list)


class RasterLayer(Base):
    """A published raster (a current or difference map), kept whole in its own projected CRS.

    ``data`` is the float32 grid (NaN where NoData), zlib-compressed; tiles are rendered from it.
    ``country`` lists the countries it covers (``KAZ-UZB``), as the policy reads it.
    """

    __tablename__ = "rasters"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    title: Mapped[str] = mapped_column(String(255), default="")
    kind: Mapped[str] = mapped_column(String(32), default="current")
    sensitivity: Mapped[str] = mapped_column(String(16), default="restricted")
    country: Mapped[str] = mapped_column(String(64), default="")
    source_run: Mapped[str] = mapped_column(Text, default="")
    crs: Mapped[str] = mapped_column(Text)
    transform: Mapped[list] = mapped_column(JSON)  # affine a, b, c, d, e, f
    width: Mapped[int] = mapped_column(Integer)
    height: Mapped[int] = mapped_column(Integer)
    vmin: Mapped[float] = mapped_column(Float)
    vmax: Mapped[float] = mapped_column(Float)
    bounds: Mapped[list] = mapped_column(JSON)  # lon/lat west, south, east, north
    data: Mapped[bytes] = mapped_column(LargeBinary)
    version: Mapped[int] = mapped_column(Integer, default=1)
    created: Mapped[dt.datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class Feature(Base):
    __tablename__ = "features"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=opaque_id)
    layer_id: Mapped[int] = mapped_column(ForeignKey("layers.id", ondelete="CASCADE"), index=True)
    sensitivity: Mapped[str] = mapped_column(String(16))
    country: Mapped[str] = mapped_column(String(16), default="")
    fence_id: Mapped[str] = mapped_column(String(64), default="", index=True)
    properties: Mapped[dict] = mapped_column(JSON, default=dict)
    wkb: Mapped[bytes] = mapped_column(LargeBinary)
    minx: Mapped[float] = mapped_column(Float, index=True)
    miny: Mapped[float] = mapped_column(Float)
    maxx: Mapped[float] = mapped_column(Float)
    maxy: Mapped[float] = mapped_column(Float)


class Proposal(Base):
    """A proposed fence opening and its current status (history in ProposalEvent)."""

    __tablename__ = "proposals"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=opaque_id)
    fence_id: Mapped[str] = mapped_column(String(64), default="")
    country: Mapped[str] = mapped_column(String(3))
    sensitivity: Mapped[str] = mapped_column(String(16), default="restricted")
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(Text, default="")
    opening_type: Mapped[str] = mapped_column(String(64), default="")
    status: Mapped[str] = mapped_column(String(16), default="proposed")
    proposer_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    wkb: Mapped[bytes] = mapped_column(LargeBinary)
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    proposer: Mapped[User] = relationship(lazy="joined")
    events: Mapped[list[ProposalEvent]] = relationship(
        order_by="ProposalEvent.id", lazy="selectin", cascade="all, delete-orphan"
    )
    comments: Mapped[list[Comment]] = relationship(
        order_by="Comment.id", lazy="selectin", cascade="all, delete-orphan"
    )


class ProposalEvent(Base):
    __tablename__ = "proposal_events"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    note: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    actor: Mapped[User] = relationship(lazy="joined")


class Comment(Base):
    __tablename__ = "comments"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    proposal_id: Mapped[str] = mapped_column(ForeignKey("proposals.id", ondelete="CASCADE"))
    author_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    text: Mapped[str] = mapped_column(Text)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    author: Mapped[User] = relationship(lazy="joined")


class FieldReport(Base):
    __tablename__ = "field_reports"
    id: Mapped[str] = mapped_column(String(24), primary_key=True, default=opaque_id)
    # The phone's own id for a queued report: a report synced twice is stored once.
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    reporter_id: Mapped[int] = mapped_column(ForeignKey("users.id"))
    kind: Mapped[str] = mapped_column(String(16))
    species: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer)
    observed_at: Mapped[dt.datetime]
    lon: Mapped[float] = mapped_column(Float)
    lat: Mapped[float] = mapped_column(Float)
    country: Mapped[str] = mapped_column(String(3))
    fence_id: Mapped[str] = mapped_column(String(64), default="")
    opening_id: Mapped[str] = mapped_column(String(64), default="")
    note: Mapped[str] = mapped_column(Text, default="")
    sensitivity: Mapped[str] = mapped_column(String(16), default="restricted")
    photo: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    photo_type: Mapped[str] = mapped_column(String(32), default="")
    # Whether a people detector looked at the photo (and blurred what it found). A photo nobody
    # screened may show people: only its reporter sees it.
    photo_screened: Mapped[bool] = mapped_column(Boolean, default=False)
    people_blurred: Mapped[int] = mapped_column(Integer, default=0)
    created: Mapped[dt.datetime] = mapped_column(default=utcnow)
    reporter: Mapped[User] = relationship(lazy="joined")


class AuditEntry(Base):
    """Append-only: triggers in the migration refuse UPDATE and DELETE on both backends."""

    __tablename__ = "audit_log"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    at: Mapped[dt.datetime] = mapped_column(default=utcnow, index=True)
    username: Mapped[str] = mapped_column(String(64), default="")
    action: Mapped[str] = mapped_column(String(64))
    target: Mapped[str] = mapped_column(Text, default="")
    address: Mapped[str] = mapped_column(String(64), default="")
    detail: Mapped[dict] = mapped_column(JSON, default=dict)
