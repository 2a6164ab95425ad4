"""The FastAPI application: API routes, the map and the phone page.

Every route asks the policy what the caller may see or do; nothing is filtered only in the
browser. Reads of restricted or confidential data and every write go to the audit log.
"""

import contextlib
import dataclasses
import datetime as dt
import functools
import hmac
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Literal

from fastapi import (
    Depends,
    FastAPI,
    File,
    Form,
    HTTPException,
    Query,
    Request,
    Response,
    UploadFile,
)
from fastapi import Path as PathPart
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, PlainTextResponse
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel, Field
from shapely import Point
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from crossings.errors import ConfigError
from crossings.service import audit, auth
from crossings.service.cache import (
    CachedView,
    Catalogue,
    SessionCache,
    ThreadLRU,
    ViewCache,
    etag_matches,
    policy_view,
    viewer,
)
from crossings.service.db import grants_setting, open_database
from crossings.service.models import (
    AuditEntry,
    Comment,
    Feature,
    FieldReport,
    Layer,
    LoginFailure,
    Policy,
    Proposal,
    ProposalEvent,
    RasterLayer,
    RunTable,
    User,
)
from crossings.service.models import Session as LoginSession
from crossings.service.people import people_detector
from crossings.service.photos import clean_photo
from crossings.service.policy import ROLES, Grant, PolicyTable, Principal
from crossings.service.rasters import raster_view, render_tile
from crossings.service.settings import CSRF_HEADER, SESSION_COOKIE, ServiceSettings
from crossings.service.views import exact_feature, layer_view

__all__ = ["create_app", "app_from_environment"]

STATIC = Path(__file__).parent / "static"
LOCALE = Path(__file__).parent / "locale"
Country = Literal["KAZ", "KGZ", "TJK", "TKM", "UZB"]
ANONYMOUS = Principal()
VARY = "Accept-Encoding, Authorization, Cookie"
SETTINGS_ENV = "CROSSINGS_SERVICE_SETTINGS"


class Credentials(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=256)


class NewProposal(BaseModel):
    title: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    country: Country
    fence_id: str = Field(default="", max_length=64)
    opening_type: str = Field(default="", max_length=64)
    lon: float = Field(ge=-180, le=180)
    lat: float = Field(ge=-90, le=90)


class NewComment(BaseModel):
    text: str = Field(min_length=1, max_length=5000)


Level = Literal["public", "restricted", "confidential"]
Role = Literal[ROLES]
TreatmentName = Literal["exact", "generalised", "withheld"]


class PolicyRow(BaseModel):
    layer: str = Field(min_length=1, max_length=128, pattern=r"^[\w.*-]+$")
    sensitivity: Level
    role: Role
    in_country: TreatmentName
    elsewhere: TreatmentName
    grid_km: float = Field(default=10.0, gt=0, le=1000)


class Decision(BaseModel):
    decision: Literal["approve", "reject"]
    note: str = Field(default="", max_length=5000)


def app_from_environment() -> FastAPI:
    """The app of one worker process of ``crossings serve --workers N``."""
    return create_app(ServiceSettings.from_json(os.environ[SETTINGS_ENV]))


