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
from lingbot_depth_ros.batch.worker import WorkerConfig
from lingbot_depth_ros.errors import InputError
from lingbot_depth_ros.io.output_folder import prepare_out_dir

#: defaults of :func:`batch` (frozen: shared safely between calls)
DEFAULT_TOPICS = BagTopics()
DEFAULT_DATASET = DatasetOptions()


def batch(inputs: Sequence[str | Path], out: str | Path, *, params: Sequence[str] = (),
          estimator: str | None = None, topics: BagTopics = DEFAULT_TOPICS, dataset: DatasetOptions = DEFAULT_DATASET,
          workers: int = 1, gpus_per_worker: float = 0.0, cpus_per_worker: float = 1.0, unit_frames: int = 16,
          address: str | None = None, write: str = "files", progress: bool = False,
          on_result: Any = None, read: str = "worker") -> dict[str, Any]:
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
    values = node_values(params, {"estimator": estimator} if estimator else None)
    out = Path(out)
    prepare_out_dir(out)
    topics = dataclasses.replace(topics, sparse_input=values["sparse_input"])  # the node reads one or the other
    worker = WorkerConfig(values=values, out_dir=str(out), topics=topics, dataset=dataset)
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
