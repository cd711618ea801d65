"""Fusion of the demo scene (``lingbot-depth-demo --fusion``): the node's depth frames fused at the scene's
exact camera poses, scored against the true geometry, with the surfaces of the fused map. No rclpy."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.fusion.ground_truth import FusionScore, distance_to_layout, observed_surface, score_fusion


def fuse_scene_predictions(predictions: dict[int, np.ndarray], out: Path, *, width: int, height: int, seed: int,
                           voxel_m: float = 0.03, max_depth_m: float = 5.0) -> dict[str, object]:
    """Fuse ``predictions`` (frame index -> (H, W) float32 depth [m], NaN = invalid) of the procedural scene
    ``seed`` at its exact poses; write fused.ply, mesh.ply, surfaces.json, fused_map.png into ``out``.

    Returns a summary: paths, point/triangle counts, accuracy/completeness (:class:`FusionScore`), surfaces.
    """
    from lingbot_depth_ros.fusion.offline import render_top_view
    from lingbot_depth_ros.fusion.tsdf import FusionConfig, TsdfFusion
    from lingbot_depth_ros.io.ply import write_ply
    from lingbot_depth_ros.synthetic import SceneGenerator

    gen = SceneGenerator(width=width, height=height, seed=seed)
    fusion = TsdfFusion(FusionConfig(voxel_size_m=voxel_m, max_depth_m=max_depth_m))
    covered_gt, poses = [], []
    for index, depth in sorted(predictions.items()):
        frame = gen.frame(index)
        depth = np.where(np.isfinite(depth), depth, 0.0).astype(np.float32)
        fusion.integrate(depth, frame.intrinsics, frame.camera_pose, rgb=frame.rgb)
        covered_gt.append(np.where(depth > 0, frame.depth_gt_m, 0.0))
        poses.append(frame.camera_pose)
    xyz, rgb = fusion.point_cloud()
    cloud = write_ply(out / "fused.ply", xyz, rgb)
    mesh, triangles = fusion.save_mesh(out / "mesh.ply")
    layout = gen.layout
    dist = distance_to_layout(xyz, layout.room_min, layout.room_max, np.array([b.lo for b in layout.boxes]),
                              np.array([b.hi for b in layout.boxes]))
    score: FusionScore = score_fusion(xyz, dist, observed_surface(covered_gt, gen.intrinsics, poses, voxel_m,
                                                                  max_depth_m), voxel_m)
    summary: dict[str, object] = {"fused_ply": str(cloud), "mesh_ply": str(mesh), "points": int(len(xyz)),
                                  "triangles": triangles, "frames": len(predictions), "score": score.as_dict()}
    corners: list[np.ndarray] = []
    try:
        from lingbot_depth_ros.surfaces import SurfaceConfig, find_surfaces_in_cloud, report_to_json

        config = SurfaceConfig()
        cameras = np.array([pose[:3, 3] for pose in poses])  # normals towards the cameras that saw them
        report = find_surfaces_in_cloud(xyz, config, voxel_m=max(voxel_m, 0.03), viewpoint=cameras)
        (out / "surfaces.json").write_text(report_to_json(report, config, frame_id="map"))
        summary["surfaces_json"] = str(out / "surfaces.json")
        summary["surfaces"] = len(report.surfaces)
        corners = [np.asarray(s.extent.corners) for s in report.surfaces if s.horizontal]
    except ImportError:  # surfaces package absent in this checkout
        summary["surfaces"] = None
    below_ceiling = float(layout.room_max[2]) - 0.3
    picture = render_top_view(xyz, rgb, out / "fused_map.png", up_axis=2, splat_m=voxel_m, max_height_m=below_ceiling,
                              title=f"fused map: {len(predictions)} frames, {len(corners)} horizontal surfaces")
    if corners:
        _draw_outlines(picture, xyz[xyz[:, 2] <= below_ceiling], corners)
    summary["picture"] = str(picture)
    (out / "fusion.json").write_text(json.dumps(summary, indent=2))
    return summary


def _draw_outlines(picture: Path, xyz: np.ndarray, corners: list[np.ndarray], size_px: int = 900) -> None:
    """Draw the surfaces' rectangles (top view, same mapping as render_top_view) onto the picture."""
    import cv2

    image = cv2.imread(str(picture))
    if image is None:
        raise InputError(f"could not read back the fused map picture {picture}")
    plane = xyz[:, :2].astype(np.float64)
    lo, hi = np.percentile(plane, 0.5, axis=0), np.percentile(plane, 99.5, axis=0)
    scale = (size_px - 40) / max(float((hi - lo).max()), 1e-6)
    height = image.shape[0]
    for rect in corners:
        u = (rect[:, 0] - lo[0]) * scale + 20
        v = height - 40 - (rect[:, 1] - lo[1]) * scale
        cv2.polylines(image, [np.stack([u, v], axis=1).astype(np.int32)], True, (0, 0, 220), 2)
    cv2.imwrite(str(picture), image)


__all__ = ["fuse_scene_predictions"]
