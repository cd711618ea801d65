"""``lingbot-depth fuse``: a scene bag with its pose topic, the real KITTI frames with their poses, and the
one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import numpy as np

from lingbot_depth_ros.bags.datasets import scene_frames, write_scene_bag
from lingbot_depth_ros.bags.files import read_frames, write_bag
from lingbot_depth_ros.cli.main import main
from lingbot_depth_ros.fusion.ground_truth import distance_to_layout, nearest_distance
from lingbot_depth_ros.fusion.poses import read_pose_file
from lingbot_depth_ros.io.ply import read_ply
from lingbot_depth_ros.synthetic import SceneGenerator


def test_fuse_scene_bag_with_its_pose_topic(tmp_path: Path, capsys) -> None:
    bag = tmp_path / "bag"
    write_scene_bag(bag, 6, width=160, height=120, seed=1)
    gen = SceneGenerator(width=160, height=120, seed=1)
    frames = list(read_frames(bag))
    assert all(np.allclose(f.camera_pose, gen.pose_at(i), atol=1e-9) for i, f in enumerate(frames))
    assert main(["fuse", str(bag), "--out", str(tmp_path / "out"), "--voxel", "0.05", "--max-depth", "5",
                 "--quiet"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["frames"] == 6 and summary["estimator"] == "classical"
    xyz, rgb = read_ply(tmp_path / "out" / "fused.ply")
    assert len(xyz) == summary["points"] > 1000 and rgb is not None
    layout = gen.layout
    dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                              np.array([b.hi for b in layout.boxes]))
    assert np.percentile(dist, 95) <= 0.1  # 2 voxels
    assert b"element face" in (tmp_path / "out" / "mesh.ply").read_bytes()[:400]
    assert (tmp_path / "out" / "fused_top.png").stat().st_size > 1000


def test_scene_bag_pose_topics_and_tum_poses_at_the_image_stamps(tmp_path: Path, capsys) -> None:
    from lingbot_depth_ros.bags.files import BODY_FROM_OPTICAL, read_raw
    from lingbot_depth_ros.bags.messages import TYPESTORE
    from lingbot_depth_ros.fusion.poses import pose_to_translation_quaternion
    from lingbot_depth_ros.messages.poses import matrix_from_pose, matrix_from_tf

    bag = tmp_path / "bag"
    write_scene_bag(bag, 3, width=96, height=72, seed=2)
    gen = SceneGenerator(width=96, height=72, seed=2)
    by_topic: dict[str, list[np.ndarray]] = {"/tf": [], "/camera/odom": []}
    for raw in read_raw(bag, list(by_topic)):
        msg = TYPESTORE.deserialize_cdr(raw.data, raw.msgtype)
        by_topic[raw.topic].append(matrix_from_tf(msg) if raw.topic == "/tf" else matrix_from_pose(msg))
    for i in range(3):
        np.testing.assert_allclose(by_topic["/tf"][i], gen.pose_at(i), atol=1e-9)
        np.testing.assert_allclose(by_topic["/camera/odom"][i] @ BODY_FROM_OPTICAL, gen.pose_at(i), atol=1e-9)
    # A TUM file sampled half-way between the frames: fuse interpolates it to each image stamp.
    tum = tmp_path / "traj.tum"
    rows = []
    for k in range(-1, 4):
        t, q = pose_to_translation_quaternion(gen.pose_at(k + 0.5))  # type: ignore[arg-type]
        rows.append(f"{(gen.stamp_ns(0) + (k + 0.5) * 1e8) / 1e9:.6f} " + " ".join(f"{v:.9f}" for v in [*t, *q]))
    tum.write_text("\n".join(rows))
    assert main(["fuse", str(bag), "--out", str(tmp_path / "o"), "--poses", str(tum), "--voxel", "0.08",
                 "--no-picture", "--quiet"]) == 0
    assert main(["fuse", str(bag), "--out", str(tmp_path / "exact"), "--voxel", "0.08", "--no-picture",
                 "--quiet"]) == 0
    # Interpolating half-frame samples is within 0.6 mm of the exact poses: the two maps coincide.
    interpolated, _ = read_ply(tmp_path / "o" / "fused.ply")
    exact, _ = read_ply(tmp_path / "exact" / "fused.ply")
    assert len(exact) > 300 and abs(len(interpolated) - len(exact)) <= 0.02 * len(exact)
    assert np.percentile(nearest_distance(interpolated, exact, 0.08), 95) <= 0.02
    late = tmp_path / "late.tum"
    late.write_text("\n".join(rows[3:]))
    assert main(["fuse", str(bag), "--out", str(tmp_path / "o2"), "--poses", str(late), "--quiet"]) == 2
    assert "before the first pose" in capsys.readouterr().err


def test_fuse_errors_are_one_line(tmp_path: Path, capsys) -> None:
    bag = tmp_path / "bag"
    write_scene_bag(bag, 2, width=64, height=48)
    poses = tmp_path / "poses.txt"
    poses.write_text("0 0 0 0 0 0 1\n")
    assert main(["fuse", str(bag), "--out", str(tmp_path / "o"), "--poses", str(poses), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "1 poses for 2 frames" in err
    assert main(["fuse", str(tmp_path / "absent"), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "does not exist" in capsys.readouterr().err
    images = tmp_path / "images"
    images.mkdir()
    assert main(["fuse", str(images), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert "no .png/.jpg images" in capsys.readouterr().err


def test_fuse_without_poses_or_depth_is_one_line(tmp_path: Path, capsys) -> None:
    """A bag without a pose topic (and no --poses), an image folder with neither --sparse nor --depth: exit 2."""
    bag = tmp_path / "unposed"
    frames = list(scene_frames(2, width=64, height=48, lidar_points=False))
    for frame in frames:
        frame.camera_pose = None
    write_bag(bag, frames)
    assert main(["fuse", str(bag), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "no pose for 2 frames" in err and "give --poses FILE" in err, err
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "0000.png"), np.zeros((48, 64, 3), np.uint8))
    assert main(["fuse", str(images), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "give --sparse DIR" in err, err


def test_fuse_real_kitti_frames_with_their_poses(shared_data: Path, tmp_path: Path, capsys) -> None:
    """The 7 KITTI frames fused with their poses: the LiDAR returns of every frame, moved into the map by
    the same poses, land on the fused surface; with all poses set to identity they do not."""
    kitti = shared_data / "kitti_lidar"
    folder = kitti / "image_02"
    voxel = 0.2
    assert main(["fuse", str(folder), "--out", str(tmp_path / "true"), "--voxel", str(voxel), "--max-depth", "30",
                 "--quiet"]) == 0
    identity = tmp_path / "identity.txt"
    identity.write_text("\n".join("1 0 0 0 0 1 0 0 0 0 1 0" for _ in range(7)))
    assert main(["fuse", str(folder), "--out", str(tmp_path / "wrong"), "--poses", str(identity), "--voxel",
                 str(voxel), "--max-depth", "30", "--no-picture", "--quiet"]) == 0
    capsys.readouterr()
    from lingbot_depth_ros.geometry.pointcloud import backproject
    from lingbot_depth_ros.io.kitti import kitti_intrinsics, load_kitti_depth_png

    poses, _ = read_pose_file(folder / "poses.txt")
    lidar = []
    for i in range(7):
        sparse = load_kitti_depth_png(kitti / "velodyne_raw" / "image_02" / f"{i:010d}.png")
        sparse[sparse > 30] = 0
        k = kitti_intrinsics(kitti / "calib" / "calib_cam_to_cam.txt", sparse.shape[1], sparse.shape[0])
        cam = backproject(sparse, k).reshape(-1, 3)
        cam = cam[np.isfinite(cam).all(axis=1)]
        lidar.append(cam @ poses[i][:3, :3].T + poses[i][:3, 3])
    lidar_map = np.concatenate(lidar)[::5]
    fused_true, _ = read_ply(tmp_path / "true" / "fused.ply")
    fused_wrong, _ = read_ply(tmp_path / "wrong" / "fused.ply")
    # measured: 0.88 of the returns within 2 voxels with the true poses, 0.77 with identity poses
    near_true = np.isfinite(nearest_distance(lidar_map, fused_true, 2 * voxel)).mean()
    near_wrong = np.isfinite(nearest_distance(lidar_map, fused_wrong, 2 * voxel)).mean()
    assert near_true >= 0.85, (near_true, near_wrong)
    assert near_wrong < near_true - 0.08, (near_true, near_wrong)
    assert (tmp_path / "true" / "fused_top.png").is_file()
