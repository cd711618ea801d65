"""``lingbot-depth batch`` inputs and its --out folder read back: the same depth as ``predict`` for the same files,
the KITTI raw layout ``fuse`` reads, and a tampered or damaged --out (manifest, result files, run.json,
inputs.json) refused with one ``file:line`` error or repaired by redoing the unit.

One local Ray session for the module; synthetic frames and ../shared/data through the ``shared_data`` fixture.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

ray = pytest.importorskip("ray", reason="the batch extra (ray) is not installed: pip install '.[batch]'")

from kitti_raw_drive import CX, CY, FX, FY, write_kitti_raw_drive  # noqa: E402

from lingbot_depth_ros.batch.api import batch  # noqa: E402
from lingbot_depth_ros.batch.sources import DatasetOptions  # noqa: E402
from lingbot_depth_ros.cli.main import main  # noqa: E402

K = (FX, FY, CX, CY)


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _predict(images: Path, sparse: Path, out: Path, intrinsics: tuple[float, ...],
             *extra: str) -> dict[str, np.ndarray]:
    assert main(["predict", str(images), "--sparse-depth", str(sparse), "--intrinsics", *map(str, intrinsics),
                 "--out", str(out), "--quiet", *extra]) == 0
    return {p.name[: -len("_depth.npy")]: np.load(p) for p in sorted(out.glob("*_depth.npy"))}


def _batch_npy(out: Path, input_id: str) -> dict[str, np.ndarray]:
    return {p.stem: np.load(p) for p in sorted((out / input_id / "depth_npy").glob("*.npy"))}


def _assert_bit_identical(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> None:
    assert sorted(a) == sorted(b) and a
    for name in a:
        assert a[name].dtype == b[name].dtype == np.float32
        assert np.array_equal(a[name], b[name], equal_nan=True), \
            f"{name}: {int(np.sum(~((a[name] == b[name]) | (np.isnan(a[name]) & np.isnan(b[name])))))} pixels differ"


def _image_folder(root: Path, shared: Path) -> Path:
    """NYU photos with sparse depth as a 16-bit mm PNG and as a float32 .npy [m] (random GT pixels)."""
    from lingbot_depth_ros.io.depth_files import load_depth_file, save_depth_png_mm
    from lingbot_depth_ros.synthetic.sparse_sampling import sample_random

    images = root / "images"
    (images / "sparse").mkdir(parents=True)
    for name, kind in (("00000", "png"), ("00050", "npy")):
        shutil.copy(shared / "nyu" / f"rgb_{name}.jpg", images / f"cam_{name}.jpg")
        sparse = sample_random(load_depth_file(shared / "nyu" / f"sync_depth_{name}.png"), n_points=2000, seed=1)
        if kind == "png":
            save_depth_png_mm(images / "sparse" / f"cam_{name}.png", sparse)
        else:
            np.save(images / "sparse" / f"cam_{name}.npy", (sparse * np.float32(1.0001)).astype(np.float32))
    return images


def test_predict_and_batch_give_bit_identical_depth_for_the_same_files(tmp_path: Path, shared_data: Path) -> None:
    """One conversion of the files on both paths: a mm PNG and a float .npy give batch the very float32 depth
    predict writes (before, 137 k of 297 k pixels differed, up to 2.3e-5 m: x float32(0.001) vs / 1000)."""
    images = _image_folder(tmp_path, shared_data)
    intrinsics = (518.8579, 519.46961, 325.58245, 253.73617)
    predicted = _predict(images, images / "sparse", tmp_path / "predict", intrinsics)
    summary = batch([images], tmp_path / "batch", dataset=DatasetOptions(intrinsics=intrinsics))
    assert summary["inputs"][0]["frames_ok"] == 2
    _assert_bit_identical(predicted, _batch_npy(tmp_path / "batch", "images"))


def test_batch_sparse_scale_reads_kitti_unit_files_like_predict(tmp_path: Path) -> None:
    """An image folder whose sparse/ PNGs are in KITTI's unit: --sparse-scale 1/256 on both commands, same depth."""
    drive = write_kitti_raw_drive(tmp_path / "drive", frames=2)
    images = tmp_path / "photos"
    shutil.copytree(drive / "image_02", images, ignore=shutil.ignore_patterns("*.txt"))
    shutil.copytree(drive / "velodyne_raw" / "image_02", images / "sparse")
    predicted = _predict(images, images / "sparse", tmp_path / "predict", K, "--sparse-scale", "1/256")
    assert main(["batch", str(images), "--out", str(tmp_path / "batch"), "--intrinsics", *map(str, K),
                 "--sparse-scale", "1/256", "--quiet"]) == 0
    _assert_bit_identical(predicted, _batch_npy(tmp_path / "batch", "photos"))
    assert 5.0 < float(np.nanmedian(next(iter(predicted.values())))) < 40.0  # metres, not x0.256


