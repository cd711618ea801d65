"""Temporal filtering and multi-sweep LiDAR (issue 21): flicker, accuracy and cost of the ROS-free core
(lingbot_depth_ros/pipeline/temporal_filter.py, lidar_sweeps.py), on real KITTI frames (../shared/data).

1. Flicker at a standing camera: one real KITTI frame (kitti_lidar image_02/0000000000, Velodyne HDL-64) fed
   ``--frames`` times, each time with a different random 30 % of its LiDAR returns missing and Gaussian range
   noise (``--noise-m``); a fixed 15 % of the returns (seed 0) is never given and scores accuracy. The classical
   estimator completes each frame; flicker = per-pixel standard deviation over the frames (pixels valid in every
   frame, after a warm-up of ``--warmup`` frames for both), filtered (TemporalFilter, static camera) vs unfiltered.
2. Multi-sweep LiDAR: kitti_lidar's 7 frames x 2 cameras with their poses; for frames 2..6 a fixed 15 % of the
   frame's own returns (seed 0) is held out and scored (RMSE / MAE [mm]); classical completes from the remaining
   returns alone (1 sweep) or with the previous 1 or 2 whole sweeps reprojected (2, 3 sweeps; LidarSweeps).
   Run twice: with poses.txt as given, and with its translation only. Consecutive sweeps reprojected with the
   given poses agree worse with the next sweep (median |dz|/z ~2-4 %, above-ground returns) than with the
   translation alone (~1.2 %); a yaw grid search puts the best inter-frame yaw at ~0 deg, while poses.txt says
   ~1 deg per frame: the rotation in poses.txt looks inconsistent with the LiDAR (a frame convention?).
3. The scene generator (lingbot_depth_ros/synthetic, exact depth and poses, 320x240, ``--scene-frames`` frames
   along its trajectory): classical with 1 / 2 / 3 LiDAR sweeps scored against the dense ground truth, and
   with / without the temporal filter (exact poses): RMSE against the ground truth and the temporal consistency
   error (frame t's output forward-warped into t+1 with the exact pose, compared with t+1's output, on pixels
   whose ground truth agrees after the same warp within 1 %: static and visible in both). The generator's LiDAR
   is frame-locked (no scan-phase drift yet) and the camera moves slowly (1-8 cm per frame).
4. Cost per 640x480 frame (synthetic planar scene): TemporalFilter.update at a static and a moving camera,
   LidarSweeps.add (3 sweeps, ~4 % LiDAR density). Median of ``--repeats`` runs, single process, this CPU.

Run:  .venv/bin/python bench/bench_temporal.py [--data ../shared/data]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from lingbot_depth_ros.estimators import create_estimator  # noqa: E402
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics  # noqa: E402
from lingbot_depth_ros.pipeline.lidar_guard import holdout_mask  # noqa: E402
from lingbot_depth_ros.pipeline.lidar_sweeps import LidarSweeps, SweepSettings  # noqa: E402
from lingbot_depth_ros.pipeline.temporal_filter import TemporalFilter, TemporalSettings  # noqa: E402

KITTI_K = (721.5377, 721.5377, 609.5593, 172.854)
EVALUATION_SHARE = 0.15


def _rgb(path: Path) -> np.ndarray:
    return cv2.cvtColor(cv2.imread(str(path), cv2.IMREAD_COLOR), cv2.COLOR_BGR2RGB)


def _lidar(path: Path) -> np.ndarray:
    return cv2.imread(str(path), cv2.IMREAD_UNCHANGED).astype(np.float32) / 256.0


def _kitti_intrinsics(rgb: np.ndarray) -> CameraIntrinsics:
    fx, fy, cx, cy = KITTI_K
    return CameraIntrinsics(fx, fy, cx, cy, rgb.shape[1], rgb.shape[0])


def _scores(depth_m: np.ndarray, truth_m: np.ndarray) -> tuple[float, float, float]:
    """RMSE [mm], MAE [mm] and coverage [share] at the truth's pixels (no output there = not scored)."""
    at = truth_m > 0
    ok = at & np.isfinite(depth_m) & (depth_m > 0)
    err = (depth_m[ok] - truth_m[ok]) * 1000.0
    return float(np.sqrt(np.mean(err ** 2))), float(np.mean(np.abs(err))), float(ok.sum() / max(at.sum(), 1))


