"""Surfaces and obstacle sectors off the robot (issue 13 sections 2 and 3): `lingbot-depth predict --surfaces
--obstacles` and the HTTP API's "surfaces"/"obstacles" over real HTTP, on an analytic scene (floor + a box
straight ahead) completed by the classical estimator from a sparse sample of its depth."""

from __future__ import annotations

import base64
import io
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest
from surface_scenes import Scene, box

from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.geometry.transforms import camera_pose_from_mounting
from lingbot_depth_ros.navigation.obstacle_report import schema_errors as obstacle_schema_errors
from lingbot_depth_ros.surfaces import schema_errors as surface_schema_errors

K = CameraIntrinsics(300.0, 300.0, 159.5, 119.5, 320, 240)
HEIGHT_M, PITCH_DEG = 1.2, 22.0
BOX_TOP_M, BOX_FRONT_M = 0.45, 2.7  # box 0.6 x 0.8 x 0.45 m centred 3 m ahead: its front face at x = 2.7 m


@pytest.fixture(scope="module")
def scene_files(tmp_path_factory: pytest.TempPathFactory) -> dict:
    folder = tmp_path_factory.mktemp("scene")
    pose = camera_pose_from_mounting(HEIGHT_M, math.radians(PITCH_DEG))
    depth = Scene(box((3.0, 0.0), (0.6, 0.8, BOX_TOP_M)), spheres=[], cylinders=[]).depth(K, pose, noise_rel=0.001)
    sparse = np.zeros_like(depth)
    sparse[::3, ::3] = depth[::3, ::3]  # a dense-ish sample (every 3rd row and column)
    sparse = np.nan_to_num(sparse)
    gray = np.clip(np.nan_to_num(depth) * 40, 0, 255).astype(np.uint8)
    image = folder / "scene.png"
    assert cv2.imwrite(str(image), cv2.merge([gray, gray, gray]))
    sparse_path = folder / "scene_sparse.npy"
    np.save(sparse_path, sparse.astype(np.float32))
    return {"image": image, "sparse": sparse_path}


def _check_surfaces(doc: dict) -> None:
    assert surface_schema_errors(doc) == [] and doc["frame_id"] == "base_link" and doc["floor_source"] == "given"
    kinds = {s["kind"] for s in doc["surfaces"]}
    assert "floor" in kinds
    tops = [s for s in doc["surfaces"] if s["kind"] == "horizontal"]
    assert len(tops) == 1 and tops[0]["height_m"] == pytest.approx(BOX_TOP_M, abs=0.03), doc["surfaces"]
    assert tops[0]["tilt_deg"] < 3.0 and tops[0]["centroid"][0] == pytest.approx(3.0, abs=0.15)


def _check_obstacles(doc: dict) -> None:
    assert obstacle_schema_errors(doc) == [] and doc["frame_id"] == "base_link"
    center = next(s for s in doc["sectors"] if s["name"] == "center")
    assert center["distance_m"] == pytest.approx(BOX_FRONT_M, abs=0.15) and center["status"] == "clear"
    assert doc["recommendation"] == "forward"


