"""The one fence model shared by every module (see DESIGN.md, "One fence model").

A fence is a polyline with a stable ``fence_id``, a ``country_pair`` and a ``permeability``
(0 = closed, 1 = no effect). Openings are points on a fence with a width in metres, a type and a
permeability of their own; they restore the graph edges they overlap (see
:mod:`crossings.core.barriers`). Coordinates are in the landscape's projected CRS, in metres.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from crossings.errors import ConfigError

__all__ = ["Fence", "Opening"]


@dataclass(frozen=True)
class Fence:
    """One fence segment (a polyline).

    Parameters
    ----------
    fence_id : str
        Stable identifier; keys connectivity results, planner candidates, GPS crossings and camera
        deployments.
    coords : ndarray, shape (n, 2)
        Vertices ``x, y`` in the landscape CRS (metres), n >= 2.
    permeability : float
        Factor applied to the conductance of every edge the fence cuts (0 closes it).
    country_pair : str
        E.g. ``"KAZ-UZB"``: the country on each side, for reports and crossing directions.

    Examples
    --------
    >>> f = Fence("f1", [(0, 0), (3000, 4000)])
    >>> f.length
    5000.0
    """

    fence_id: str
    coords: np.ndarray
    permeability: float = 0.0
    country_pair: str = ""

    def __post_init__(self):
        coords = np.asarray(self.coords, dtype=float)
        if coords.ndim != 2 or coords.shape[1] != 2 or len(coords) < 2:
            raise ConfigError(
                f"fence coordinates must be an (n, 2) array with n >= 2; got shape {coords.shape}",
                field=f"fence {self.fence_id!r} geometry",
            )
        if not np.isfinite(coords).all():
            raise ConfigError(
                "fence coordinates contain NaN or infinity; remove empty or broken vertices",
                field=f"fence {self.fence_id!r} geometry",
            )
        if not 0.0 <= self.permeability <= 1.0:
            raise ConfigError(
                f"permeability must be within 0 (closed) and 1 (open); got {self.permeability}",
                field=f"fence {self.fence_id!r} permeability",
            )
        object.__setattr__(self, "coords", coords)

    @property
    def length(self) -> float:
        """Length in CRS units (metres)."""
        return float(np.hypot(*np.diff(self.coords, axis=0).T).sum())


@dataclass(frozen=True)
class Opening:
    """An opening in a fence.

    Parameters
    ----------
    fence_id : str
        The fence it is in.
    x, y : float
        Centre of the opening (metres, landscape CRS); snapped to the nearest point of the fence.
    width : float
        Width along the fence in metres.
    permeability : float
        Conductance factor inside the opening (1 = as if no fence).
    kind : str
        Opening type, e.g. ``lower_strands_removed``, ``seasonal_gate``, ``full_gap``.
    opening_id : str
    """

    fence_id: str
    x: float
    y: float
    width: float
    permeability: float = 1.0
    kind: str = "full_gap"
    opening_id: str = ""

    def __post_init__(self):
        if not (np.isfinite(self.x) and np.isfinite(self.y)):
            raise ConfigError(
                f"opening centre must be finite coordinates; got ({self.x}, {self.y})",
                field=f"opening {self.opening_id or '?'} x, y",
            )
        if not self.width > 0:
            raise ConfigError(
                f"opening width must be > 0 metres; got {self.width}",
                field=f"opening {self.opening_id or (self.x, self.y)} width",
            )
        if not 0.0 <= self.permeability <= 1.0:
            raise ConfigError(
                f"permeability must be within 0 and 1; got {self.permeability}",
                field=f"opening {self.opening_id or (self.x, self.y)} permeability",
            )