def _estimate(est: object, rgb: np.ndarray, sparse: np.ndarray, k: CameraIntrinsics) -> np.ndarray:
    out = est.estimate(rgb, sparse, k)  # type: ignore[attr-defined]
    return np.where(out.valid, out.depth_m, np.nan).astype(np.float32)


def flicker(data: Path, frames: int, warmup: int, noise_m: float, settings: list[TemporalSettings]) -> None:
    root = data / "kitti_lidar"
    rgb = _rgb(root / "image_02" / "0000000000.png")
    lidar = _lidar(root / "velodyne_raw" / "image_02" / "0000000000.png")
    k = _kitti_intrinsics(rgb)
    evaluation = holdout_mask(lidar, EVALUATION_SHARE, seed=0)
    truth = np.where(evaluation, lidar, 0).astype(np.float32)
    given = np.where(evaluation, 0, lidar).astype(np.float32)
    est = create_estimator("classical")
    rng = np.random.default_rng(1)
    raw = []
    for _ in range(frames):
        keep = (given > 0) & (rng.random(given.shape) >= 0.3)
        noisy = np.where(keep, given + noise_m * rng.standard_normal(given.shape), 0).astype(np.float32)
        raw.append(_estimate(est, rgb, np.maximum(noisy, 0), k))
    runs = {"unfiltered": raw}
    for s in settings:
        filt = TemporalFilter(s)
        runs[f"filtered reset_rel={s.reset_rel:g} cap={s.max_history_weight:g} confirm={s.confirm_frames}"] = [
            filt.update(d, None, k).depth_m for d in raw]
    stack_all = {name: np.stack(series[warmup:]) for name, series in runs.items()}
    common = np.all([np.isfinite(s).all(axis=0) for s in stack_all.values()], axis=0)
    print(f"## Flicker at a standing camera: kitti_lidar image_02/0000000000, classical, {frames} frames "
          f"(std over frames {warmup}..{frames - 1}), 30 % dropouts, noise {noise_m * 100:g} cm; "
          f"{int(common.sum())} pixels valid in every frame")
    print("| run | mean per-pixel std [m] | median std [m] | p95 std [m] | change | hold-out RMSE [mm] | "
          "hold-out MAE [mm] |")
    print("|---|---|---|---|---|---|---|")
    base = None
    for name, stack in stack_all.items():
        std = np.std(stack, axis=0)[common]
        mean_std = float(std.mean())
        base = mean_std if base is None else base
        rmse = np.mean([_scores(d, truth)[0] for d in stack])
        mae = np.mean([_scores(d, truth)[1] for d in stack])
        print(f"| {name} | {mean_std:.3f} | {float(np.median(std)):.3f} | {float(np.percentile(std, 95)):.3f} | "
              f"{100 * (mean_std / base - 1):+.0f} % | {rmse:.0f} | {mae:.0f} |")
    print()


def _poses(path: Path) -> list[np.ndarray]:
    poses = []
    for line in path.read_text().splitlines():
        m = np.eye(4)
        m[:3, :] = np.array(line.split(), dtype=np.float64).reshape(3, 4)
        poses.append(m)
    return poses


