"""Circuitscape INI files as each version writes them run the corpus case and match its outputs.

The three writers below follow the sources: Circuitscape 3.5's ``writeConfigFile`` (Python 2
ConfigParser, keys such as ``point_file_contains_polygons``), Circuitscape 4's GUI ``CSConfig``
(every default section, ``(Browse for ...)`` placeholders, ``Logging Options``; Windows CRLF),
and Circuitscape.jl 5's ``write_config`` (lower-case booleans, empty paths). Each runs the corpus
case sgVerify1 (pairwise, focal points, short-circuit polygons) and is compared with
Circuitscape's own outputs.
"""

from __future__ import annotations

import warnings

import pytest
from test_circuit_oracle import DATA, _compare
from typer.testing import CliRunner

from crossings.cli import app
from crossings.io import circuitscape as cs

CASE = DATA / "input" / "raster" / "pairwise" / "1"


def _files(out_dir) -> dict[str, str]:
    return {
        "habitat": str(CASE / "cellmap.asc"),
        "points": str(CASE / "points.asc"),
        "polygons": str(CASE / "polygons.tif"),
        "output": str(out_dir / "sgVerify1.out"),
    }


def ini_35(f: dict[str, str]) -> str:
    return f"""[Options for advanced mode]
ground_file_is_resistances = False
remove_src_or_gnd = not entered
ground_file = (Browse for a ground point file)
use_unit_currents = False
source_file = (Browse for a current source file)
use_direct_grounds = False

[Mask file]
mask_file = None
use_mask = False

[Version]
version = 3.5.8

[Calculation options]
low_memory_mode = False
print_timings = False
solver = cg+amg

[Short circuit regions (aka polygons)]
polygon_file = {f["polygons"]}
use_polygons = True

[Options for one-to-all and all-to-one modes]
use_variable_source_strengths = False
variable_source_file = None

[Output options]
set_null_currents_to_nodata = False
set_focal_node_currents_to_zero = False
set_null_voltages_to_nodata = False
write_max_cur_maps = True
output_file = {f["output"]}
write_cum_cur_map_only = False
log_transform_maps = False
compress_grids = False
write_cur_maps = True
write_volt_maps = True

[Connection scheme for raster habitat data]
connect_using_avg_resistances = True
connect_four_neighbors_only = True

[Habitat raster or graph]
habitat_map_is_resistances = True
habitat_file = {f["habitat"]}

[Circuitscape mode]
scenario = pairwise
data_type = raster

[Options for pairwise and one-to-all and all-to-one modes]
use_included_pairs = False
included_pairs_file = None
point_file_contains_polygons = False
point_file = {f["points"]}

"""


def ini_4(f: dict[str, str], compress: bool = False) -> str:
    text = f"""[Options for advanced mode]
ground_file_is_resistances = True
remove_src_or_gnd = keepall
ground_file = (Browse for a ground point file)
use_unit_currents = False
source_file = (Browse for a current source file)
use_direct_grounds = False

[Mask file]
mask_file = None
use_mask = False

[Calculation options]
low_memory_mode = False
parallelize = False
solver = cg+amg
print_timings = False
preemptive_memory_release = False
print_rusages = False
max_parallel = 0

[Short circuit regions (aka polygons)]
polygon_file = {f["polygons"]}
use_polygons = True

[Options for one-to-all and all-to-one modes]
use_variable_source_strengths = False
variable_source_file = None

[Output options]
set_null_currents_to_nodata = False
set_focal_node_currents_to_zero = False
set_null_voltages_to_nodata = False
compress_grids = {compress}
write_cur_maps = True
write_volt_maps = True
output_file = {f["output"]}
write_cum_cur_map_only = False
log_transform_maps = False
write_max_cur_maps = True

[Version]
version = 4.0.5

[Options for reclassification of habitat data]
reclass_file = (Browse for file with reclassification data)
use_reclass_table = False

[Logging Options]
log_level = INFO
log_file = None
profiler_log_file = None
screenprint_log = False

[Options for pairwise and one-to-all and all-to-one modes]
included_pairs_file = (Browse for a file with pairs to include or exclude)
use_included_pairs = False
point_file = {f["points"]}

[Connection scheme for raster habitat data]
connect_using_avg_resistances = True
connect_four_neighbors_only = True

[Habitat raster or graph]
habitat_map_is_resistances = True
habitat_file = {f["habitat"]}

[Circuitscape mode]
scenario = pairwise
data_type = raster

"""
    return text.replace("\n", "\r\n")  # saved by the Windows GUI