@pytest.mark.parametrize("given", ["image_02", "drive"])
def test_batch_accepts_the_kitti_raw_layout_that_fuse_reads(tmp_path: Path, given: str,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    """image_02/ + velodyne_raw/image_02/ + calib/: the image folder (as fuse takes it) or the drive folder; KITTI's
    1/256 m unit and the calibration's P_rect_02 by default; the same depth as predict with --sparse-scale 1/256
    (the batch used to take image_02/ for a plain image folder and fail every unit: no intrinsics)."""
    drive = write_kitti_raw_drive(tmp_path / "drive", frames=3)
    source = drive / "image_02" if given == "image_02" else drive
    out = tmp_path / "out"
    assert main(["batch", str(source), "--out", str(out), "--unit-frames", "2", "--quiet"]) == 0, \
        capsys.readouterr().err
    report = json.loads((out / "report.json").read_text())
    item = report["inputs"][0]
    assert (item["kind"], item["status"], item["frames_ok"]) == ("kitti_raw", "ok", 3)
    predicted = _predict(drive / "image_02", drive / "velodyne_raw" / "image_02", tmp_path / "predict", K,
                         "--sparse-scale", "1/256")
    _assert_bit_identical(predicted, _batch_npy(out, item["label"]))


def test_batch_on_the_shared_kitti_lidar_drive(tmp_path: Path, shared_data: Path) -> None:
    """The real drive in ../shared/data/kitti_lidar has this layout: batch reads its image_03 camera by name
    (--kitti-camera 03 on the drive folder) and gives predict's depth for the same frame."""
    drive = shared_data / "kitti_lidar"
    frames = tmp_path / "frames"  # two frames of camera 03 in the same layout (a short run)
    for sub in ("image_03", "velodyne_raw/image_03"):
        (frames / sub).mkdir(parents=True)
        for name in ("0000000000.png", "0000000001.png"):
            shutil.copy(drive / sub / name, frames / sub / name)
    shutil.copytree(drive / "calib", frames / "calib")
    out = tmp_path / "out"
    assert main(["batch", str(frames), "--kitti-camera", "03", "--out", str(out), "--quiet"]) == 0
    item = json.loads((out / "report.json").read_text())["inputs"][0]
    assert (item["kind"], item["frames_ok"]) == ("kitti_raw", 2)
    p_rect_03 = (721.5377, 721.5377, 609.5593, 172.854)
    predicted = _predict(frames / "image_03", frames / "velodyne_raw" / "image_03", tmp_path / "predict", p_rect_03,
                         "--sparse-scale", "1/256")
    _assert_bit_identical(predicted, _batch_npy(out, item["label"]))
    depth = predicted["0000000000"]
    assert 4.0 < float(np.nanpercentile(depth, 5)) and float(np.nanpercentile(depth, 95)) < 90.0


# ------------------------------------------------------------------------------ a tampered or damaged --out
@pytest.fixture(scope="module")
def finished_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(input folder, --out) of a finished batch: 3 KITTI raw frames in units of 1."""
    root = tmp_path_factory.mktemp("finished")
    drive = write_kitti_raw_drive(root / "drive", frames=3)
    out = root / "out"
    assert main(["batch", str(drive / "image_02"), "--out", str(out), "--unit-frames", "1", "--quiet"]) == 0
    return drive / "image_02", out


def _rerun(source: Path, out: Path) -> list[str]:
    return ["batch", str(source), "--out", str(out), "--unit-frames", "1", "--quiet"]


def _lines(out: Path) -> list[str]:
    return (out / "manifest.jsonl").read_text().splitlines()


def _set_line(out: Path, number: int, text: str) -> None:
    lines = _lines(out)
    lines[number - 1] = text
    (out / "manifest.jsonl").write_text("\n".join(lines) + "\n")


def _entry(out: Path, number: int = 1) -> dict:
    return json.loads(_lines(out)[number - 1])


def _valid_result_outside(out: Path) -> Path:
    """A result file outside --out that would pass every content check (reading it would be accepted)."""
    outside = out.parent / "outside_secret.json"
    outside.write_text((out / _entry(out)["result"]).read_text())
    return outside


def _tamper_no_result(out: Path) -> None:
    entry = _entry(out, 2)
    del entry["result"]
    _set_line(out, 2, json.dumps(entry))


def _tamper_list_line(out: Path) -> None:
    _set_line(out, 1, json.dumps(list(_entry(out).values())))


def _tamper_absolute_outside(out: Path) -> None:
    _set_line(out, 1, json.dumps({**_entry(out), "result": str(_valid_result_outside(out))}))


def _tamper_relative_outside(out: Path) -> None:
    _valid_result_outside(out)
    _set_line(out, 1, json.dumps({**_entry(out), "result": "units/../../outside_secret.json"}))


def _tamper_symlink_outside(out: Path) -> None:
    result = out / _entry(out)["result"]
    outside = _valid_result_outside(out)
    result.unlink()
    result.symlink_to(outside)


def _tamper_unknown_fields(out: Path) -> None:
    result = out / _entry(out, 3)["result"]
    result.write_text(json.dumps({**json.loads(result.read_text()), "injected": 1}))


def _tamper_result_not_json(out: Path) -> None:
    (out / _entry(out)["result"]).write_text("{not json")


def _tamper_other_units_result(out: Path) -> None:
    _set_line(out, 1, json.dumps({**_entry(out, 1), "result": _entry(out, 2)["result"]}))


def _tamper_run_json(out: Path) -> None:
    (out / "run.json").write_text("{\"values\": ")


def _tamper_inputs_json(out: Path) -> None:
    (out / "inputs.json").write_text("[1, 2")


def _tamper_inputs_escape(out: Path) -> None:
    (out / "inputs.json").write_text(json.dumps({"..": "/elsewhere"}))


def _tamper_manifest_folder(out: Path) -> None:
    (out / "manifest.jsonl").unlink()
    (out / "manifest.jsonl").mkdir()


def _tamper_mistyped_field(out: Path) -> None:
    _set_line(out, 2, json.dumps({**_entry(out, 2), "start": "0"}))


TAMPERING: list[tuple[Callable[[Path], None], str]] = [
    (_tamper_no_result, r"manifest\.jsonl:2: no 'result' field"),
    (_tamper_list_line, r"manifest\.jsonl:1: a JSON list, not an object"),
    (_tamper_absolute_outside, r"manifest\.jsonl:1: result: '/.*outside_secret\.json' leads outside --out"),
    (_tamper_relative_outside, r"manifest\.jsonl:1: result: 'units/\.\./\.\./outside_secret\.json' leads outside"),
    (_tamper_symlink_outside, r"manifest\.jsonl:1: result: 'units/.*\.json' leads outside --out .*outside_secret"),
    (_tamper_unknown_fields, r"manifest\.jsonl:3: result file units/.*\.json has unknown fields injected"),
    (_tamper_result_not_json, r"manifest\.jsonl:1: result file units/.*\.json is not JSON"),
    (_tamper_other_units_result, r"manifest\.jsonl:1: result file units/.* is for unit .*:1-2, the line for .*:0-1"),
    (_tamper_mistyped_field, r"manifest\.jsonl:2: 'start' is \"0\", expected integer"),
    (_tamper_run_json, r"run\.json: not JSON"),
    (_tamper_inputs_json, r"inputs\.json: not JSON"),
    (_tamper_inputs_escape, r"inputs\.json: entry '\.\.' is not output name -> input path"),
    (_tamper_manifest_folder, r"manifest\.jsonl is not a file"),
]


@pytest.mark.parametrize("tamper, message", TAMPERING, ids=[t.__name__[len("_tamper_"):] for t, _ in TAMPERING])
def test_a_tampered_out_folder_is_refused_with_one_line(finished_run: tuple[Path, Path], tmp_path: Path,
                                                        tamper: Callable[[Path], None], message: str,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    """Each damage: exit 2, exactly one line naming the file (and line) and what is wrong, no traceback, nothing
    redone or rewritten, and a path out of --out refused without its file being trusted (these outside files
    hold a valid result: reading and accepting them is what the check prevents)."""
    import re

    source, finished = finished_run
    out = tmp_path / "out"
    shutil.copytree(finished, out, symlinks=True)
    tamper(out)
    before = {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}
    assert main(_rerun(source, out)) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lingbot-depth batch: error: "), err
    assert re.search(message, err[0]), err[0]
    assert before == {p: p.stat().st_mtime_ns for p in out.rglob("*.npy")}


def test_a_unit_whose_result_file_is_gone_is_redone(finished_run: tuple[Path, Path], tmp_path: Path,
                                                   capsys: pytest.CaptureFixture[str]) -> None:
    """A manifest line is not trusted without its result file: that unit (and only it) is redone, with a warning
    naming the line; a line cut by a crash is ignored with a warning, and the next record starts on a line of its
    own (a third run then resumes everything)."""
    source, finished = finished_run
    out = tmp_path / "out"
    shutil.copytree(finished, out, symlinks=True)
    gone = _entry(out, 2)
    frame_name = json.loads((out / gone["result"]).read_text())["frames"][0]["name"]
    (out / gone["result"]).unlink()
    with open(out / "manifest.jsonl", "a") as manifest:
        manifest.write('{"unit": "cut by a cr')  # a crash in the middle of an append
    npy = out / gone["input"] / "depth_npy" / f"{frame_name}.npy"
    npy.unlink()
    assert main(_rerun(source, out)) == 0
    err = capsys.readouterr().err
    assert f"manifest.jsonl:2: the result file {gone['result']} of unit {gone['unit']} is missing: the unit is " \
           "redone" in err
    assert "manifest.jsonl:4: not a complete JSON line" in err and "Traceback" not in err
    report = json.loads((out / "report.json").read_text())["overall"]
    assert (report["resumed_units"], report["frames_this_run"], report["frames_ok"]) == (2, 1, 3)
    assert (out / gone["result"]).is_file() and npy.is_file()
    assert json.loads(_lines(out)[-1])["unit"] == gone["unit"]
    assert main(_rerun(source, out)) == 0
    again = json.loads((out / "report.json").read_text())["overall"]
    assert (again["resumed_units"], again["frames_this_run"]) == (3, 0)