def create_app(settings: ServiceSettings | None = None) -> FastAPI:
    """Build the app over the database in ``settings.db_url`` (migrated on start)."""
    settings = settings or ServiceSettings()
    factory = open_database(settings.db_url)
    limit = auth.RateLimit(
        settings.login_failures_per_user,
        settings.login_failures_per_address,
        settings.login_window_s,
    )
    detector = people_detector(settings.people_detector)
    reads = audit.ReadLog(factory)
    views, tiles, raster_views = ViewCache(), ViewCache(max_entries=4096), ThreadLRU()
    publications = Catalogue(factory, [views, tiles, raster_views], settings.cache_ttl_s)
    sessions = SessionCache(settings.cache_ttl_s)

    @contextlib.asynccontextmanager
    async def lifespan(_app):
        yield
        reads.close()  # the last reads reach the audit log before the process ends

    app = FastAPI(
        title="crossings service",
        version="1",
        docs_url="/api/docs",
        redoc_url=None,
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.factory = factory
    app.state.views = views
    app.state.tiles = tiles
    app.state.publications = publications
    app.state.sessions = sessions
    app.state.reads = reads

    def address(request: Request) -> str:
        forwarded = request.headers.get("x-forwarded-for") if settings.trust_proxy else None
        if forwarded:
            return forwarded.split(",")[0].strip()[:64]
        return request.client.host if request.client else ""

    def database(request: Request) -> Iterator[Session]:
        with factory() as session:
            yield session

    def principal(request: Request, db: Annotated[Session, Depends(database)]) -> Principal:
        token, via_cookie = _presented_token(request)
        who, _ = _principal_for(db, token, via_cookie) if token else (ANONYMOUS, 0.0)
        # End the lookup's transaction: the next one begins with the caller's grants (RLS).
        db.rollback()
        db.info["grants"] = grants_setting(who)
        return who

    def signed_in(request: Request, who: Annotated[Principal, Depends(principal)]) -> Principal:
        if not who.authenticated:
            raise HTTPException(401, "sign in first", headers={"WWW-Authenticate": "Bearer"})
        return who

    async def writer(request: Request, who: Annotated[Principal, Depends(signed_in)]) -> Principal:
        """A signed-in caller who may change things; cookie-borne requests need the CSRF token."""
        if who.via_cookie:
            sent = request.headers.get(CSRF_HEADER, "")
            if not sent and request.headers.get("content-type", "").startswith(
                ("multipart/form-data", "application/x-www-form-urlencoded")
            ):
                sent = str((await request.form()).get("csrf_token", ""))
            if not hmac.compare_digest(sent.encode(), who.csrf_token.encode()):
                raise HTTPException(403, "missing or wrong CSRF token")
        return who

    DB = Annotated[Session, Depends(database)]
    Who = Annotated[Principal, Depends(principal)]
    SignedIn = Annotated[Principal, Depends(signed_in)]
    Writer = Annotated[Principal, Depends(writer)]

    def policy(db: Session) -> PolicyTable:
        # Reread at most every cache_ttl_s: an edited policy row applies within that time.
        return publications.get().policy

    async def caller(request: Request) -> Principal:
        """The caller of a hot read: a token checked in the database, then remembered briefly."""
        token, via_cookie = _presented_token(request)
        if not token:
            return ANONYMOUS
        digest = auth.token_digest(token)
        who = sessions.get(digest)
        if who is None:
            who, seconds_left = await run_in_threadpool(lookup_principal, token, via_cookie)
            sessions.put(digest, who, seconds_left)
        return dataclasses.replace(who, via_cookie=via_cookie)

    def lookup_principal(token: str, via_cookie: bool) -> tuple[Principal, float]:
        with factory() as db:
            return _principal_for(db, token, via_cookie)

    def build_view(layer: Layer, table: PolicyTable, view, box=None, fence_id=None) -> CachedView:
        """The layer as ``view`` may see it, built for the policy view alone (not the user)."""
        who = viewer(view)
        with factory() as db:
            db.info["grants"] = grants_setting(who)
            built = layer_view(db, table, who, layer, bbox=box, fence_id=fence_id)
        return CachedView.of(built.geojson, built.levels, built.treatments)

    # ---- sessions -------------------------------------------------------------------------
    @app.post("/api/login", tags=["session"])
    def login(credentials: Credentials, request: Request, response: Response, db: DB) -> dict:
        """Sign in; a new session is made every time (a token sent with the request is revoked)."""
        now = dt.datetime.now(dt.timezone.utc)
        where = address(request)
        since = limit.since(now)
        for_user = db.scalar(
            select(func.count()).where(
                LoginFailure.username == credentials.username, LoginFailure.at >= since
            )
        )
        from_address = db.scalar(
            select(func.count()).where(LoginFailure.address == where, LoginFailure.at >= since)
        )
        if limit.blocked(for_user, from_address):
            raise HTTPException(
                429,
                "too many failed sign-ins; wait and try again",
                headers={"Retry-After": str(limit.window.seconds)},
            )
        user = db.scalar(select(User).where(User.username == credentials.username))
        ok = auth.verify_password(user.password_hash if user else None, credentials.password)
        if not ok or not user.active:
            db.add(LoginFailure(username=credentials.username, address=where))
            audit.record(db, ANONYMOUS, "login_failed", credentials.username, where)
            db.commit()
            raise HTTPException(401, "wrong user name or password")
        old, _ = _presented_token(request)
        if old:
            sessions.forget(digest=auth.token_digest(old))
            db.execute(
                delete(LoginSession).where(LoginSession.token_hash == auth.token_digest(old))
            )
        db.execute(delete(LoginFailure).where(LoginFailure.username == user.username))
        token, csrf = auth.new_token(), auth.new_token()
        db.add(
            LoginSession(
                token_hash=auth.token_digest(token),
                csrf_token=csrf,
                user_id=user.id,
                expires=now + dt.timedelta(hours=settings.session_hours),
                address=where,
            )
        )
        audit.record(db, Principal(user.id, user.username), "login", user.username, where)
        db.commit()
        response.set_cookie(
            SESSION_COOKIE,
            token,
            httponly=True,
            samesite="strict",
            secure=settings.secure_cookies,
            max_age=int(settings.session_hours * 3600),
            path="/",
        )
        return {"token": token, "csrf_token": csrf, "user": _user_json(user)}

    @app.post("/api/logout", tags=["session"])
    def logout(request: Request, response: Response, who: Writer, db: DB) -> dict:
        db.execute(delete(LoginSession).where(LoginSession.id == who.session_id))
        sessions.forget(session_id=who.session_id)
        audit.record(db, who, "logout", who.username, address(request))
        db.commit()
        response.delete_cookie(SESSION_COOKIE, path="/")
        return {"signed_out": True}

    @app.get("/api/me", tags=["session"])
    def me(who: SignedIn, db: DB) -> dict:
        return {**_user_json(db.get(User, who.user_id)), "csrf_token": who.csrf_token}

    # ---- layers ---------------------------------------------------------------------------
    @app.get("/api/layers", tags=["layers"])
    def layers(db: DB) -> list[dict]:
        return [
            {"name": layer.name, "title": layer.title, "kind": layer.kind}
            for layer in db.scalars(select(Layer).order_by(Layer.name))
        ]

    @app.get("/api/layers/{name}/features", tags=["layers"])
    async def features(
        name: Annotated[str, Field(max_length=128)],
        request: Request,
        bbox: Annotated[
            str | None,
            Query(max_length=200, description="minlon,minlat,maxlon,maxlat (EPSG:4326)"),
        ] = None,
        fence_id: Annotated[str | None, Query(max_length=64)] = None,
    ) -> Response:
        """The layer as GeoJSON, as much of it as the caller may see (ETag; 304 if unchanged).

        The whole layer comes from memory, cached per policy view; a filtered one is built.
        """
        return await layer_response(request, name, bbox, fence_id)

    async def layer_response(request: Request, name: str, bbox=None, fence_id=None) -> Response:
        who, published = await caller(request), await current_publications()
        layer = published.layers.get(name)
        if layer is None:
            raise HTTPException(404, f"no layer named {name!r}")
        box = _parse_bbox(bbox)
        table, view = published.policy, policy_view(who)
        if box is None and fence_id is None:
            key = (layer.name, layer.id, layer.version, published.fingerprint, view)
            built = await views.get(key, lambda: run_in_threadpool(build_view, layer, table, view))
        else:
            built = await run_in_threadpool(build_view, layer, table, view, box, fence_id)
        if built.levels - {"public"}:
            reads.add(
                who,
                "read_layer",
                layer.name,
                address(request),
                levels=sorted(built.levels),
                treatments=built.treatments,
            )
        return _view_response(built, request)

    async def current_publications():
        if publications.stale:
            return await run_in_threadpool(publications.reload)
        return publications.current

    def raster_treatment(published, who: Principal, name: str):
        raster = published.rasters.get(name)
        if raster is None:
            return None, None
        treatment = published.policy.treatment(
            viewer(policy_view(who)), raster.name, raster.sensitivity, raster.country
        )
        return (None, None) if treatment.name == "withheld" else (raster, treatment)

    @app.get("/api/rasters", tags=["layers"])
    async def rasters(request: Request) -> list[dict]:
        """The current maps the caller may see, with their tile URL and treatment."""
        who, published = await caller(request), await current_publications()
        out = []
        for name in sorted(published.rasters):
            raster, treatment = raster_treatment(published, who, name)
            if raster is not None:
                out.append(
                    {
                        "name": raster.name,
                        "title": raster.title,
                        "kind": raster.kind,
                        "treatment": treatment.name,
                        "grid_km": treatment.grid_km or None,
                        "bounds": raster.bounds,
                        "range": [raster.vmin, raster.vmax],
                        "tiles": f"/api/rasters/{raster.name}/tiles/{{z}}/{{x}}/{{y}}.png",
                    }
                )
        return out

    @app.get("/api/rasters/{name}/tiles/{z}/{x}/{y}.png", tags=["layers"])
    async def raster_tile(
        name: Annotated[str, PathPart(max_length=128)],
        z: Annotated[int, PathPart(ge=0, le=18)],
        x: Annotated[int, PathPart(ge=0)],
        y: Annotated[int, PathPart(ge=0)],
        request: Request,
    ) -> Response:
        """One XYZ tile (PNG): exact, or from the map coarsened to the policy's grid; 404 if
        withheld, exactly as for a raster that does not exist."""
        who, published = await caller(request), await current_publications()
        raster, treatment = raster_treatment(published, who, name)
        if raster is None or x >= 2**z or y >= 2**z:
            raise HTTPException(404, "no such raster tile")
        grid_km = treatment.grid_km if treatment.name == "generalised" else 0.0
        key = (raster.name, raster.id, raster.version, grid_km, z, x, y)
        view = policy_view(who)
        tile = await tiles.get(
            key, lambda: run_in_threadpool(build_tile, raster, view, grid_km, z, x, y)
        )
        if raster.sensitivity != "public":
            reads.add(
                who, "read_tile", f"{raster.name}/{z}/{x}/{y}", address(request),
                treatment=treatment.name,
            )  # fmt: skip
        headers = {"ETag": tile.etag, "Cache-Control": "private, no-cache", "Vary": VARY}
        if etag_matches(request.headers.get("if-none-match"), tile.etag):
            return Response(status_code=304, headers=headers)
        return Response(tile.body, media_type="image/png", headers=headers)

    def build_tile(raster: RasterLayer, view, grid_km: float, z: int, x: int, y: int):
        def load() -> object:
            # The pixels are read with the caller's grants: on PostGIS, row-level security too.
            with factory() as db:
                db.info["grants"] = grants_setting(viewer(view))
                row = db.get(RasterLayer, raster.id)
                if row is None:
                    raise HTTPException(404, "no such raster tile")
                return raster_view(row, grid_km)

        key = (raster.name, raster.id, raster.version, grid_km)
        mercator = raster_views.get_or_build(key, load)
        return CachedView.of(render_tile(mercator, z, x, y), frozenset(), {}, zip_it=False)

    @app.get("/api/features/{feature_id}", tags=["layers"])
    def feature(
        feature_id: Annotated[str, Field(max_length=64)], request: Request, who: Who, db: DB
    ) -> dict:
        """One feature, only to callers who may see it exactly (anyone else gets the same 404)."""
        found = exact_feature(db, policy(db), who, feature_id)
        if found is None:
            raise HTTPException(404, "no such feature")
        body, layer, level = found
        if level != "public":
            audit.record(db, who, "read_feature", f"{layer.name}/{feature_id}", address(request))
            db.commit()
        return body

    @app.get("/api/tables/{name}", tags=["layers"])
    def run_table(
        name: Annotated[str, Field(max_length=128)], request: Request, who: Who, db: DB
    ) -> dict:
        """A published table: whole where the policy gives the caller exact data, else 404."""
        table = db.scalar(select(RunTable).where(RunTable.name == name))
        if table is None or policy(db).treatment(who, name, table.sensitivity, "").name != "exact":
            raise HTTPException(404, "no such table")
        if table.sensitivity != "public":
            audit.record(db, who, "read_table", name, address(request))
            db.commit()
        return {"name": table.name, "columns": table.columns, "rows": table.rows}

    @app.get("/api/segments/{fence_id}", tags=["layers"])
    def segment(
        fence_id: Annotated[str, Field(max_length=64)], request: Request, who: Who, db: DB
    ) -> dict:
        """Everything the caller may see about one fence segment, from every layer."""
        table = policy(db)
        found, levels = {}, set()
        for layer in db.scalars(select(Layer).order_by(Layer.name)):
            view = layer_view(db, table, who, layer, fence_id=fence_id)
            body = json.loads(view.geojson)
            if body["features"]:
                found[layer.name] = [f["properties"] for f in body["features"]]
                levels |= view.levels
        proposals = [
            _proposal_json(p, table, who, brief=True)
            for p in db.scalars(select(Proposal).where(Proposal.fence_id == fence_id))
            if _proposal_visible(p, table, who)
        ]
        tables = {}
        # A table row about a segment lies in the segment's countries.
        where = (
            db.scalar(select(Feature.country).where(Feature.fence_id == fence_id).limit(1)) or ""
        )
        for run_table in db.scalars(select(RunTable)):
            if "fence_id" not in run_table.columns:
                continue
            if table.treatment(who, run_table.name, run_table.sensitivity, where).name != "exact":
                continue
            column = run_table.columns.index("fence_id")
            rows = [r for r in run_table.rows if len(r) > column and r[column] == fence_id]
            if rows:
                tables[run_table.name] = [
                    dict(zip(run_table.columns, r, strict=False)) for r in rows
                ]
                levels.add(run_table.sensitivity)
        on_fence = db.scalars(select(FieldReport).where(FieldReport.fence_id == fence_id)).all()
        treatments = [_report_treatment(r, table, who).name for r in on_fence]
        reports = sum(t != "withheld" for t in treatments)
        # Per opening, only reports the caller sees exactly: elsewhere a report's fence and
        # opening are hidden, so they must not come back as counts either.
        exact_reports = [r for r, t in zip(on_fence, treatments, strict=True) if t == "exact"]
        openings = _evidence_by_opening(found, tables, exact_reports)
        if levels - {"public"} or proposals or exact_reports:
            audit.record(db, who, "read_segment", fence_id, address(request))
            db.commit()
        return {
            "fence_id": fence_id,
            "layers": found,
            "tables": tables,
            "proposals": proposals,
            "field_reports": reports,
            "openings": openings,
        }

    # ---- proposals ------------------------------------------------------------------------
    @app.get("/api/proposals", tags=["workflow"])
    def proposals(request: Request, who: SignedIn, db: DB) -> list[dict]:
        table = policy(db)
        visible = [
            p
            for p in db.scalars(select(Proposal).order_by(Proposal.created))
            if _proposal_visible(p, table, who)
        ]
        if visible:
            audit.record(db, who, "read_proposals", f"{len(visible)} proposals", address(request))
            db.commit()
        return [_proposal_json(p, table, who, brief=True) for p in visible]

    @app.post("/api/proposals", status_code=201, tags=["workflow"])
    def propose(body: NewProposal, request: Request, who: Writer, db: DB) -> dict:
        roles = who.roles_for("propose", body.country)
        if not roles & {"nature_agency", "scientist"}:
            raise HTTPException(
                403,
                f"proposing openings in {body.country} needs the 'propose' verb "
                "as nature_agency or scientist there",
            )
        point = Point(body.lon, body.lat)
        proposal = Proposal(
            title=body.title,
            description=body.description,
            country=body.country,
            fence_id=body.fence_id,
            opening_type=body.opening_type,
            proposer_id=who.user_id,
            wkb=point.wkb,
            lon=body.lon,
            lat=body.lat,
        )
        db.add(proposal)
        db.flush()
        db.add(ProposalEvent(proposal_id=proposal.id, status="proposed", actor_id=who.user_id))
        audit.record(db, who, "propose", proposal.id, address(request), country=body.country)
        db.commit()
        db.refresh(proposal)
        return _proposal_json(proposal, policy(db), who)

    def visible_proposal(db: Session, who: Principal, proposal_id: str) -> Proposal:
        proposal = db.get(Proposal, proposal_id)
        if proposal is None or not _proposal_visible(proposal, policy(db), who):
            raise HTTPException(404, "no such proposal")
        return proposal

    @app.get("/api/proposals/{proposal_id}", tags=["workflow"])
    def proposal(
        proposal_id: Annotated[str, Field(max_length=64)], request: Request, who: SignedIn, db: DB
    ) -> dict:
        found = visible_proposal(db, who, proposal_id)
        audit.record(db, who, "read_proposal", proposal_id, address(request))
        db.commit()
        return _proposal_json(found, policy(db), who)

    @app.post("/api/proposals/{proposal_id}/comments", status_code=201, tags=["workflow"])
    def comment(
        proposal_id: Annotated[str, Field(max_length=64)],
        body: NewComment,
        request: Request,
        who: Writer,
        db: DB,
    ) -> dict:
        found = visible_proposal(db, who, proposal_id)
        if not who.can("comment", found.country):
            raise HTTPException(403, f"commenting needs the 'comment' verb in {found.country}")
        db.add(Comment(proposal_id=found.id, author_id=who.user_id, text=body.text))
        audit.record(db, who, "comment", found.id, address(request))
        db.commit()
        db.refresh(found)
        return _proposal_json(found, policy(db), who)

    @app.post("/api/proposals/{proposal_id}/decision", tags=["workflow"])
    def decide(
        proposal_id: Annotated[str, Field(max_length=64)],
        body: Decision,
        request: Request,
        who: Writer,
        db: DB,
    ) -> dict:
        """Approve or reject: a border-agency user of the opening's country, not its proposer."""
        found = visible_proposal(db, who, proposal_id)
        if "border_agency" not in who.roles_for("approve", found.country):
            raise HTTPException(
                403, f"deciding needs the 'approve' verb as border_agency in {found.country}"
            )
        if found.proposer_id == who.user_id:
            raise HTTPException(403, "two-person rule: the proposer cannot decide on a proposal")
        if found.status != "proposed":
            raise HTTPException(409, f"the proposal is already {found.status}")
        status = "approved" if body.decision == "approve" else "rejected"
        found.status = status
        db.add(
            ProposalEvent(proposal_id=found.id, status=status, actor_id=who.user_id, note=body.note)
        )
        audit.record(db, who, body.decision, found.id, address(request), country=found.country)
        db.commit()
        db.refresh(found)
        return _proposal_json(found, policy(db), who)

    # ---- field reports --------------------------------------------------------------------
    @app.post("/api/reports", status_code=201, tags=["field"])
    def submit_report(
        request: Request,
        who: Writer,
        db: DB,
        client_id: Annotated[str, Form(min_length=8, max_length=64, pattern=r"^[A-Za-z0-9_-]+$")],
        kind: Annotated[Literal["observation", "crossing"], Form()],
        species: Annotated[str, Form(min_length=1, max_length=64)],
        count: Annotated[int, Form(ge=1, le=100000)],
        observed_at: Annotated[dt.datetime, Form()],
        lon: Annotated[float, Form(ge=-180, le=180)],
        lat: Annotated[float, Form(ge=-90, le=90)],
        country: Annotated[Country, Form()],
        fence_id: Annotated[str, Form(max_length=64)] = "",
        opening_id: Annotated[str, Form(max_length=64)] = "",
        note: Annotated[str, Form(max_length=5000)] = "",
        photo: Annotated[UploadFile | None, File()] = None,
    ) -> JSONResponse:
        """A field report from the phone page; the same ``client_id`` sent again stores nothing."""
        if not who.can("upload", country):
            raise HTTPException(403, f"reporting needs the 'upload' verb in {country}")
        if observed_at.tzinfo is None:
            raise HTTPException(422, "observed_at needs a time zone (e.g. 2025-05-01T06:00:00Z)")
        if observed_at > dt.datetime.now(dt.timezone.utc) + dt.timedelta(hours=1):
            raise HTTPException(422, "observed_at is in the future")
        existing = db.scalar(select(FieldReport).where(FieldReport.client_id == client_id))
        if existing is not None:
            if existing.reporter_id != who.user_id:
                raise HTTPException(409, "client_id already used")
            return JSONResponse({"id": existing.id, "duplicate": True}, status_code=200)
        stored, mime, blurred = _read_photo(photo, settings, detector)
        report = FieldReport(
            client_id=client_id,
            reporter_id=who.user_id,
            kind=kind,
            species=species,
            count=count,
            observed_at=observed_at,
            lon=lon,
            lat=lat,
            country=country,
            fence_id=fence_id,
            opening_id=opening_id,
            note=note,
            photo=stored,
            photo_type=mime,
            photo_screened=detector is not None,
            people_blurred=blurred,
        )
        db.add(report)
        db.flush()
        audit.record(
            db, who, "report", report.id, address(request), country=country, photo=bool(stored)
        )
        db.commit()
        return JSONResponse({"id": report.id, "duplicate": False}, status_code=201)

    @app.get("/api/reports", tags=["field"])
    def reports(request: Request, who: SignedIn, db: DB) -> dict:
        table = policy(db)
        out = []
        for report in db.scalars(select(FieldReport).order_by(FieldReport.created)):
            treatment = _report_treatment(report, table, who)
            if treatment.name != "withheld":
                out.append(_report_json(report, treatment, who))
        if out:
            audit.record(db, who, "read_reports", f"{len(out)} reports", address(request))
            db.commit()
        return {"type": "FeatureCollection", "features": out}

    @app.get("/api/reports/{report_id}/photo", tags=["field"])
    def report_photo(
        report_id: Annotated[str, Field(max_length=64)], request: Request, who: SignedIn, db: DB
    ) -> Response:
        """A photo unscreened for people is shown to its reporter only."""
        report = db.get(FieldReport, report_id)
        may = (
            report is not None
            and report.photo
            and (
                report.reporter_id == who.user_id
                or (
                    report.photo_screened
                    and _report_treatment(report, policy(db), who).name == "exact"
                )
            )
        )
        if not may:
            raise HTTPException(404, "no such photo")
        audit.record(db, who, "read_photo", report_id, address(request))
        db.commit()
        return Response(report.photo, media_type=report.photo_type)

    # ---- audit ----------------------------------------------------------------------------
    def admin(who: SignedIn) -> Principal:
        if not who.can("admin"):
            raise HTTPException(403, "the audit log and policy are for users with the 'admin' verb")
        return who

    def admin_writer(who: Writer) -> Principal:
        return admin(who)

    Admin = Annotated[Principal, Depends(admin)]
    AdminWriter = Annotated[Principal, Depends(admin_writer)]

    @app.get("/api/audit", tags=["admin"])
    def audit_log(
        who: Admin,
        db: DB,
        action: Annotated[str | None, Query(max_length=64)] = None,
        limit_rows: Annotated[int, Query(alias="limit", ge=1, le=10000)] = 500,
    ) -> list[dict]:
        reads.flush()
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit_rows)
        if action:
            query = query.where(AuditEntry.action == action)
        return [audit.to_json(e) for e in db.scalars(query)]

    @app.get("/api/audit.csv", tags=["admin"], response_class=PlainTextResponse)
    def audit_export(request: Request, who: Admin, db: DB) -> PlainTextResponse:
        reads.flush()
        entries = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
        audit.record(db, who, "export_audit", f"{len(entries)} entries", address(request))
        db.commit()
        return PlainTextResponse(
            audit.to_csv(entries),
            media_type="text/csv",
            headers={"Content-Disposition": "attachment; filename=audit.csv"},
        )

    @app.get("/api/policy", tags=["admin"])
    def policy_rows(who: Admin, db: DB) -> list[dict]:
        table = policy(db)
        return [
            {
                "layer": layer,
                "sensitivity": level,
                "role": role,
                "in_country": i,
                "elsewhere": e,
                "grid_km": km,
            }
            for (layer, level, role), (i, e, km) in sorted(table.rows.items())
        ]

    @app.put("/api/policy", tags=["admin"])
    def set_policy_row(body: PolicyRow, request: Request, who: AdminWriter, db: DB) -> dict:
        """Add or change one policy row; it applies at once here, within seconds elsewhere."""
        key = (body.layer, body.sensitivity, body.role)
        try:
            PolicyTable({key: (body.in_country, body.elsewhere, body.grid_km)})
        except ConfigError as error:
            raise HTTPException(422, str(error)) from None
        row = db.scalar(_policy_query(*key))
        before = None if row is None else _policy_json(row)
        if row is None:
            row = Policy(layer=body.layer, sensitivity=body.sensitivity, role=body.role)
            db.add(row)
        row.in_country, row.elsewhere, row.grid_km = body.in_country, body.elsewhere, body.grid_km
        after = _policy_json(row)
        audit.record(
            db, who, "policy_change", "/".join(key), address(request), before=before, after=after
        )
        db.commit()
        publications.invalidate()
        return after

    @app.delete("/api/policy", tags=["admin"])
    def delete_policy_row(
        request: Request,
        who: AdminWriter,
        db: DB,
        layer: Annotated[str, Query(min_length=1, max_length=128)],
        sensitivity: Annotated[Level, Query()],
        role: Annotated[Role, Query()],
    ) -> dict:
        """Remove a layer's own row, so that the layer follows the ``*`` row again."""
        if layer == "*":
            raise HTTPException(409, "the default rows (layer '*') can be changed, not deleted")
        row = db.scalar(_policy_query(layer, sensitivity, role))
        if row is None:
            raise HTTPException(404, "no such policy row")
        before = _policy_json(row)
        db.delete(row)
        target = f"{layer}/{sensitivity}/{role}"
        audit.record(db, who, "policy_delete", target, address(request), before=before)
        db.commit()
        publications.invalidate()
        return {"deleted": before}

    @app.get("/api/i18n/{lang}", tags=["ui"])
    def catalogue(lang: Literal["en", "ru"]) -> dict[str, str]:
        """The UI's messages in ``lang`` (English is the source language: an empty catalogue)."""
        return _catalogue(lang)

    _mount_ui(app)
    app.add_middleware(WholeLayerFastPath, serve=layer_response)
    return app