def ini_5(f: dict[str, str]) -> str:
    return f"""[Circuitscape Mode]
data_type = raster
scenario = pairwise

[Version]
version = 5.0.0

[Habitat raster or graph]
habitat_file = {f["habitat"]}
habitat_map_is_resistances = true

[Connection Scheme for raster habitat data]
connect_four_neighbors_only = true
connect_using_avg_resistances = true

[Short circuit regions (aka polygons)]
use_polygons = true
polygon_file = {f["polygons"]}

[Options for advanced mode]
ground_file_is_resistances = true
source_file =
remove_src_or_gnd = keepall
ground_file =
use_unit_currents = false
use_direct_grounds = false

[Mask file]
use_mask = false
mask_file =

[Options for one-to-all and all-to-one modes]
use_variable_source_strengths = false
variable_source_file =

[Options for pairwise and one-to-all and all-to-one modes]
included_pairs_file =
use_included_pairs = false
point_file = {f["points"]}

[Calculation options]
solver = cg+amg

[Output options]
write_cum_cur_map_only = false
log_transform_maps = false
output_file = {f["output"]}
write_max_cur_maps = true
write_volt_maps = true
set_null_currents_to_nodata = false
set_null_voltages_to_nodata = false
compress_grids = false
write_cur_maps = true
"""


def _run(tmp_path, text: str):
    out = tmp_path / "out"
    ini = tmp_path / "job.ini"
    ini.write_bytes(text.encode("utf-8"))
    result = CliRunner().invoke(app, ["circuitscape", "run", str(ini)])
    assert result.exit_code == 0, result.output
    written = sorted(p for p in out.iterdir() if p.name.startswith("sgVerify1_"))
    assert any(p.name.startswith("sgVerify1_cum_curmap") for p in written)
    for path in written:
        if "3columns" not in path.name:
            _compare(path)
    return written, result.output


@pytest.mark.parametrize("writer", [ini_35, ini_4, ini_5], ids=["3.5", "4.x-crlf", "5.x"])
def test_each_versions_ini_runs_the_corpus_case(writer, tmp_path, monkeypatch):
    monkeypatch.setattr(cs, "_warned_obsolete", set())  # each case warns afresh
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        written, _ = _run(tmp_path, writer(_files(tmp_path / "out")))
    assert {p.suffix for p in written} <= {".asc", ".out"}
    obsolete = [str(w.message) for w in caught if "no longer used" in str(w.message)]
    if writer is ini_5:
        assert obsolete == []
    else:
        assert len(obsolete) == 1  # one warning naming every obsolete key of the file
    if writer is ini_35:
        assert "point_file_contains_polygons" in obsolete[0]
    if writer is ini_4:
        for key in ("print_timings", "max_parallel", "profiler_log_file", "screenprint_log"):
            assert key in obsolete[0]


def test_compress_grids_writes_gzipped_ascii_grids(tmp_path, monkeypatch):
    monkeypatch.setattr(cs, "_warned_obsolete", set())
    written, _ = _run(tmp_path, ini_4(_files(tmp_path / "out"), compress=True))
    grids = [p.name for p in written if "map" in p.name]
    assert grids and all(name.endswith(".asc.gz") for name in grids)  # and they match (above)


def test_obsolete_keys_warn_once_per_process(monkeypatch):
    monkeypatch.setattr(cs, "_warned_obsolete", set())
    text = "scenario = pairwise\nprint_timings = True\n"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        cs.parse_ini_text(text)
        cs.parse_ini_text(text)
    assert len([w for w in caught if "print_timings" in str(w.message)]) == 1


def test_a_key_no_version_knows_is_still_an_error():
    with pytest.raises(cs.ConfigError, match="Did you mean 'point_file_contains_polygons'"):
        cs.parse_ini_text("scenario = pairwise\npoint_file_contains_polygon = False\n")


def test_gui_placeholders_and_not_entered_mean_unset():
    config = cs.parse_ini_text(
        "scenario = pairwise\nhabitat_file = (Browse for a habitat map file)\n"
        "output_file = (Choose an output file name)\nmask_file = None\n"
        "remove_src_or_gnd = not entered\nground_file_is_resistances = not entered\n"
    )
    assert config.habitat_file is None and config.output_file is None
    assert config.mask_file is None and config.ground_file_is_resistances is True


def test_byte_order_mark_and_colon_delimiters_are_read(tmp_path):
    ini = tmp_path / "job.ini"
    ini.write_bytes("\ufeff[Circuitscape mode]\r\nscenario: one-to-all\r\n".encode())
    assert cs.read_ini(ini).scenario is cs.Scenario.ONE_TO_ALL


def test_random_bytes_ini_is_one_line_and_exit_1(tmp_path):
    ini = tmp_path / "job.ini"
    ini.write_bytes(bytes(range(256)) * 3)
    result = CliRunner().invoke(app, ["circuitscape", "run", str(ini)])
    assert result.exit_code == 1
    assert "job.ini" in result.output and "not a text file" in result.output
    assert result.output.count("\n") == 1
