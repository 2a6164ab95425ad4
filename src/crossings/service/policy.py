"""Who may do what: roles, verbs, and the policy table that decides what a role sees.

A user holds grants: a role in one country with a set of verbs. Anyone, signed in or not, has the
``public`` role everywhere. For a feature of a given layer, sensitivity and country, each grant
with the ``view`` verb gives the treatment its policy row names for "in its country" or
"elsewhere"; the user gets the least restrictive of them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from crossings.errors import ConfigError, did_you_mean
from crossings.security import PRECISION_CATEGORIES_M, check_level

__all__ = [
    "ROLES",
    "VERBS",
    "COUNTRIES",
    "DEFAULT_POLICY",
    "Treatment",
    "Principal",
    "PolicyTable",
    "check_role",
    "check_country",
    "check_verbs",
]

TREATMENTS = ("exact", "generalised", "withheld")

ROLES = ("border_agency", "nature_agency", "scientist", "public")
VERBS = ("view", "comment", "propose", "approve", "upload", "admin")
#: ISO 3166-1 alpha-3 codes of the five Central Asian states.
COUNTRIES = ("KAZ", "KGZ", "TJK", "TKM", "UZB")

#: (layer, sensitivity, role) -> (in its countries, elsewhere, grid km). ``*`` is every layer.
#: Treatments: ``exact``, ``g`` (generalised to grid km) or ``withheld``.
DEFAULT_POLICY: dict[tuple[str, str, str], tuple[str, str, float]] = {
    **{("*", "public", role): ("exact", "exact", 10.0) for role in ROLES},
    ("*", "restricted", "border_agency"): ("exact", "generalised", 10.0),
    ("*", "restricted", "nature_agency"): ("exact", "generalised", 10.0),
    ("*", "restricted", "scientist"): ("exact", "generalised", 10.0),
    ("*", "restricted", "public"): ("generalised", "generalised", 10.0),
    ("*", "confidential", "border_agency"): ("exact", "withheld", 10.0),
    ("*", "confidential", "nature_agency"): ("generalised", "withheld", 1.0),
    ("*", "confidential", "scientist"): ("generalised", "withheld", 10.0),
    ("*", "confidential", "public"): ("withheld", "withheld", 10.0),
    # Planned openings and ranger reports reveal where the fence will open or where guards walk:
    # the public does not see them at all, not even generalised.
    ("proposals", "restricted", "public"): ("withheld", "withheld", 10.0),
    ("field_reports", "restricted", "public"): ("withheld", "withheld", 10.0),
}


def _check_choice(value: str, allowed: Iterable[str], field_name: str) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ConfigError(
            f"must be one of {', '.join(allowed)}; got {value!r}.{did_you_mean(value, allowed)}",
            field=field_name,
        )
    return value


def check_role(role: str) -> str:
    return _check_choice(role, ROLES, "role")


def check_country(country: str) -> str:
    return _check_choice(country.upper(), COUNTRIES, "country")


def check_verbs(verbs: Iterable[str]) -> tuple[str, ...]:
    return tuple(_check_choice(verb, VERBS, "verbs") for verb in verbs)


@dataclass(frozen=True, slots=True, order=True)
class Treatment:
    """What an audience gets of a feature; orders from most to least revealing."""

    rank: int
    grid_km: float = 0.0

    @property
    def name(self) -> str:
        return TREATMENTS[self.rank]

    @classmethod
    def of(cls, name: str, grid_km: float) -> Treatment:
        rank = TREATMENTS.index(_check_choice(name, TREATMENTS, "treatment"))
        return cls(rank, grid_km if name == "generalised" else 0.0)


EXACT = Treatment(0)
WITHHELD = Treatment(2)


@dataclass(frozen=True, slots=True)
class Grant:
    role: str
    country: str
    verbs: frozenset[str]


@dataclass(frozen=True, slots=True)
class Principal:
    """The caller: a user with grants, or the anonymous public."""

    user_id: int | None = None
    username: str = ""
    grants: tuple[Grant, ...] = ()
    session_id: int | None = None
    csrf_token: str = ""
    via_cookie: bool = False

    @property
    def authenticated(self) -> bool:
        return self.user_id is not None

    def can(self, verb: str, country: str | None = None) -> bool:
        """Whether a grant gives ``verb`` (in ``country``, if given; in any country otherwise)."""
        return any(
            verb in g.verbs and (country is None or g.country == country) for g in self.grants
        )

    def countries_for(self, verb: str) -> set[str]:
        return {g.country for g in self.grants if verb in g.verbs}

    def roles_for(self, verb: str, country: str) -> set[str]:
        return {g.role for g in self.grants if verb in g.verbs and g.country == country}


@dataclass
class PolicyTable:
    """The policy rows, with ``*`` rows as defaults for every layer."""

    rows: Mapping[tuple[str, str, str], tuple[str, str, float]] = field(
        default_factory=lambda: dict(DEFAULT_POLICY)
    )

    def __post_init__(self):
        for (layer, level, role), (inside, outside, grid_km) in self.rows.items():
            check_level(level, "sensitivity")
            check_role(role)
            Treatment.of(inside, grid_km), Treatment.of(outside, grid_km)
            if "generalised" in (inside, outside) and grid_km * 1000 not in PRECISION_CATEGORIES_M:
                raise ConfigError(
                    f"policy row {layer}/{level}/{role}: must be one of GBIF's precision "
                    f"categories {[m / 1000 for m in PRECISION_CATEGORIES_M]} km; got {grid_km}",
                    field="grid_km",
                )

    def _row(self, layer: str, level: str, role: str) -> tuple[str, str, float]:
        return self.rows.get((layer, level, role)) or self.rows.get(
            ("*", level, role), ("withheld", "withheld", 10.0)
        )

    def treatment(self, principal: Principal, layer: str, level: str, country: str) -> Treatment:
        """The least restrictive treatment any of the caller's grants (or ``public``) gives."""
        countries = set(country.split("-")) if country else set()
        _, outside, grid_km = self._row(layer, level, "public")
        best = Treatment.of(outside, grid_km)
        for grant in principal.grants:
            if "view" not in grant.verbs:
                continue
            inside, outside, grid_km = self._row(layer, level, grant.role)
            name = inside if grant.country in countries else outside
            best = min(best, Treatment.of(name, grid_km))
        return best
