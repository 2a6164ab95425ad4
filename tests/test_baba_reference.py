"""BaBA on the R package's own example data must give exactly the R package's events, also
after the quality control that every crossings run does first."""

import numpy as np
import pandas as pd
import pytest
from baba_data import DATA, read_fences, read_tracks

from crossings.core.baba import BabaConfig, FenceLayer, classify
from crossings.core.track_qc import QCConfig, quality_control

RUNS = {
    "pronghorn_d110_default": ("pronghorn", BabaConfig(distance=110)),
    "pronghorn_d110_maxcross4": ("pronghorn", BabaConfig(distance=110, max_cross=4)),
    "muleDeer_d90_default": ("muleDeer", BabaConfig(distance=90)),
    "pronghorn_d110_tol4": ("pronghorn", BabaConfig(distance=110, tolerance=4)),
}


@pytest.fixture(scope="module")
def layer():
    return FenceLayer.from_fences(read_fences()[1])


def _utc(column: pd.Series) -> np.ndarray:
    return pd.to_datetime(column, utc=True).dt.tz_localize(None).to_numpy().astype("datetime64[s]")


@pytest.mark.parametrize("run", sorted(RUNS))
def test_events_match_r_package_exactly(run, layer):
    species, config = RUNS[run]
    _assert_r_events(classify(read_tracks(species), layer, config).events, run)


@pytest.mark.parametrize("run", sorted(RUNS))
def test_events_after_quality_control_still_match_exactly(run, layer):
    """The data have no gap or duplicate; spikes are kept (the R package drops none), so the
    split into bursts and the QC table must change no event."""
    species, config = RUNS[run]
    qc = quality_control(read_tracks(species), QCConfig(keep_outliers=True))
    assert qc.tracks.burst.max() == 0 and (qc.summary["duplicates"] == 0).all()
    _assert_r_events(classify(qc.tracks, layer, config).events, run)


def _assert_r_events(events, run: str) -> None:
    ref = pd.read_csv(DATA / "reference" / f"{run}_classification.csv")
    assert len(events) == len(ref)
    np.testing.assert_array_equal(events.animal_id, ref["AnimalID"].astype(str))
    np.testing.assert_array_equal(events.burst_id, ref["burstID"])
    np.testing.assert_array_equal(events.start_time, _utc(ref["start_time"]))
    np.testing.assert_array_equal(events.end_time, _utc(ref["end_time"]))
    np.testing.assert_array_equal(events.duration_hours, ref["duration_hours"])
    np.testing.assert_array_equal(events.event_type, ref["eventTYPE"])
    np.testing.assert_array_equal(events.cross, ref["cross"])
    np.testing.assert_array_equal(events.easting, ref["easting"])
    np.testing.assert_array_equal(events.northing, ref["northing"])
    for column, mine in (("str_i", events.str_i), ("str_mean", events.str_mean)):
        np.testing.assert_allclose(mine, ref[column].to_numpy(float), rtol=0, atol=1e-9)
    np.testing.assert_allclose(events.str_sd, ref["str_sd"].to_numpy(float), rtol=0, atol=1e-9)