class WholeLayerFastPath:
    """``GET /api/layers/NAME/features`` without a query goes straight to its handler.

    That request is the hot path under load; FastAPI's routing and parameter solving cost as much
    as the rest of it. The handler is the route's own (same checks, cache, audit, response); any
    other request, and any refusal (an unknown layer, say), goes through the app as usual.
    """

    PATH = re.compile(r"/api/layers/([^/]{1,128})/features")

    def __init__(self, app, serve):
        self.app = app
        self.serve = serve

    async def __call__(self, scope, receive, send):
        if scope["type"] == "http" and scope["method"] == "GET" and not scope["query_string"]:
            match = self.PATH.fullmatch(scope["path"])
            if match:
                try:
                    response = await self.serve(Request(scope, receive), match[1])
                except HTTPException:
                    pass  # the app answers it, as for any route
                else:
                    await response(scope, receive, send)
                    return
        await self.app(scope, receive, send)


# ---- helpers ------------------------------------------------------------------------------


def _presented_token(request: Request) -> tuple[str | None, bool]:
    header = request.headers.get("authorization", "")
    if header.lower().startswith("bearer "):
        return header[7:].strip() or None, False
    cookie = request.cookies.get(SESSION_COOKIE)
    return (cookie, True) if cookie else (None, False)


