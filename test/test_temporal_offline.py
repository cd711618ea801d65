"""The temporal stage in the offline runs (issue 21): batch workers per input in order, poses from a bag's pose topic
or a pose file, temporal metrics and resets in the report; bad pose input as a one-line error or a counted reset."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from lingbot_depth_ros.bags.datasets import write_scene_bag
from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.batch.poses import PoseOptions, PoseTrack, load_pose_file
from lingbot_depth_ros.batch.report import _temporal, summarize, temporal_lines
from lingbot_depth_ros.batch.runner import RunOutcome
from lingbot_depth_ros.batch.sequence_order import SequenceLanes
from lingbot_depth_ros.batch.sources import BagTopics, Unit, plan_input, read_unit
from lingbot_depth_ros.batch.worker import SEQUENCE_SPLIT, UnitProcessor, UnitResult, WorkerConfig
from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.errors import InputError

FILTER_ON = ["temporal.enabled=true", "temporal.pose_source=pose"]


@pytest.fixture(scope="module")
def scene_bag(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """12 frames of the procedural scene with its exact camera poses on /camera/pose."""
    path = tmp_path_factory.mktemp("temporal") / "scene"
    write_scene_bag(path, 12, width=160, height=120, seed=1, lidar_beams=16, lidar_points=False)
    return path


def _run(bag: Path, out: Path, params: list[str], unit_frames: int = 5,
         processors: int = 1) -> tuple[list[UnitResult], dict[str, np.ndarray]]:
    """The bag's units through ``processors`` workers taking turns (1: every unit on one worker, in order)."""
    values = node_values(params)
    workers = [UnitProcessor(WorkerConfig(values=values, out_dir=str(out), temporal_metrics=True))
               for _ in range(processors)]
    results = [workers[i % processors].process_unit(unit)
               for i, unit in enumerate(plan_input("scene", bag, BagTopics(), unit_frames))]
    depth = {p.stem: np.load(p) for p in sorted((out / "scene" / "depth_npy").glob("*.npy"))}
    return results, depth


def test_filtered_batch_output_differs_and_is_more_consistent(scene_bag: Path, tmp_path: Path) -> None:
    plain, plain_depth = _run(scene_bag, tmp_path / "plain", [])
    filtered, filtered_depth = _run(scene_bag, tmp_path / "filtered", FILTER_ON)
    assert plain_depth.keys() == filtered_depth.keys() and len(plain_depth) == 12
    first = min(plain_depth)
    np.testing.assert_array_equal(plain_depth[first], filtered_depth[first])   # no history yet
    assert any(not np.array_equal(plain_depth[k], filtered_depth[k], equal_nan=True) for k in plain_depth)
    plain_t, _ = _temporal(plain)
    filtered_t, _ = _temporal(filtered)
    assert plain_t["poses"] == filtered_t["poses"] == "yes"   # the bag's /camera/pose
    assert plain_t["consistency_pairs"] == filtered_t["consistency_pairs"] == 11   # across the unit borders too
    assert filtered_t["consistency_error_m"] < 0.9 * plain_t["consistency_error_m"]
    assert filtered_t["resets"] == {} and not filtered_t["announcements"]
    assert all("temporal" in f["timings_s"] for r in filtered for f in r.frames)


def test_a_unit_run_apart_from_the_one_before_starts_the_history_again(scene_bag: Path, tmp_path: Path) -> None:
    in_order, in_order_depth = _run(scene_bag, tmp_path / "one", FILTER_ON)
    split, split_depth = _run(scene_bag, tmp_path / "two", FILTER_ON, processors=2)   # workers take turns
    t, _ = _temporal(split)
    assert t["resets"] == {SEQUENCE_SPLIT: 2}   # units 2 and 3 did not follow their worker's last unit
    assert any(SEQUENCE_SPLIT in text and text.startswith("frame 5:") for text in t["announcements"])
    names = sorted(in_order_depth)
    np.testing.assert_array_equal(in_order_depth[names[4]], split_depth[names[4]])
    assert not np.array_equal(in_order_depth[names[5]], split_depth[names[5]], equal_nan=True)  # restarted
    assert _temporal(in_order)[0]["resets"] == {}


