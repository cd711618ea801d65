"""``lingbot-depth batch`` on Ray with the temporal filter (issue 21): each bag's units on one worker in order (no
history restarts with two workers and several units per bag), temporal metrics beside accuracy in the reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

ray = pytest.importorskip("ray", reason="the batch extra (ray) is not installed: pip install '.[batch]'")

from lingbot_depth_ros.bags.datasets import write_scene_bag  # noqa: E402
from lingbot_depth_ros.cli.main import main  # noqa: E402


@pytest.fixture(scope="module", autouse=True)
def ray_session():
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def test_batch_filters_each_bag_in_order_and_reports_temporal_metrics(tmp_path: Path,
                                                                    capsys: pytest.CaptureFixture[str]) -> None:
    bags = []
    for name, seed in (("drive_a", 1), ("drive_b", 2)):
        write_scene_bag(tmp_path / name, 10, width=128, height=96, seed=seed, lidar_beams=16, lidar_points=False)
        bags.append(str(tmp_path / name))
    common = ["--workers", "2", "--unit-frames", "3", "--quiet"]
    assert main(["batch", *bags, "--out", str(tmp_path / "plain"), *common, "--temporal-metrics", "on"]) == 0
    assert main(["batch", bags[0], "--out", str(tmp_path / "default"), *common]) == 0   # no stage: not measured
    default = json.loads((tmp_path / "default" / "report.json").read_text())["inputs"][0]["temporal"]
    assert default["poses"].startswith("not measured") and default["consistency_pairs"] == 0
    assert main(["batch", *bags, "--out", str(tmp_path / "filtered"), *common, "--param", "temporal.enabled=true",
                 "--param", "temporal.pose_source=pose"]) == 0
    out = capsys.readouterr().out
    assert out.count("temporal: consistency error") == 2 and "history resets: none" in out   # not for 'default'
    plain = json.loads((tmp_path / "plain" / "report.json").read_text())
    filtered = json.loads((tmp_path / "filtered" / "report.json").read_text())
    for before, after in zip(plain["inputs"], filtered["inputs"]):
        assert after["temporal"]["resets"] == {}, after["temporal"]["announcements"]   # 4 units, one history
        assert after["temporal"]["consistency_pairs"] == 9   # every consecutive pair, across the unit borders
        assert 6 <= before["temporal"]["consistency_pairs"] <= 9   # without the stage units run apart: pairs within
        assert after["temporal"]["consistency_error_m"] < 0.9 * before["temporal"]["consistency_error_m"]
        assert after["metrics"]["rmse_mm"] > 0 and after["temporal"]["poses"] == "yes"
    for report in ("report.md", "report.html"):
        text = (tmp_path / "filtered" / report).read_text()
        assert "Temporal" in text and "consistency error [mm]" in text


def test_ray_data_reading_carries_the_poses_to_the_workers(tmp_path: Path) -> None:
    write_scene_bag(tmp_path / "drive", 8, width=96, height=72, seed=3, lidar_beams=16, lidar_points=False)
    assert main(["batch", str(tmp_path / "drive"), "--out", str(tmp_path / "out"), "--read", "data", "--workers", "1",
                 "--unit-frames", "4", "--quiet", "--param", "temporal.enabled=true",
                 "--param", "temporal.pose_source=pose"]) == 0
    temporal = json.loads((tmp_path / "out" / "report.json").read_text())["inputs"][0]["temporal"]
    assert temporal["poses"] == "yes" and temporal["consistency_pairs"] == 7
    assert temporal["resets"] == {}   # blocks arrive in any order: the worker still gets them in frame order