def _translation_only(pose: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    out[:3, 3] = pose[:3, 3]
    return out


def multi_sweep(data: Path, sweep_counts: list[int], rotation: bool, exclusion_px: int = 0) -> None:
    root = data / "kitti_lidar"
    est = create_estimator("classical")
    first = max(sweep_counts) - 1
    rows: dict[int, list[tuple[float, float, float, float]]] = {n: [] for n in sweep_counts}
    cases = 0
    for camera in ("image_02", "image_03"):
        poses = _poses(root / camera / "poses.txt")
        if not rotation:
            poses = [_translation_only(p) for p in poses]
        names = sorted(p.name for p in (root / camera).glob("*.png"))
        lidars = [_lidar(root / "velodyne_raw" / camera / name) for name in names]
        rgb0 = _rgb(root / camera / names[0])
        k = _kitti_intrinsics(rgb0)
        for t in range(first, len(names)):
            cases += 1
            evaluation = holdout_mask(lidars[t], EVALUATION_SHARE, seed=0)
            truth = np.where(evaluation, lidars[t], 0).astype(np.float32)
            given = np.where(evaluation, 0, lidars[t]).astype(np.float32)
            rgb = _rgb(root / camera / names[t])
            for n in sweep_counts:
                sweeps = LidarSweeps(SweepSettings(sweeps=n, exclusion_px=exclusion_px))
                for s in range(t - n + 1, t):
                    sweeps.add(lidars[s], k, poses[s], 0.1 * s)
                result = sweeps.add(given, k, poses[t], 0.1 * t)
                rmse, mae, _ = _scores(_estimate(est, rgb, result.depth_m, k), truth)
                density = float(np.count_nonzero(result.depth_m) / np.count_nonzero(given))
                rows[n].append((rmse, mae, density, float(result.dropped)))
    print(f"## Multi-sweep LiDAR: kitti_lidar, classical, {cases} frames (2 cameras x frames {first}..6), "
          f"scored on a fixed 15 % of each frame's own returns (never given); poses: "
          f"{'as given (poses.txt)' if rotation else 'translation of poses.txt only, rotation dropped'}, "
          f"exclusion_px {exclusion_px}")
    print("| sweeps | RMSE [mm] | MAE [mm] | RMSE change | MAE change | input returns (x 1 sweep) | "
          "old returns dropped / frame |")
    print("|---|---|---|---|---|---|---|")
    base_rmse = float(np.mean([r[0] for r in rows[sweep_counts[0]]]))
    base_mae = float(np.mean([r[1] for r in rows[sweep_counts[0]]]))
    for n in sweep_counts:
        rmse, mae, density, dropped = (float(np.mean([r[i] for r in rows[n]])) for i in range(4))
        print(f"| {n} | {rmse:.0f} | {mae:.0f} | {100 * (rmse / base_rmse - 1):+.1f} % | "
              f"{100 * (mae / base_mae - 1):+.1f} % | x{density:.2f} | {dropped:.0f} |")
    print()


def _forward_warp(depth_m: np.ndarray, k: CameraIntrinsics, curr_T_prev: np.ndarray) -> np.ndarray:
    """(H, W) depth [m] of ``depth_m`` seen from the next camera (z-buffer, nearest pixel; NaN = nothing)."""
    v, u = np.nonzero(np.isfinite(depth_m) & (depth_m > 0))
    z = depth_m[v, u].astype(np.float64)
    pts = np.stack([(u - k.cx) / k.fx * z, (v - k.cy) / k.fy * z, z], axis=1) @ curr_T_prev[:3, :3].T
    pts += curr_T_prev[:3, 3]
    front = pts[:, 2] > 1e-3
    pts = pts[front]
    uu = np.rint(k.fx * pts[:, 0] / pts[:, 2] + k.cx).astype(np.int64)
    vv = np.rint(k.fy * pts[:, 1] / pts[:, 2] + k.cy).astype(np.int64)
    inside = (uu >= 0) & (uu < k.width) & (vv >= 0) & (vv < k.height)
    out = np.full(k.width * k.height, np.inf)
    np.minimum.at(out, vv[inside] * k.width + uu[inside], pts[inside, 2])
    out[~np.isfinite(out)] = np.nan
    return out.reshape(k.height, k.width).astype(np.float32)


def scene(frames: int) -> None:
    from lingbot_depth_ros.synthetic.generator import SceneGenerator

    gen = SceneGenerator(width=320, height=240, seed=0)
    scene_frames = list(gen.frames(frames))
    k = gen.intrinsics
    est = create_estimator("classical")
    print(f"## Scene generator: 320x240, {frames} frames, classical, exact poses; RMSE against the dense ground "
          f"truth over frames 2..{frames - 1}")
    print("| run | RMSE [mm] | MAE [mm] | coverage | temporal consistency error [mm] |")
    print("|---|---|---|---|---|")
    for sweeps_n, filtered in ((1, False), (2, False), (3, False), (1, True), (3, True)):
        sweeps = LidarSweeps(SweepSettings(sweeps=sweeps_n))
        filt = TemporalFilter(TemporalSettings(pose_required=True))
        outputs = []
        for f in scene_frames:
            sparse = sweeps.add(f.sparse_depth_m, k, f.camera_pose, f.stamp_ns * 1e-9).depth_m
            depth = _estimate(est, f.rgb, sparse, k)
            if filtered:
                depth = filt.update_at_pose(depth, None, k, f.camera_pose, stamp_s=f.stamp_ns * 1e-9).depth_m
            outputs.append(depth)
        scores = [_scores(d, f.depth_gt_m) for d, f in zip(outputs[2:], scene_frames[2:])]
        consistency = []
        for t in range(2, frames - 1):
            motion = np.linalg.solve(scene_frames[t + 1].camera_pose, scene_frames[t].camera_pose)
            gt_warp = _forward_warp(scene_frames[t].depth_gt_m, k, motion)
            gt_next = scene_frames[t + 1].depth_gt_m
            out_warp = _forward_warp(outputs[t], k, motion)
            with np.errstate(invalid="ignore"):
                static = np.abs(gt_warp - gt_next) < 0.01 * gt_next
            both = static & np.isfinite(out_warp) & np.isfinite(outputs[t + 1])
            consistency.append(float(np.mean(np.abs(out_warp[both] - outputs[t + 1][both]))) * 1000.0)
        name = f"{sweeps_n} sweep{'s' if sweeps_n > 1 else ''}{' + temporal filter' if filtered else ''}"
        print(f"| {name} | {np.mean([s[0] for s in scores]):.0f} | {np.mean([s[1] for s in scores]):.0f} | "
              f"{np.mean([s[2] for s in scores]):.3f} | {np.mean(consistency):.1f} |")
    print()


def _timed(fn: object, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()  # type: ignore[operator]
        times.append(time.perf_counter() - start)
    return 1000.0 * float(np.median(times))


def cost(repeats: int) -> None:
    k = CameraIntrinsics(525.0, 525.0, 319.5, 239.5, 640, 480)
    xs, ys = np.meshgrid((np.arange(640) - k.cx) / k.fx, (np.arange(480) - k.cy) / k.fy)
    depth = (5.0 / (1.0 + 0.1 * xs + 0.3 * ys + 0.3)).astype(np.float32)
    rng = np.random.default_rng(0)
    noisy = (depth * (1 + 0.01 * rng.standard_normal(depth.shape))).astype(np.float32)
    motion = np.eye(4)
    motion[:3, 3] = (0.01, 0.0, 0.05)
    static, moving = TemporalFilter(), TemporalFilter()
    static.update(depth, None, k)
    moving.update(depth, None, k)
    sparse = np.where(rng.random(depth.shape) < 0.04, depth, 0).astype(np.float32)
    sweeps = LidarSweeps(SweepSettings(sweeps=3, max_age_s=0))
    sweeps.add(sparse, k, np.eye(4))
    sweeps.add(sparse, k, np.eye(4))
    holes = noisy.copy()
    holes[100:200, 100:300] = np.nan
    print(f"## Cost per 640x480 frame (median of {repeats}, this CPU, single thread of numpy/OpenCV)")
    print("| step | ms |")
    print("|---|---|")
    print(f"| TemporalFilter.update, static camera | {_timed(lambda: static.update(noisy, None, k), repeats):.1f} |")
    print(f"| TemporalFilter.update, moving camera (dense depth) | "
          f"{_timed(lambda: moving.update(noisy, None, k, motion), repeats):.1f} |")
    print(f"| TemporalFilter.update, moving camera (6.5 % holes) | "
          f"{_timed(lambda: moving.update(holes, None, k, motion), repeats):.1f} |")
    print(f"| LidarSweeps.add, 3 sweeps, 4 % density | "
          f"{_timed(lambda: sweeps.add(sparse, k, np.eye(4)), repeats):.1f} |")
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=REPO.parent / "shared" / "data")
    parser.add_argument("--frames", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--noise-m", type=float, default=0.02)
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--scene-frames", type=int, default=20)
    parser.add_argument("--skip", nargs="*", default=[], choices=["flicker", "sweeps", "scene", "cost"])
    args = parser.parse_args()
    cv2.setNumThreads(1)
    if "flicker" not in args.skip:
        flicker(args.data, args.frames, args.warmup, args.noise_m,
                [TemporalSettings(), TemporalSettings(reset_rel=0.2), TemporalSettings(max_history_weight=16.0),
                 TemporalSettings(confirm_frames=2), TemporalSettings(reset_rel=0.2, confirm_frames=2)])
    if "sweeps" not in args.skip:
        multi_sweep(args.data, [1, 2, 3], rotation=True)
        multi_sweep(args.data, [1, 2, 3], rotation=False)
        multi_sweep(args.data, [1, 2, 3], rotation=False, exclusion_px=2)
    if "scene" not in args.skip:
        scene(args.scene_frames)
    if "cost" not in args.skip:
        cost(args.repeats)


if __name__ == "__main__":
    main()
