"""run.toml and manifest.json: what a run read and wrote, and who may see it."""

import json
import tomllib

import pytest

from crossings.errors import ConfigError
from crossings.io.runlog import RunLog


def test_manifest_records_inputs_outputs_hashes_and_sensitivity(tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("abc")
    out = tmp_path / "out"
    log = RunLog(
        out,
        command="crossings tracks classify",
        config={"distance": 110.0, "nothing": None},
        sensitivity="confidential",
        sensitivity_reason="exact animal locations",
    )
    log.add_inputs([source])
    (out / "events.csv").parent.mkdir(parents=True)
    (out / "events.csv").write_text("x\n")
    log.add_outputs([out / "events.csv"])
    log.finish()
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["sensitivity"] == {"level": "confidential", "reason": "exact animal locations"}
    # SHA-256 of "abc", computed independently of crossings.
    assert manifest["inputs"][0]["sha256"] == (
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    )
    assert [o["bytes"] for o in manifest["outputs"]] == [2]
    # The job name heads run.toml so that `crossings run run.toml` can replay it.
    assert tomllib.loads((out / "run.toml").read_text()) == {"job": "tracks", "distance": 110.0}


def test_unknown_sensitivity_level_is_refused(tmp_path):
    with pytest.raises(ConfigError, match="'public', 'restricted', 'confidential'"):
        RunLog(tmp_path, command="x", config={}, sensitivity="secret")