def _principal_for(db: Session, token: str, via_cookie: bool) -> tuple[Principal, float]:
    """The signed-in caller of ``token`` (anonymous if none) and the session's seconds left."""
    found = db.scalar(
        select(LoginSession).where(LoginSession.token_hash == auth.token_digest(token))
    )
    if found is None:
        return ANONYMOUS, float("inf")
    expires = (
        found.expires if found.expires.tzinfo else found.expires.replace(tzinfo=dt.timezone.utc)
    )
    seconds_left = (expires - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if seconds_left <= 0 or not found.user.active:
        return ANONYMOUS, float("inf")
    user = found.user
    who = Principal(
        user_id=user.id,
        username=user.username,
        grants=tuple(Grant(g.role, g.country, frozenset(g.verbs.split())) for g in user.grants),
        session_id=found.id,
        csrf_token=found.csrf_token,
        via_cookie=via_cookie,
    )
    return who, seconds_left


def _view_response(view: CachedView, request: Request) -> Response:
    """The view's bytes (gzip if accepted), or 304 when the client holds them already."""
    zipped = "gzip" in request.headers.get("accept-encoding", "")
    etag = view.gzip_etag if zipped else view.etag
    headers = {"ETag": etag, "Cache-Control": "private, no-cache", "Vary": VARY}
    if etag_matches(request.headers.get("if-none-match"), etag):
        return Response(status_code=304, headers=headers)
    if zipped:
        headers["Content-Encoding"] = "gzip"
        return Response(view.gzipped, media_type="application/geo+json", headers=headers)
    return Response(view.body, media_type="application/geo+json", headers=headers)


def _user_json(user: User) -> dict:
    return {
        "username": user.username,
        "display_name": user.display_name,
        "grants": [
            {"role": g.role, "country": g.country, "verbs": g.verbs.split()} for g in user.grants
        ],
    }


def _parse_bbox(text: str | None) -> tuple[float, float, float, float] | None:
    if text is None:
        return None
    parts = text.split(",")
    try:
        values = tuple(float(p) for p in parts)
    except ValueError:
        values = ()
    ok = (
        len(values) == 4
        and all(v == v and abs(v) != float("inf") for v in values)
        and -180 <= values[0] <= values[2] <= 180
        and -90 <= values[1] <= values[3] <= 90
    )
    if not ok:
        raise HTTPException(422, "bbox must be minlon,minlat,maxlon,maxlat in degrees, min <= max")
    return values


def _evidence_by_opening(layers: dict, tables: dict, reports: list[FieldReport]) -> dict:
    """Camera and tracks rows with an ``opening_id``, and field reports, per opening of a segment.

    ``layers`` and ``tables`` hold only what the caller may see exactly or generalised (a
    generalised row keeps ``opening_id`` only if its layer lists it as public). Reports count by
    kind, species and month; those without an opening are under ``""`` (the fence itself).
    """
    openings: dict[str, dict] = {}

    def entry(opening_id: str) -> dict:
        return openings.setdefault(opening_id, {"sources": {}, "field_reports": []})

    for source, rows in (*layers.items(), *tables.items()):
        for row in rows:
            if row.get("opening_id"):
                entry(str(row["opening_id"]))["sources"].setdefault(source, []).append(row)
    counts: dict[tuple, list[int]] = {}
    for report in reports:
        month = report.observed_at.strftime("%Y-%m")
        key = (report.opening_id, report.kind, report.species, month)
        tally = counts.setdefault(key, [0, 0])
        tally[0] += 1
        tally[1] += report.count
    for (opening_id, kind, species, month), (n, animals) in sorted(counts.items()):
        entry(opening_id)["field_reports"].append(
            {"kind": kind, "species": species, "month": month, "reports": n, "animals": animals}
        )
    return openings


def _policy_query(layer: str, sensitivity: str, role: str):
    return select(Policy).where(
        Policy.layer == layer, Policy.sensitivity == sensitivity, Policy.role == role
    )


def _policy_json(row: Policy) -> dict:
    names = ("layer", "sensitivity", "role", "in_country", "elsewhere", "grid_km")
    return {name: getattr(row, name) for name in names}


def _proposal_visible(proposal: Proposal, table: PolicyTable, who: Principal) -> bool:
    return table.treatment(who, "proposals", proposal.sensitivity, proposal.country).name == "exact"


def _proposal_json(proposal: Proposal, table: PolicyTable, who: Principal, brief=False) -> dict:
    body = {
        "id": proposal.id,
        "title": proposal.title,
        "country": proposal.country,
        "fence_id": proposal.fence_id,
        "opening_type": proposal.opening_type,
        "status": proposal.status,
        "lon": proposal.lon,
        "lat": proposal.lat,
        "proposer": proposal.proposer.username,
        "created": proposal.created.isoformat(),
    }
    if brief:
        return body
    return {
        **body,
        "description": proposal.description,
        "history": [
            {"status": e.status, "by": e.actor.username, "at": e.at.isoformat(), "note": e.note}
            for e in proposal.events
        ],
        "comments": [
            {"by": c.author.username, "at": c.at.isoformat(), "text": c.text}
            for c in proposal.comments
        ],
    }


def _report_treatment(report: FieldReport, table: PolicyTable, who: Principal):
    from crossings.service.policy import EXACT

    if report.reporter_id == who.user_id:
        return EXACT
    return table.treatment(who, "field_reports", report.sensitivity, report.country)


def _report_json(report: FieldReport, treatment, who: Principal) -> dict:
    from crossings.security import generalise_geometries

    point = Point(report.lon, report.lat)
    properties = {
        "kind": report.kind,
        "species": report.species,
        "count": report.count,
        "treatment": treatment.name,
        "country": report.country,
    }
    if treatment.name == "exact":
        properties.update(
            id=report.id,
            observed_at=report.observed_at.isoformat(),
            fence_id=report.fence_id,
            opening_id=report.opening_id,
            note=report.note,
            reporter=report.reporter.username,
            has_photo=bool(report.photo),
        )
    else:
        point = generalise_geometries(point, treatment.grid_km * 1000)
        properties.update(
            grid_km=treatment.grid_km, observed_on=report.observed_at.date().isoformat()
        )
    return {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [point.x, point.y]},
        "properties": properties,
    }