def test_multi_sweep_lidar_feeds_the_estimator_a_denser_input(scene_bag: Path, tmp_path: Path) -> None:
    _, one = _run(scene_bag, tmp_path / "one", [])
    _, three = _run(scene_bag, tmp_path / "three", ["temporal.lidar_sweeps=3", "temporal.pose_source=pose"])
    names = sorted(one)
    np.testing.assert_array_equal(one[names[0]], three[names[0]])   # the first frame has no older sweep
    assert not np.array_equal(one[names[3]], three[names[3]], equal_nan=True)


def test_sequence_lanes_keep_each_input_in_order_on_one_worker() -> None:
    units = [Unit(i, "bag", "x", s, s + 2) for i in ("a", "b") for s in (0, 2, 4)]
    lanes, pending = SequenceLanes(in_order=True), list(units)
    w1, w2, w3 = object(), object(), object()
    assert lanes.take(w1, pending) == units[0]
    assert lanes.take(w2, pending) == units[3]   # input a is w1's
    assert lanes.take(w3, pending) is None       # both inputs held: w3 waits
    assert [lanes.take(w1, pending), lanes.take(w1, pending)] == units[1:3]
    lanes.drop_worker(w2)                        # w2 died: its input goes to the next idle worker
    assert lanes.take(w3, pending) == units[4]
    assert lanes.take(w1, pending) is None       # a is done, b is w3's
    free = SequenceLanes(in_order=False)
    pending = list(units)
    assert [free.take(w1, pending), free.take(w2, pending)] == units[:2]   # without the stage: any unit


def _pose_msg(q: tuple[float, float, float, float], t: tuple[float, float, float] = (0.0, 0.0, 0.0)) -> object:
    position = SimpleNamespace(x=t[0], y=t[1], z=t[2])
    orientation = SimpleNamespace(x=q[0], y=q[1], z=q[2], w=q[3])
    return SimpleNamespace(pose=SimpleNamespace(position=position, orientation=orientation))


def test_corrupt_or_missing_bag_poses_are_problems_of_their_frames() -> None:
    options = PoseOptions(source="pose", max_age_s=0.1)
    track = PoseTrack(options.max_age_s)
    track.add_message(_pose_msg((0, 0, 0, 1)), options, 0)
    track.add_message(_pose_msg((0, 0, 0, 1), (0.2, 0, 0)), options, 200_000_000)
    track.add_message(_pose_msg((0, 0, 0, 1.3)), options, 400_000_000)
    track.add_message(_pose_msg((0, 0, 0, float("nan"))), options, 600_000_000)
    pose, problem = track.at(100_000_000)
    assert problem is None and pose is not None and pose[0, 3] == pytest.approx(0.1)   # interpolated
    assert track.at(400_000_000) == (None, "a pose with a non-unit quaternion (norm 1.3)")
    assert track.at(600_000_000)[1] == "a pose with NaN or infinite values"
    assert track.at(900_000_000)[1] == "no pose within 0.1 s of the image stamp"


def test_frames_without_a_usable_pose_are_counted_resets_not_errors(scene_bag: Path, tmp_path: Path) -> None:
    values = node_values(FILTER_ON)
    worker = UnitProcessor(WorkerConfig(values=values, out_dir=str(tmp_path), temporal_metrics=True))
    unit = plan_input("scene", scene_bag, BagTopics(), 12)[0]
    frames = list(read_unit(unit, BagTopics(), worker.config.dataset, poses=worker.poses))
    assert all(f.world_T_camera is not None for f in frames)
    for frame in frames[4:6]:
        frame.world_T_camera, frame.pose_problem = None, "a pose with a non-unit quaternion (norm 1.3)"
    result = worker.process_frames(unit, iter(frames))
    assert [f["status"] for f in result.frames] == ["ok"] * 12
    assert result.temporal["resets"] == {"pose missing": 3}   # frames 4, 5 and 6 (its history has no pose)
    announced = [f for f in result.frames if "temporal_reset" in f]
    assert len(announced) == 1 and "non-unit quaternion" in announced[0]["temporal_reset"]   # said once
    assert announced[0]["index"] == 4
    assert result.temporal["metrics"]["pairs"] == 11 - 3   # no pair with frame 4 or 5 (3-4, 4-5, 5-6)