def test_cli_writes_surfaces_and_obstacles(scene_files: dict, tmp_path: Path,
                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "out"
    code = main(["predict", str(scene_files["image"]), "--sparse-depth", str(scene_files["sparse"]),
                 "--intrinsics", "300", "300", "159.5", "119.5", "--out", str(out), "--surfaces", "--obstacles",
                 "--camera-height-m", str(HEIGHT_M), "--camera-pitch-deg", str(PITCH_DEG)])
    assert code == 0
    printed = capsys.readouterr().out.split()
    assert printed[-2:] == [str(out / "scene_surfaces.json"), str(out / "scene_obstacles.json")]
    _check_surfaces(json.loads((out / "scene_surfaces.json").read_text()))
    _check_obstacles(json.loads((out / "scene_obstacles.json").read_text()))


def test_cli_surfaces_without_height_estimate_the_floor(scene_files: dict, tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert main(["predict", str(scene_files["image"]), "--sparse-depth", str(scene_files["sparse"]), "--intrinsics",
                 "300", "300", "159.5", "119.5", "--out", str(out), "--surfaces", "--camera-pitch-deg",
                 str(PITCH_DEG)]) == 0
    doc = json.loads((out / "scene_surfaces.json").read_text())
    assert doc["floor_source"] == "estimated" and doc["floor_z_m"] == pytest.approx(-HEIGHT_M, abs=0.03)
    assert any(s["kind"] == "horizontal" and abs(s["height_m"] - BOX_TOP_M) < 0.03 for s in doc["surfaces"])
    assert not (out / "scene_obstacles.json").exists()


@pytest.mark.parametrize("extra,fragment", [
    (["--obstacles"], "camera height"),
    (["--surfaces", "--camera-pitch-deg", "120"], "pitch"),
    (["--surfaces", "--camera-height-m", "-1"], "camera height"),
])
def test_cli_bad_mounting_exits_2_with_one_line(scene_files: dict, tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                extra: list[str], fragment: str) -> None:
    code = main(["predict", str(scene_files["image"]), "--out", str(tmp_path / "o"), *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


def test_cli_surface_options_reach_the_finder(scene_files: dict, tmp_path: Path) -> None:
    """--surface-* options set the finder: a minimum area above the 0.48 m^2 box top drops it (the floor stays),
    and the report's parameters say so; one surface at most with --surface-max-surfaces 1."""
    out = tmp_path / "out"
    args = ["predict", str(scene_files["image"]), "--sparse-depth", str(scene_files["sparse"]), "--intrinsics",
            "300", "300", "159.5", "119.5", "--out", str(out), "--surfaces", "--camera-height-m", str(HEIGHT_M),
            "--camera-pitch-deg", str(PITCH_DEG)]
    assert main([*args, "--surface-min-area-m2", "0.6", "--surface-max-tilt-deg", "5"]) == 0
    doc = json.loads((out / "scene_surfaces.json").read_text())
    assert doc["parameters"]["min_area_m2"] == 0.6 and doc["parameters"]["max_tilt_deg"] == 5.0
    assert "floor" in {s["kind"] for s in doc["surfaces"]}
    assert not [s for s in doc["surfaces"] if s["kind"] == "horizontal"], doc["surfaces"]
    assert main([*args, "--surface-max-surfaces", "1", "--surface-normal-window", "7",
                 "--surface-coarse-normal-window", "0", "--surface-decimation", "3"]) == 0
    assert len(json.loads((out / "scene_surfaces.json").read_text())["surfaces"]) == 1


@pytest.mark.parametrize("extra,fragment", [
    (["--surface-normal-window", "4"], "normal_window=4"),      # in range, but a window needs a centre pixel
    (["--surface-coarse-normal-window", "8"], "coarse_normal_window=8"),
])
def test_cli_bad_surface_option_exits_2_with_one_line(scene_files: dict, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str], extra: list[str],
                                                      fragment: str) -> None:
    code = main(["predict", str(scene_files["image"]), "--out", str(tmp_path / "o"), "--surfaces", *extra])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and fragment in err, err


@pytest.mark.parametrize("extra,fragment", [
    (["--surface-normal-window", "1"], "surfaces.normal_window=1 is below its minimum 3"),
    (["--surface-max-range-m", "nan"], "surfaces.max_range_m must be finite"),
    (["--surface-max-surfaces", "2.5"], "surfaces.max_surfaces must be an integer"),
])
def test_cli_surface_option_out_of_range_is_a_usage_error(scene_files: dict, tmp_path: Path, extra: list[str],
                                                          fragment: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Out of the node parameter's range: argparse's usage error (exit 2), naming the option and the range."""
    with pytest.raises(SystemExit) as exc:
        main(["predict", str(scene_files["image"]), "--out", str(tmp_path / "o"), "--surfaces", *extra])
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert exc.value.code == 2 and f"argument {extra[0]}" in err and fragment in err, err


def test_cli_surface_options_are_the_node_parameter_table(capsys: pytest.CaptureFixture[str]) -> None:
    """One description: every surfaces.* analysis parameter of the node is a --surface-* option whose help is the
    table's text, with the table's default."""
    from lingbot_depth_ros.params.surfaces import SURFACE_ANALYSIS_PARAMS

    with pytest.raises(SystemExit):
        main(["predict", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for spec in SURFACE_ANALYSIS_PARAMS:
        option = "--surface-" + spec.name.removeprefix("surfaces.").replace("_", "-")
        assert f"{option} " in text and " ".join(spec.description.split()) in text, option
        assert f"default {spec.default} (node parameter {spec.name})" in text, option


def test_cli_finds_the_floor_of_a_real_nyu_frame(shared_data: Path, tmp_path: Path) -> None:
    """NYU frame 00000 with its ground truth as sparse input (classical completion) and the camera's mounting
    (1.48 m, pitched 13.9 deg down, rolled 3 deg: a floor fit of the bottom rows): a floor of > 4 m^2 at the
    floor's height. Before the surface tuning of issue 18 this frame gave no floor."""
    nyu = shared_data / "nyu"
    out = tmp_path / "out"
    assert main(["predict", str(nyu / "rgb_00000.jpg"), "--sparse-depth", str(nyu / "sync_depth_00000.png"),
                 "--sparse-scale", "0.001", "--intrinsics", "518.8579", "519.46961", "325.58245", "253.73617",
                 "--out", str(out), "--surfaces", "--camera-height-m", "1.48", "--camera-pitch-deg", "13.9",
                 "--camera-roll-deg", "3.0", "--quiet"]) == 0
    doc = json.loads((out / "rgb_00000_surfaces.json").read_text())
    floors = [s for s in doc["surfaces"] if s["kind"] == "floor"]
    assert floors and max(s["area_m2"] for s in floors) > 4.0, doc["surfaces"]
    assert all(abs(s["height_m"]) < 0.1 and s["tilt_deg"] < 3.0 for s in floors), floors


fastapi = pytest.importorskip("fastapi", reason="the server extra is not installed")
import httpx  # noqa: E402
from server_process import running_cli  # noqa: E402


@pytest.fixture(scope="module")
def api() -> str:
    with running_cli(["serve", "--estimator", "classical"], "/health") as server:
        yield server.url
    assert server.process.returncode == 0, server.log()


def _body(scene_files: dict, **extra: object) -> dict:
    buffer = io.BytesIO()
    np.save(buffer, np.load(scene_files["sparse"]))
    return {"image": base64.b64encode(scene_files["image"].read_bytes()).decode(), "mode": "completion",
            "sparse_depth": base64.b64encode(buffer.getvalue()).decode(),
            "camera_intrinsics": {"fx": 300.0, "fy": 300.0, "cx": 159.5, "cy": 119.5}, **extra}


def test_api_returns_surfaces_and_obstacles(api: str, scene_files: dict) -> None:
    reply = httpx.post(api + "/predict", json=_body(scene_files, surfaces=True, obstacles=True,
                                                    camera_height_m=HEIGHT_M, camera_pitch_deg=PITCH_DEG), timeout=60)
    assert reply.status_code == 200, reply.text
    body = reply.json()
    _check_surfaces(body["surfaces"])
    _check_obstacles(body["obstacles"])
    plain = httpx.post(api + "/predict", json=_body(scene_files), timeout=60).json()
    assert plain["surfaces"] is None and plain["obstacles"] is None


@pytest.mark.parametrize("extra,status,fragment", [
    ({"obstacles": True}, 400, "camera height"),
    ({"surfaces": True, "camera_pitch_deg": 120}, 422, "camera_pitch_deg"),
    ({"surfaces": True, "camera_height_m": 0}, 422, "camera_height_m"),
])
def test_api_bad_mounting_is_refused(api: str, scene_files: dict, extra: dict, status: int, fragment: str) -> None:
    reply = httpx.post(api + "/predict", json=_body(scene_files, **extra), timeout=60)
    assert reply.status_code == status and fragment in reply.json()["error"], reply.text
