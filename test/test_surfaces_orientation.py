"""Surface normals point towards the camera(s) that saw them (n . (camera_centre - p) > 0), on the procedural
demo scene (lingbot_depth_ros/scene) and a hand-made box seen from both sides; the coplanar merge ignores the
sign of the fitted normals."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.geometry.pointcloud import backproject
from lingbot_depth_ros.geometry.transforms import RigidTransform
from lingbot_depth_ros.surfaces import SurfaceConfig, find_surfaces_in_cloud, find_surfaces_in_depth, schema_errors
from lingbot_depth_ros.surfaces.merge import merge_coplanar
from lingbot_depth_ros.surfaces.planes import PlaneFit
from lingbot_depth_ros.synthetic import SceneGenerator


def _faces_cameras(surface_normal: np.ndarray, centroid: np.ndarray, cameras: np.ndarray) -> float:
    """Fraction of ``cameras`` (M, 3) on the side the normal points to."""
    return float(((cameras - centroid) @ surface_normal > 0).mean())


def _side_walls(surfaces: list, half_width_m: float) -> dict[int, np.ndarray]:
    """Normals of the room's two side walls (|y| = half width), keyed by the sign of their y."""
    walls = {}
    for s in surfaces:
        if s.kind == "vertical" and abs(abs(s.centroid[1]) - half_width_m) < 0.05:
            walls.setdefault(int(np.sign(s.centroid[1])), s.normal)
    return walls


@pytest.fixture(scope="module")
def demo() -> SceneGenerator:
    return SceneGenerator(width=320, height=240, seed=0)


def test_demo_frame_opposite_walls_face_the_camera(demo: SceneGenerator) -> None:
    """One depth frame of the demo corridor shows both side walls: their normals point at the camera, i.e.
    opposite to each other (-y on the left wall, +y on the right one), and so does every other surface."""
    frame = demo.frame(0)
    pose = RigidTransform(frame.camera_pose[:3, :3], frame.camera_pose[:3, 3])
    report = find_surfaces_in_depth(frame.depth_gt_m, frame.intrinsics, pose, floor_z_m=0.0)
    half_width = float(demo.layout.room_max[1])
    walls = _side_walls(report.surfaces, half_width)
    assert set(walls) == {-1, 1}, [(s.kind, s.centroid.round(2)) for s in report.surfaces]
    assert walls[1][1] < -0.99 and walls[-1][1] > 0.99
    for s in report.surfaces:
        assert (pose.translation - s.centroid) @ s.normal > 0, (s.kind, s.normal, s.centroid)


def test_demo_cloud_normals_face_the_cameras(demo: SceneGenerator) -> None:
    """The demo's frames back-projected into one map cloud, given the camera centres: both side walls, the
    ceiling, the far end wall and the boxes' faces point into the room, towards the cameras (without the
    camera centres the sign of a vertical plane is arbitrary: two walls could both report +y)."""
    points, cameras = [], []
    for i in range(0, 40, 4):
        frame = demo.frame(i)
        xyz = backproject(frame.depth_gt_m, frame.intrinsics, 2).reshape(-1, 3)
        xyz = xyz[np.isfinite(xyz).all(axis=1)].astype(np.float64)
        points.append(xyz @ frame.camera_pose[:3, :3].T + frame.camera_pose[:3, 3])
        cameras.append(frame.camera_pose[:3, 3])
    cameras_m = np.array(cameras)
    report = find_surfaces_in_cloud(np.concatenate(points), voxel_m=0.04, viewpoint=cameras_m)
    walls = _side_walls(report.surfaces, float(demo.layout.room_max[1]))
    assert set(walls) == {-1, 1} and walls[1][1] < -0.99 and walls[-1][1] > 0.99, walls
    ceiling = [s for s in report.surfaces if abs(s.centroid[2] - demo.layout.room_max[2]) < 0.05]
    assert ceiling and ceiling[0].normal[2] < -0.99
    for s in report.surfaces:
        assert _faces_cameras(s.normal, s.centroid, cameras_m) == 1.0, (s.kind, s.normal, s.centroid)


def test_demo_fusion_surfaces_face_the_cameras(demo: SceneGenerator, tmp_path: Path) -> None:
    """``lingbot-depth-demo --fusion``'s surfaces.json (TSDF map of 8 frames): every normal towards the cameras."""
    pytest.importorskip("open3d", reason="the fusion extra (open3d) is not installed")
    from lingbot_depth_ros.fusion.demo_scene import fuse_scene_predictions

    predictions = {i: demo.frame(i).depth_gt_m for i in range(8)}
    fuse_scene_predictions(predictions, tmp_path, width=320, height=240, seed=0)
    document = json.loads((tmp_path / "surfaces.json").read_text())
    assert schema_errors(document) == []
    cameras = np.array([demo.frame(i).camera_pose[:3, 3] for i in range(8)])
    kinds = [s["kind"] for s in document["surfaces"]]
    assert "vertical" in kinds and "floor" in kinds, kinds
    for s in document["surfaces"]:
        assert _faces_cameras(np.array(s["normal"]), np.array(s["centroid"]), cameras) == 1.0, s