def _read_photo(photo: UploadFile | None, settings: ServiceSettings, detector):
    if photo is None or not photo.filename and not photo.size:
        return None, "", 0
    data = photo.file.read(settings.max_photo_bytes + 1)
    if len(data) > settings.max_photo_bytes:
        raise HTTPException(
            413, f"photo larger than {settings.max_photo_bytes // (1024 * 1024)} MB"
        )
    if not data:
        return None, "", 0
    try:
        return clean_photo(data, detector)
    except ConfigError as error:
        raise HTTPException(415, str(error)) from None


@functools.cache
def _catalogue(lang: str) -> dict[str, str]:
    path = LOCALE / lang / "LC_MESSAGES" / "service.po"
    if not path.is_file():
        return {}
    from babel.messages.pofile import read_po

    with open(path, "rb") as handle:
        catalogue = read_po(handle)
    return {m.id: m.string for m in catalogue if m.id and m.string}


def _mount_ui(app: FastAPI) -> None:
    if not STATIC.is_dir():
        return
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.get("/", include_in_schema=False)
    def index() -> HTMLResponse:
        return FileResponse(STATIC / "index.html", media_type="text/html")

    @app.get("/field", include_in_schema=False)
    def field_page() -> HTMLResponse:
        return FileResponse(STATIC / "field.html", media_type="text/html")

    @app.get("/sw.js", include_in_schema=False)
    def service_worker() -> Response:
        # Served from the root so that its scope covers the whole site.
        return FileResponse(STATIC / "sw.js", media_type="text/javascript")
