"""What a caller gets of a layer: GeoJSON built on the server from the policy, never in the browser.

Exact features keep their id and properties. Generalised features lose their id and every property
not in the layer's ``public_fields``; their geometry is snapped to the policy's grid, and features
that end up identical are merged into one with a ``count``. Withheld features are left out.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import shapely
from sqlalchemy import select
from sqlalchemy.orm import Session

from crossings.security import generalise_geometries
from crossings.service.models import Feature, Layer
from crossings.service.policy import PolicyTable, Principal, Treatment

__all__ = ["LayerView", "layer_view", "exact_feature", "treatments_for"]


@dataclass(frozen=True)
class LayerView:
    geojson: bytes
    levels: frozenset[str]  # sensitivity levels of what was served (for the audit log)
    treatments: dict[str, int]  # how many features got each treatment


def treatments_for(
    policy: PolicyTable, principal: Principal, layer: str, keys: Iterable[tuple[str, str]]
) -> dict[tuple[str, str], Treatment]:
    return {(lvl, c): policy.treatment(principal, layer, lvl, c) for lvl, c in set(keys)}


def layer_view(
    session: Session,
    policy: PolicyTable,
    principal: Principal,
    layer: Layer,
    *,
    bbox: tuple[float, float, float, float] | None = None,
    fence_id: str | None = None,
) -> LayerView:
    query = select(
        Feature.id,
        Feature.sensitivity,
        Feature.country,
        Feature.fence_id,
        Feature.properties,
        Feature.wkb,
    ).where(Feature.layer_id == layer.id)
    if bbox is not None:
        minx, miny, maxx, maxy = bbox
        query = query.where(
            Feature.minx <= maxx, Feature.maxx >= minx, Feature.miny <= maxy, Feature.maxy >= miny
        )
    if fence_id is not None:
        query = query.where(Feature.fence_id == fence_id)
    rows = session.execute(query.order_by(Feature.id)).all()
    treatments = treatments_for(policy, principal, layer.name, ((r[1], r[2]) for r in rows))
    exact, general, counts, levels = [], {}, Counter(), set()
    for row in rows:
        treatment = treatments[(row[1], row[2])]
        counts[treatment.name] += 1
        if treatment.name == "withheld":
            continue
        levels.add(row[1])
        if treatment.name == "exact":
            exact.append(_exact_json(row))
        else:
            general.setdefault(treatment.grid_km, []).append(row)
    features = exact
    for grid_km, group in general.items():
        features.extend(_generalised_json(group, grid_km, layer.public_fields))
    body = {"type": "FeatureCollection", "layer": layer.name, "features": features}
    text = json.dumps(body, separators=(",", ":"), allow_nan=False).encode()
    return LayerView(text, frozenset(levels), dict(counts))


def _exact_json(row) -> dict:
    feature_id, level, country, fence_id, properties, wkb = row
    geometry = shapely.from_wkb(wkb)
    return {
        "type": "Feature",
        "id": feature_id,
        "geometry": shapely.geometry.mapping(geometry),
        "properties": {
            **properties,
            "sensitivity": level,
            "country": country,
            "fence_id": fence_id,
            "treatment": "exact",
        },
    }


def _generalised_json(rows, grid_km: float, public_fields: list[str]) -> list[dict]:
    geometries = generalise_geometries(
        np.array([shapely.from_wkb(r[5]) for r in rows]), grid_km * 1000
    )
    # Cell centres need no more than 6 decimals (0.1 m); shorter numbers, smaller responses.
    geometries = shapely.transform(geometries, lambda xy: np.round(xy, 6))
    merged: dict[tuple[bytes, str], dict] = {}
    for row, geometry in zip(rows, geometries, strict=True):
        properties = {k: row[4][k] for k in public_fields if k in row[4]}
        properties.update(sensitivity=row[1], treatment="generalised", grid_km=grid_km)
        key = (shapely.to_wkb(geometry), json.dumps(properties, sort_keys=True, default=str))
        if key in merged:
            merged[key]["properties"]["count"] += 1
            continue
        merged[key] = {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(geometry),
            "properties": {**properties, "count": 1},
        }
    return list(merged.values())


def exact_feature(
    session: Session, policy: PolicyTable, principal: Principal, feature_id: str
) -> tuple[dict, Layer, str] | None:
    """The feature if the caller may see it exactly; ``None`` otherwise (as if it did not exist)."""
    feature = session.get(Feature, feature_id)
    if feature is None:
        return None
    layer = session.get(Layer, feature.layer_id)
    treatment = policy.treatment(principal, layer.name, feature.sensitivity, feature.country)
    if treatment.name != "exact":
        return None
    row = (
        feature.id,
        feature.sensitivity,
        feature.country,
        feature.fence_id,
        feature.properties,
        feature.wkb,
    )
    return _exact_json(row), layer, feature.sensitivity