def _box_scene(rng: np.random.Generator) -> np.ndarray:
    """A 4 x 4 m floor (z = 0) and the five faces of a 1 m cube on it (x 0..1, y -0.5..0.5), 2 cm grid, 2 mm noise."""
    g = np.arange(0.0, 1.0001, 0.02)
    a, b = (m.ravel() for m in np.meshgrid(g, g))
    faces = [np.c_[a, b - 0.5, np.ones_like(a)],                   # top
             np.c_[np.zeros_like(a), b - 0.5, a], np.c_[np.ones_like(a), b - 0.5, a],  # x = 0, x = 1
             np.c_[a, np.full_like(a, -0.5), b], np.c_[a, np.full_like(a, 0.5), b]]    # y = -0.5, y = 0.5
    f = np.arange(-2.0, 2.0001, 0.02)
    fa, fb = (m.ravel() for m in np.meshgrid(f, f))
    floor = np.c_[fa, fb, np.zeros_like(fa)]
    floor = floor[~((floor[:, 0] > -0.01) & (floor[:, 0] < 1.01) & (np.abs(floor[:, 1]) < 0.51))]
    cloud = np.concatenate(faces + [floor])
    return cloud + rng.normal(0.0, 0.002, cloud.shape)


def test_box_seen_from_both_sides_faces_outwards() -> None:
    """Cameras in front of the cube (x = -3 m) and behind it (x = 1.6 m, nearer to the front face's centre than
    the front cameras are): each face's normal points out of the cube, towards the cameras that can see it; the
    front face (x = 0) must not turn towards the nearer cameras behind the cube, which cannot see it."""
    cloud = _box_scene(np.random.default_rng(0))
    ys = np.linspace(-1.0, 1.0, 4)
    cameras = np.concatenate([np.c_[np.full(4, -3.0), ys, np.full(4, 1.2)],
                              np.c_[np.full(4, 1.6), ys, np.full(4, 1.2)]])
    report = find_surfaces_in_cloud(cloud, voxel_m=0.04, viewpoint=cameras, floor_z_m=0.0)
    expected = {(0.0, 0.0, 0.0): (-1, 0, 0), (1.0, 0.0, 0.5): (1, 0, 0), (0.5, -0.5, 0.5): (0, -1, 0),
                (0.5, 0.5, 0.5): (0, 1, 0), (0.5, 0.0, 1.0): (0, 0, 1)}
    for point, normal in expected.items():
        hits = [s for s in report.surfaces if abs(s.normal @ np.array(normal)) > 0.99
                and abs(s.normal @ np.array(point, dtype=float) + s.offset_m) < 0.03]
        assert hits, (point, [(s.kind, s.normal.round(2), s.centroid.round(2)) for s in report.surfaces])
        assert hits[0].normal @ np.array(normal) > 0.99, (point, hits[0].normal)
    floor = [s for s in report.surfaces if s.kind == "floor"]
    assert floor and floor[0].normal[2] > 0.99


def test_cloud_viewpoint_must_be_camera_centres() -> None:
    cloud = _box_scene(np.random.default_rng(1))
    for bad in (np.zeros(4), np.zeros((0, 3)), np.array([0.0, np.nan, 1.0])):
        with pytest.raises(InputError, match="viewpoint"):
            find_surfaces_in_cloud(cloud, viewpoint=bad)


def _fit(indices: np.ndarray, normal: tuple[float, float, float], offset: float) -> PlaneFit:
    return PlaneFit(indices, np.array(normal, dtype=float), offset, 0.001, 0.0, 1.0, 1.0, 0.3, 0.03)


def test_merge_ignores_the_sign_of_fitted_normals() -> None:
    """Two patches of one floor plane whose least-squares fits came out with opposite signs (+z and -z: the
    sign of an eigenvector is arbitrary) are one surface; a parallel plane 10 cm above is not merged."""
    g = np.arange(0.0, 1.0, 0.05)
    a, b = (m.ravel() for m in np.meshgrid(g, g))
    near = np.c_[a, b, np.zeros_like(a)]
    far = np.c_[a + 2.0, b, np.zeros_like(a)]
    shelf = np.c_[a + 4.0, b, np.full_like(a, 0.1)]
    points = np.concatenate([near, far, shelf])
    n = len(a)
    fits = [_fit(np.arange(n), (0, 0, 1), 0.0), _fit(np.arange(n, 2 * n), (0, 0, -1), 0.0),
            _fit(np.arange(2 * n, 3 * n), (0, 0, -1), 0.1)]
    merged = merge_coplanar(fits, points, SurfaceConfig(), lambda fit: "floor")
    assert len(merged) == 2, [len(f.indices) for f in merged]
    assert sorted(len(f.indices) for f in merged) == [n, 2 * n]
    assert merged[0].area_m2 == pytest.approx(2.0)
    assert abs(merged[0].normal[2]) == pytest.approx(1.0)