@pytest.mark.parametrize(("content", "message"), [
    ("1 0 0 0 0 1 0 0 0 0 1 0\n" * 11 + "1 0 0 nan 0 1 0 0 0 0 1 0\n", "poses.txt"),
    ("".join(f"{i} 0 0 0 0 0 0 1\n" for i in range(11)) + "11 0 0 0 0 0 0 1.4\n", "quaternion of norm 1.4"),
    ("1 0 0 0 0 1 0 0 0 0 1 0\n" * 3, "has 3 poses for 12 frames"),
])
def test_a_bad_pose_file_is_a_one_line_error(tmp_path: Path, capsys: pytest.CaptureFixture[str], content: str,
                                             message: str) -> None:
    folder = _image_folder(tmp_path / "images", 12)
    poses = folder / "poses.txt"
    poses.write_text(content)
    with pytest.raises(InputError, match=message.split()[0]):
        load_pose_file(poses, [f"{i:04d}.png" for i in range(12)])
    code = main(["batch", str(folder), "--out", str(tmp_path / "out"), "--param", "temporal.enabled=true",
                 "--param", "temporal.pose_source=pose", "--intrinsics", "40", "40", "15.5", "11.5"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and message in err and "Traceback" not in err


def test_pose_options_are_checked_before_a_run(tmp_path: Path, scene_bag: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    folder = _image_folder(tmp_path / "images", 3)
    common = ["--out", str(tmp_path / "out"), "--intrinsics", "40", "40", "15.5", "11.5"]
    assert main(["batch", str(folder), *common, "--param", "temporal.pose_source=pose"]) == 2
    assert "has no poses" in capsys.readouterr().err
    assert main(["batch", str(scene_bag), "--poses", str(tmp_path / "p.txt"), *common]) == 2
    assert "--poses is for folder inputs" in capsys.readouterr().err
    assert main(["batch", str(scene_bag), *common, "--param", "temporal.pose_source=odometry",
                 "--odom-topic", "/nothing"]) == 2
    assert "has no /nothing for temporal.pose_source odometry" in capsys.readouterr().err


def test_the_report_shows_temporal_metrics_beside_accuracy(scene_bag: Path, tmp_path: Path) -> None:
    results, _ = _run(scene_bag, tmp_path / "o", FILTER_ON, processors=2)
    outcome = RunOutcome(input_ids={"scene": str(scene_bag)}, kinds={"scene": "bag"}, results=results,
                         input_errors={}, unit_errors={}, resumed_units=0, retried_units=0, wall_s=1.0)
    summary = summarize(outcome)
    temporal = summary["inputs"][0]["temporal"]
    assert temporal["consistency_error_m"] > 0 and temporal["resets"] == {SEQUENCE_SPLIT: 2}
    assert summary["overall"]["temporal"]["consistency_error_m"] == pytest.approx(temporal["consistency_error_m"])
    json.dumps(summary)
    lines = temporal_lines(summary)
    assert lines[1] == "## Temporal"
    row = next(line for line in "\n".join(lines).splitlines() if line.startswith("| scene |"))
    assert f"{temporal['consistency_error_m'] * 1000:.1f}" in row and "sequence split: 2" in row
    restored = UnitResult(**json.loads(json.dumps(dataclasses.asdict(results[0]))))   # the manifest's round trip
    assert restored.temporal["metrics"]["pairs"] == results[0].temporal["metrics"]["pairs"]


def _image_folder(folder: Path, frames: int) -> Path:
    from PIL import Image

    folder.mkdir(parents=True)
    (folder / "sparse").mkdir()
    rng = np.random.default_rng(0)
    for i in range(frames):
        Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8)).save(folder / f"{i:04d}.png")
        sparse = np.zeros((24, 32), np.uint16)
        sparse[::4, ::4] = 3000
        Image.fromarray(sparse).save(folder / "sparse" / f"{i:04d}.png")
    return folder


# ---------------------------------------------------------------------------------- predict over a folder
def _predict_kitti(shared_data: Path, out: Path, *extra: str) -> int:
    k = shared_data / "kitti_lidar"
    return main(["predict", str(k / "image_02"), "--sparse-depth", str(k / "velodyne_raw" / "image_02"),
                 "--sparse-scale", str(1 / 256), "--intrinsics", "721.5377", "721.5377", "609.5593", "172.854",
                 "--poses", str(k / "image_02" / "poses.txt"), "--out", str(out), "--quiet", *extra])


def test_predict_filters_the_real_kitti_sequence_with_its_poses(shared_data: Path, tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    assert _predict_kitti(shared_data, tmp_path / "plain") == 0
    assert _predict_kitti(shared_data, tmp_path / "filtered", "--param", "temporal.enabled=true",
                          "--param", "temporal.pose_source=pose", "--confidence") == 0
    err = capsys.readouterr().err
    assert "temporal: consistency error" in err and "Traceback" not in err
    plain = json.loads((tmp_path / "plain" / "temporal.json").read_text())
    filtered = json.loads((tmp_path / "filtered" / "temporal.json").read_text())
    assert plain["consistency_pairs"] == filtered["consistency_pairs"] == 6 and filtered["resets"] == {}
    assert filtered["consistency_error_m"] < 0.95 * plain["consistency_error_m"]
    first = np.load(tmp_path / "plain" / "0000000000_depth.npy")
    np.testing.assert_array_equal(first, np.load(tmp_path / "filtered" / "0000000000_depth.npy"))
    last_plain = np.load(tmp_path / "plain" / "0000000006_depth.npy")
    last = np.load(tmp_path / "filtered" / "0000000006_depth.npy")
    assert not np.array_equal(last_plain, last, equal_nan=True)
    confidence = np.load(tmp_path / "filtered" / "0000000006_confidence.npy")
    np.testing.assert_array_equal(np.isnan(confidence), np.isnan(last))   # NaN exactly where the depth is


def test_predict_refuses_bad_poses_and_parameters_in_one_line(shared_data: Path, tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    short = tmp_path / "short.txt"
    short.write_text("1 0 0 0 0 1 0 0 0 0 1 0\n" * 3)
    nan = tmp_path / "nan.txt"
    nan.write_text("0 0 0 0 0 0 0 1\n" * 6 + "0 nan 0 0 0 0 0 1\n")
    for extra, message in (
            (["--poses", str(short)], "has 3 poses for 7 frames"),
            (["--poses", str(nan)], "nan.txt:7"),
            (["--param", "depth.max_m=50"], "predict takes only temporal.* parameters"),
            (["--param", "temporal.lidar_sweeps=99"], "temporal.lidar_sweeps")):
        k = shared_data / "kitti_lidar"
        code = main(["predict", str(k / "image_02"), "--out", str(tmp_path / "o"), "--quiet", *extra])
        err = capsys.readouterr().err.strip()
        assert code == 2 and len(err.splitlines()) == 1 and message in err and "Traceback" not in err, err


# ---------------------------------------------------------------------------------- lingbot-depth-eval's report
def test_eval_report_scores_temporal_consistency_with_the_bags_ground_truth_poses(scene_bag: Path,
                                                                                 tmp_path: Path) -> None:
    from lingbot_depth_ros.evaluation.frames import FrameOutcome, RunResult
    from lingbot_depth_ros.evaluation.replay import load_bag
    from lingbot_depth_ros.evaluation.report import write_report

    bag = load_bag(scene_bag)
    assert all(f.inputs.camera_pose is not None and f.inputs.intrinsics is not None for f in bag.frames)
    rng = np.random.default_rng(0)
    runs = []
    for label, noise_m in (("steady", 0.0), ("flickering", 0.2)):
        predictions = {}
        for f in bag.frames[::5]:   # frames 0, 5, 10 answered (the others dropped): 6 cm of motion between them
            gt = f.inputs.depth_gt_m
            assert gt is not None
            noisy = gt + noise_m * rng.standard_normal(gt.shape).astype(np.float32)
            predictions[f.index] = np.where(gt > 0, noisy, np.nan).astype(np.float32)
        outcomes = [FrameOutcome(f.index, f.stamp_ns, answered=f.index in predictions) for f in bag.frames]
        runs.append(RunResult(label=label, outcomes=outcomes, predictions=predictions))
    paths = write_report(tmp_path, bag.inputs, runs, max_pictures=0)
    steady, flickering = (r["temporal"] for r in json.loads(paths.json.read_text())["runs"])
    assert steady["poses"] == "ground truth" and steady["consistency_pairs"] == 2
    assert steady["consistency_error_m"] < 0.05   # the ground truth itself, warped with the exact poses (rounding)
    # (taken for a standing camera the same frames are 0.12 m apart)
    assert flickering["consistency_error_m"] > steady["consistency_error_m"] + 0.15   # |N(0, .2) - N(0, .2)| ~ .23
    markdown = paths.markdown.read_text()
    assert "## Temporal" in markdown and "| flickering | ground truth |" in markdown
    assert "consistency error [mm]" in paths.html.read_text()


def test_sequence_lanes_wait_for_the_next_unit_of_an_input() -> None:
    units = [Unit("a", "bag", "x", s, s + 2) for s in (0, 2, 6)]   # 4-6 finished in an earlier run
    lanes, worker = SequenceLanes(in_order=True, units=units), object()
    pending = [units[1]]   # Ray Data read unit 2-4 first
    assert lanes.take(worker, pending) is None
    pending.append(units[0])
    assert lanes.take(worker, pending) == units[0]
    assert lanes.take(worker, pending) == units[1]
    pending.append(units[2])
    assert lanes.take(worker, pending) == units[2]   # past the finished unit
    lanes.drop_worker(worker, units[2])               # it died running 6-8: the unit runs again
    other = object()
    assert lanes.take(other, [units[2]]) == units[2]


def test_predict_at_a_standing_camera_flickers_less_with_the_filter(shared_data: Path, tmp_path: Path) -> None:
    """The issue's measurement: one real KITTI frame again and again, each time a different random 30 % of its
    LiDAR returns missing (a standing camera: no poses)."""
    from PIL import Image

    k = shared_data / "kitti_lidar"
    lidar = np.asarray(Image.open(k / "velodyne_raw" / "image_02" / "0000000000.png"))
    rgb = (k / "image_02" / "0000000000.png").read_bytes()
    (tmp_path / "images").mkdir()
    (tmp_path / "sparse").mkdir()
    rng = np.random.default_rng(7)
    for i in range(8):
        (tmp_path / "images" / f"{i:02d}.png").write_bytes(rgb)
        Image.fromarray(np.where(rng.random(lidar.shape) < 0.3, 0, lidar).astype(np.uint16)).save(
            tmp_path / "sparse" / f"{i:02d}.png")
    figures = {}
    for name, extra in (("plain", []), ("filtered", ["--param", "temporal.enabled=true"])):
        assert main(["predict", str(tmp_path / "images"), "--sparse-depth", str(tmp_path / "sparse"),
                     "--sparse-scale", str(1 / 256), "--intrinsics", "721.5377", "721.5377", "609.5593", "172.854",
                     "--out", str(tmp_path / name), "--quiet", "--param", "temporal.pose_source=none", *extra]) == 0
        figures[name] = json.loads((tmp_path / name / "temporal.json").read_text())
    plain, filtered = figures["plain"], figures["filtered"]
    assert plain["standing_frames"] == filtered["standing_frames"] == 8
    assert plain["flicker_m"] > 0.05   # the unfiltered completion moves with the dropouts
    assert filtered["flicker_m"] < 0.9 * plain["flicker_m"]   # measured 0.307 -> 0.231 m (defaults, classical)
    assert filtered["consistency_error_m"] < plain["consistency_error_m"]


def test_batch_reads_a_kitti_raw_drives_poses_txt_and_filters_it(shared_data: Path, tmp_path: Path) -> None:
    """The real kitti_lidar drive as a batch input (KITTI raw layout): poses.txt beside image_02 is found and used."""
    from lingbot_depth_ros.batch.sources import DatasetOptions, detect_kind

    drive = shared_data / "kitti_lidar"
    assert detect_kind(drive) == "kitti_raw"
    summaries = {}
    for name, params in (("plain", []), ("filtered", FILTER_ON)):
        worker = UnitProcessor(WorkerConfig(values=node_values(params), out_dir=str(tmp_path / name),
                                            dataset=DatasetOptions(), temporal_metrics=True))
        units = plan_input("drive", drive, BagTopics(), 4)
        results = [worker.process_unit(unit) for unit in units]
        assert [f["status"] for r in results for f in r.frames] == ["ok"] * 7
        summaries[name] = _temporal(results)[0]
    plain, filtered = summaries["plain"], summaries["filtered"]
    assert plain["poses"] == filtered["poses"] == "yes" and filtered["consistency_pairs"] == 6
    assert filtered["resets"] == {}
    assert filtered["consistency_error_m"] < 0.95 * plain["consistency_error_m"]


def test_predict_says_a_pose_jump_reset_once_and_counts_it(shared_data: Path, tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    k = shared_data / "kitti_lidar"
    rows = [np.array(line.split(), float) for line in (k / "image_02" / "poses.txt").read_text().splitlines()]
    for row in rows[3:]:
        row[3] += 50.0   # a relocalisation: the camera 'jumps' 50 m sideways before frame 3
    jumped = tmp_path / "jumped.txt"
    jumped.write_text("".join(" ".join(f"{v:.9g}" for v in row) + "\n" for row in rows))
    assert main(["predict", str(k / "image_02"), "--sparse-depth", str(k / "velodyne_raw" / "image_02"),
                 "--sparse-scale", str(1 / 256), "--intrinsics", "721.5377", "721.5377", "609.5593", "172.854",
                 "--poses", str(jumped), "--out", str(tmp_path / "o"), "--quiet", "--param", "temporal.enabled=true",
                 "--param", "temporal.pose_source=pose", "--param", "temporal.max_jump_m=5"]) == 0
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "history reset" in line]
    assert len(said) == 1 and "0000000003.png" in said[0] and "camera jumped" in said[0], err
    summary = json.loads((tmp_path / "o" / "temporal.json").read_text())
    assert summary["resets"] == {"camera jumped": 1} and len(summary["announcements"]) == 1


def test_tf_and_odometry_sources_give_the_pose_topics_poses(scene_bag: Path, tmp_path: Path) -> None:
    """The scene bag carries one camera motion three ways: /camera/pose, /tf map -> optical frame, /camera/odom of
    camera_link (optical = body x the REP 103 rotation, so the mounting is zero)."""
    _, by_pose = _run(scene_bag, tmp_path / "pose", FILTER_ON)
    _, by_tf = _run(scene_bag, tmp_path / "tf", ["temporal.enabled=true", "temporal.pose_source=tf",
                                                 "temporal.fixed_frame=map"])
    _, by_odom = _run(scene_bag, tmp_path / "odom", ["temporal.enabled=true", "temporal.pose_source=odometry"])
    for name in by_pose:
        np.testing.assert_allclose(by_tf[name], by_pose[name], rtol=1e-5, atol=1e-5, equal_nan=True)
        np.testing.assert_allclose(by_odom[name], by_pose[name], rtol=1e-4, atol=1e-4, equal_nan=True)
    missing, _ = _run(scene_bag, tmp_path / "none", ["temporal.enabled=true", "temporal.pose_source=tf"])
    assert _temporal(missing)[0]["resets"] == {"pose missing": 11}   # fixed frame odom: no such transform


def test_a_bag_image_of_another_frame_id_resets_the_history_once(scene_bag: Path, tmp_path: Path) -> None:
    worker = UnitProcessor(WorkerConfig(values=node_values(FILTER_ON), out_dir=str(tmp_path), temporal_metrics=True))
    unit = plan_input("scene", scene_bag, BagTopics(), 12)[0]
    frames = list(read_unit(unit, BagTopics(), worker.config.dataset, poses=worker.poses))
    for frame in frames[6:]:   # another camera on the topic from frame 6 on
        frame.extras["header"] = SimpleNamespace(frame_id="other_camera_optical_frame")
    result = worker.process_frames(unit, iter(frames))
    assert result.temporal["resets"] == {"frame changed": 1}
    said = [f["temporal_reset"] for f in result.frames if "temporal_reset" in f]
    assert len(said) == 1 and "-> 'other_camera_optical_frame'" in said[0]
