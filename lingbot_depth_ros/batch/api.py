"""Python entry point of a batch run: settings checked up front, Ray run, report (and output bags)."""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from lingbot_depth_ros.batch.manifest import Manifest
from lingbot_depth_ros.batch.params import node_values
from lingbot_depth_ros.batch.sources import BagTopics, DatasetOptions
from lingbot_depth_ros.batch.worker import WorkerConfig, temporal_active
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.output_folder import prepare_out_dir

#: defaults of :func:`batch` (frozen: shared safely between calls)
DEFAULT_TOPICS = BagTopics()
DEFAULT_DATASET = DatasetOptions()


def check_poses(inputs: Sequence[str | Path], values: dict[str, Any], topics: BagTopics,
                dataset: DatasetOptions) -> None:
    """Every input's poses usable before Ray starts: a pose file (``dataset.poses_file``: one folder input only;
    a folder's ``poses.txt``) read in full, and with ``temporal.pose_source`` not none, each input has poses (a
    bag its pose / odometry / tf topic, a folder a pose file). Inputs that cannot be read at all are left to the
    run (reported there).

    Raises:
        InputError: a corrupt pose file, fewer poses than frames, ``--poses`` with several inputs or a bag, an
            input without the poses ``temporal.pose_source`` needs.
    """
    from lingbot_depth_ros.bags.files import bag_topics
    from lingbot_depth_ros.batch.poses import load_pose_file
    from lingbot_depth_ros.batch.sources import (
        bag_pose_topic,
        detect_kind,
        folder_pairs,
        folder_pose_file,
        pose_options,
    )

    if dataset.poses_file is not None and len(inputs) != 1:
        raise InputError(f"--poses {dataset.poses_file} is for one folder input, got {len(inputs)} inputs (put a "
                         "poses.txt beside each folder's images instead)")
    options = pose_options(values, topics, dataset)
    for item in inputs:
        path = Path(item)
        try:
            kind = detect_kind(path, dataset.kitti_camera)
        except InputError:
            continue
        if kind == "bag":
            if dataset.poses_file is not None:
                raise InputError(f"--poses is for folder inputs; the bag {path} brings its poses on a topic "
                                 "(--pose-topic / --odom-topic)")
            folder = path.parent if path.is_file() else path
            try:
                bag_topics(folder)
            except Exception:  # noqa: BLE001 - an unreadable bag is reported by the run, the others go on
                continue
            bag_pose_topic(folder, options)
            continue
        pose_file = folder_pose_file(path, kind, dataset, dataset.kitti_camera)
        if pose_file is not None:
            try:
                names = [parts["rgb"].name for _, parts in folder_pairs(path, kind, dataset.kitti_camera)]
            except InputError:
                continue   # an unreadable folder is reported by the run
            load_pose_file(pose_file, names)
        elif options.source != "none":
            raise InputError(f"temporal.pose_source {options.source}: the folder {path} has no poses (give --poses "
                             "FILE or put poses.txt beside its images; temporal.pose_source none for a standing "
                             "camera)")


def batch(inputs: Sequence[str | Path], out: str | Path, *, params: Sequence[str] = (),
          estimator: str | None = None, topics: BagTopics = DEFAULT_TOPICS, dataset: DatasetOptions = DEFAULT_DATASET,
          workers: int = 1, gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0, unit_frames: int = 16,
          address: str | None = None, write: str = "files", progress: bool = False,
          on_result: Any = None, read: str = "worker", temporal_metrics: str = "auto") -> dict[str, Any]:
    """Process ``inputs`` into ``out`` on Ray and write the report; returns the report summary.

    Raises:
        ConfigError / InputError: bad parameters, no inputs, an unusable ``out`` or one made with other
            settings. Inputs that turn out unreadable are reported, not raised.
        MissingExtraError: ray is not installed.
    """
    from lingbot_depth_ros.batch.report import write_report
    from lingbot_depth_ros.batch.runner import BatchConfig, BatchRunner

    if not inputs:
        raise InputError("no inputs given")
    if read not in ("worker", "data"):
        raise InputError(f"--read must be worker or data, got '{read}'")
    if write not in ("files", "bag"):
        raise InputError(f"--write must be files or bag, got '{write}'")
    if temporal_metrics not in ("auto", "on", "off"):
        raise InputError(f"--temporal-metrics must be auto, on or off, got '{temporal_metrics}'")
    values = node_values(params, {"estimator": estimator} if estimator else None)
    check_poses(inputs, values, topics, dataset)
    out = Path(out)
    prepare_out_dir(out)
    topics = dataclasses.replace(topics, sparse_input=values["sparse_input"])  # the node reads one or the other
    measure = temporal_metrics == "on" or (temporal_metrics == "auto" and temporal_active(values))
    worker = WorkerConfig(values=values, out_dir=str(out), topics=topics, dataset=dataset, temporal_metrics=measure)
    manifest = Manifest(out)  # what a rerun reads back from --out is checked before Ray starts
    manifest.check_settings({"values": values, "topics": dataclasses.asdict(topics),
                             "dataset": dataclasses.asdict(dataset), "unit_frames": unit_frames})
    manifest.known_inputs()
    manifest.finished(warn=lambda text: print(f"lingbot-depth batch: warning: {text}", file=sys.stderr))
    config = BatchConfig(inputs=list(inputs), worker=worker, workers=workers, gpus_per_worker=gpus_per_worker,
                         cpus_per_worker=cpus_per_worker, unit_frames=unit_frames, address=address,
                         progress=progress, write_bag=write == "bag", read=read)
    outcome = BatchRunner(config, on_result).run()
    return write_report(out, outcome)
