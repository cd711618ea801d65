"""Ray orchestration of a batch run: plan inputs in parallel, process units on actor workers, retry the units
of dead workers, record finished units (resume), and hand the results to the report.

Ray: a local Ray started in-process (``address=None``: ``ray.init(num_cpus=...)``, no dashboard) or an
existing cluster (``address="auto"`` or ``"ray://head:10001"``). A Ray session already initialised by
the caller (tests, notebooks) is used as it is and left running.

What is parallel: planning (one Ray task per input: a bag scan reads only its image topic), and the
units (each actor holds one model and reads, estimates, writes and scores its unit's frames; GPU actors
decode the next frames in a reader thread). With the temporal filter or multi-sweep LiDAR on, an input's units
go to one actor in frame order (:mod:`lingbot_depth_ros.batch.sequence_order`): inputs run in parallel, the
frames of one input in sequence. The driver only dispatches units and appends to the manifest.
"""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm import tqdm

from lingbot_depth_ros.batch.manifest import Manifest
from lingbot_depth_ros.batch.sequence_order import SequenceLanes
from lingbot_depth_ros.batch.sources import Unit, plan_input
from lingbot_depth_ros.batch.worker import (
    UnitProcessor,
    UnitResult,
    WorkerConfig,
    remove_temporary_files,
    temporal_active,
)
from lingbot_depth_ros.errors import ConfigError, InputError, LingbotDepthError
from lingbot_depth_ros.optional import require


@dataclass
class BatchConfig:
    """A batch run: inputs, output folder, worker settings, Ray address and scheduling knobs."""

    inputs: Sequence[str | Path]
    worker: WorkerConfig
    workers: int = 1
    gpus_per_worker: float = 0.0
    cpus_per_worker: float = 1.0
    unit_frames: int = 16
    address: str | None = None
    max_attempts: int = 3
    progress: bool = True
    write_bag: bool = False  # also a copy of each bag input with the outputs added (batch/bag_output.py)
    #: "worker": each actor reads its unit from the input file; "data": Ray Data read tasks read the units
    #: (batch/datasource.py) and the actors get the blocks
    read: str = "worker"


@dataclass
class RunOutcome:
    """Everything the report needs: per-input units and errors, per-worker load, timing."""

    input_ids: dict[str, str]  # input id -> path
    kinds: dict[str, str]
    results: list[UnitResult]
    input_errors: dict[str, str]
    unit_errors: dict[str, str]
    resumed_units: int
    retried_units: int
    wall_s: float
    workers: dict[str, dict[str, float]] = field(default_factory=dict)


def input_ids(inputs: Sequence[str | Path], known: dict[str, str] | None = None) -> dict[str, str]:
    """Stable, unique output names for the inputs: the folder name (``_2``... on clashes); an input named in an
    earlier run into the same ``--out`` (``known``: id -> resolved path) keeps its name, so a rerun with more,
    fewer or reordered inputs resumes each input into its own folder. Returns id -> path as given."""
    known = dict(known or {})
    by_path = {path: input_id for input_id, path in known.items()}
    ids: dict[str, str] = {}
    for item in inputs:
        path = Path(item)
        resolved = str(path.resolve())
        if resolved in by_path:
            ids[by_path[resolved]] = str(path)
            continue
        base = (path.parent if path.is_file() else path).name or "input"
        name, n = base, 2
        while name in ids or name in known:
            name, n = f"{base}_{n}", n + 1
        ids[name] = str(path)
        known[name] = resolved
    return ids


def _init_ray(ray: Any, config: BatchConfig) -> bool:
    """Start or connect Ray; True if this call started the session (and should shut it down)."""
    if ray.is_initialized():
        return False
    if config.address:
        ray.init(address=config.address, log_to_driver=False)
    else:
        ray.init(num_cpus=max(int(config.workers * config.cpus_per_worker), 1), include_dashboard=False,
                 log_to_driver=False)
    return True


def _is_worker_death(ray: Any, exc: BaseException) -> bool:
    return isinstance(exc, (ray.exceptions.RayActorError, ray.exceptions.WorkerCrashedError))


def _cause(exc: BaseException) -> str:
    """The user-facing message of a task error (the original exception's text, not Ray's traceback)."""
    cause = getattr(exc, "cause", None)
    if isinstance(cause, LingbotDepthError):
        return str(cause)
    if isinstance(cause, BaseException):
        return f"{type(cause).__name__}: {cause}"
    return str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__


def run_batch(config: BatchConfig, on_result: Callable[[BatchRunner, UnitResult], None] | None = None
              ) -> RunOutcome:
    """Run a batch (see :class:`BatchRunner`)."""
    return BatchRunner(config, on_result).run()


class BatchRunner:
    """One batch run on Ray. ``on_result(runner, result)`` is called in the driver after each finished unit
    (tests use it to kill a busy worker)."""

    def __init__(self, config: BatchConfig,
                 on_result: Callable[[BatchRunner, UnitResult], None] | None = None) -> None:
        require("lingbot-depth batch", "ray")
        import ray

        self.ray = ray
        self.config = config
        self.on_result = on_result
        self.actors: list[Any] = []
        self.busy: dict[Any, tuple[Any, Unit]] = {}  # future -> (actor, unit)
        self.blocks: _BlockFeed | None = None

    def _new_actors(self, count: int) -> list[Any]:
        """Start ``count`` workers (in parallel) and wait until each holds its model.

        Raises:
            ConfigError: a worker could not build its estimator (e.g. a missing checkpoint): the run stops
                instead of restarting workers that cannot start.
        """
        c = self.config
        # ray's keyword overload of remote() lists the task options only, not the actor ones (max_concurrency)
        cls = self.ray.remote(num_cpus=c.cpus_per_worker, num_gpus=c.gpus_per_worker,  # type: ignore[call-overload]
                              max_restarts=0, max_concurrency=1)(UnitProcessor)
        worker = c.worker
        if c.gpus_per_worker > 0 and worker.prefetch_frames == 0:  # keep the GPU fed while frames decode
            worker = dataclasses.replace(worker, prefetch_frames=2, finish_thread=True)  # ... and while it writes
        actors = [cls.remote(worker) for _ in range(count)]
        self.actors.extend(actors)
        try:
            self.ray.get([actor.ping.remote() for actor in actors])
        except Exception as exc:  # noqa: BLE001 - the constructor's error, as one line
            raise ConfigError(f"a worker could not start: {_cause(exc)}") from None
        return actors

    def _plan(self, ids: dict[str, str]) -> tuple[dict[str, list[Unit]], dict[str, str], dict[str, str]]:
        from lingbot_depth_ros.batch.sources import detect_kind

        ray, c = self.ray, self.config
        plan_task = ray.remote(num_cpus=0)(plan_input)
        futures, kinds, errors = {}, {}, {}
        for input_id, path in ids.items():
            try:
                kinds[input_id] = detect_kind(Path(path), c.worker.dataset.kitti_camera)
            except InputError as exc:
                errors[input_id] = str(exc)
                continue
            futures[input_id] = plan_task.remote(input_id, Path(path), c.worker.topics, c.unit_frames,
                                                 c.worker.dataset.kitti_camera)
        units: dict[str, list[Unit]] = {}
        for input_id, future in futures.items():
            try:
                units[input_id] = ray.get(future)
            except Exception as exc:  # noqa: BLE001 - a corrupt input is reported, the others go on
                errors[input_id] = _cause(exc)
        return units, kinds, errors

    def run(self) -> RunOutcome:
        ray, c = self.ray, self.config
        started_ray = _init_ray(ray, c)
        try:
            outcome = self._run()
            self._release_actors()  # their CPUs/GPUs go to the bag tasks
            if c.write_bag:
                from lingbot_depth_ros.batch.bag_output import write_output_bags

                bags = {i: p for i, p in outcome.input_ids.items() if outcome.kinds.get(i) == "bag"
                        and i not in outcome.input_errors}
                outcome.input_errors.update(write_output_bags(ray, Path(c.worker.out_dir), bags, c.worker.values,
                                                              c.worker.topics))
            return outcome
        finally:
            if self.blocks is not None:
                self.blocks.close()
            self._release_actors()
            if started_ray:
                ray.shutdown()

    def _release_actors(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)
        self.actors.clear()

    def _run(self) -> RunOutcome:
        ray, c = self.ray, self.config
        t_start = time.monotonic()
        out = Path(c.worker.out_dir)
        out.mkdir(parents=True, exist_ok=True)
        manifest = Manifest(out)
        ids = manifest.input_ids(c.inputs, input_ids)
        units_by_input, kinds, input_errors = self._plan(ids)
        finished = manifest.finished()
        pending = [u for units in units_by_input.values() for u in units if u.key not in finished]
        results = [r for r in finished.values() if r.input_id in units_by_input]
        total = sum(u.stop - u.start for units in units_by_input.values() for u in units)
        done_frames = sum(r.stop - r.start for r in results)
        # disable=None: no bar (no \r in logs) when stderr is not a terminal
        bar = tqdm(total=total, initial=done_frames, desc="batch", unit="frame",
                   postfix="resumed" if done_frames else None, disable=None if c.progress else True)
        attempts: dict[str, int] = {}
        unit_errors: dict[str, str] = {}
        retried = 0
        lanes = SequenceLanes(in_order=temporal_active(c.worker.values), units=pending)
        idle = self._new_actors(min(c.workers, len(pending))) if pending else []
        t_work = time.monotonic()
        blocks = self.blocks = _BlockFeed(ray, pending, c) if c.read == "data" and pending else None
        if blocks is not None:
            pending = []  # units arrive as their blocks are read
        while pending or self.busy or (blocks is not None and not blocks.done()):
            if blocks is not None:
                pending.extend(blocks.take(wait_s=0.0 if (pending or self.busy) else 0.2))
            for actor in list(reversed(idle)):
                next_unit = lanes.take(actor, pending)
                if next_unit is None:
                    continue
                idle.remove(actor)
                unit = next_unit
                attempts[unit.key] = attempts.get(unit.key, 0) + 1
                if blocks is not None:
                    future = actor.process_block.remote(unit, blocks.ref(unit.key))
                else:
                    future = actor.process_unit.remote(unit)
                self.busy[future] = (actor, unit)
            if not self.busy:
                continue
            ready, _ = ray.wait(list(self.busy), num_returns=1, timeout=0.2 if blocks is not None else 1.0)
            for future in ready:
                actor, unit = self.busy.pop(future)
                try:
                    result: UnitResult = ray.get(future)
                except Exception as exc:  # noqa: BLE001 - sorted below
                    if _is_worker_death(ray, exc):
                        lanes.drop_worker(actor, unit if attempts[unit.key] < c.max_attempts else None)
                        if actor in self.actors:
                            self.actors.remove(actor)
                        if attempts[unit.key] < c.max_attempts:
                            retried += 1
                            pending.insert(0, unit)  # the unit again, on a fresh worker
                        else:
                            unit_errors[unit.key] = f"worker died {attempts[unit.key]} times: {_cause(exc)}"
                        idle.extend(self._new_actors(1))
                    else:
                        unit_errors[unit.key] = _cause(exc)  # unreadable unit: reported, not retried
                        idle.append(actor)
                    continue
                manifest.record(result)
                if blocks is not None:
                    blocks.release(unit.key)
                results.append(result)
                done_frames += result.stop - result.start
                bar.set_postfix_str(f"{len(results)} units", refresh=False)
                bar.update(result.stop - result.start)
                idle.append(actor)
                if self.on_result is not None:
                    self.on_result(self, result)
        if blocks is not None and blocks.error:
            raise LingbotDepthError(f"Ray Data read failed: {blocks.error}")
        remove_temporary_files(out)  # a worker killed mid-write (retried above, or in an earlier run) left them
        bar.set_postfix_str(f"{len(results)} units, {len(unit_errors)} failed", refresh=False)
        bar.close()
        wall = time.monotonic() - t_start
        work_span = time.monotonic() - t_work
        workers: dict[str, dict[str, float]] = {}
        for r in results:
            if r.key in finished:
                continue
            w = workers.setdefault(r.worker, {"units": 0, "frames": 0, "busy_s": 0.0, "read_wait_s": 0.0})
            w["units"] += 1
            w["frames"] += r.stop - r.start
            w["busy_s"] += r.busy_s
            w["read_wait_s"] += r.read_s
        for w in workers.values():
            w["utilisation"] = w["busy_s"] / work_span if work_span > 0 else 0.0
        return RunOutcome(input_ids=ids, kinds=kinds, results=sorted(results, key=lambda r: (r.input_id, r.start)),
                          input_errors=input_errors, unit_errors=unit_errors, resumed_units=len(finished),
                          retried_units=retried, wall_s=wall, workers=workers)


class _BlockFeed:
    """The Ray Data side of ``read="data"``: iterates the datasource's output blocks on a thread and hands the
    driver (unit, block ref) pairs as they are read. The refs stay held here until the unit is recorded, so
    a unit whose worker died is retried on the same block, not read again."""

    def __init__(self, ray: Any, units: list[Unit], config: BatchConfig) -> None:
        import queue
        import threading

        import ray.data

        from lingbot_depth_ros.batch.datasource import unit_datasource, unit_key_of

        self.ray = ray
        self.units = {u.key: u for u in units}
        self.refs: dict[str, Any] = {}
        self.error = ""
        self._queue: queue.Queue[str | None] = queue.Queue()
        w = config.worker
        dataset = ray.data.read_datasource(unit_datasource(units, w.topics, w.dataset, dict(w.values)),
                                           override_num_blocks=len(units), num_cpus=0)
        key_task = ray.remote(num_cpus=0)(unit_key_of)

        def drain() -> None:
            bundles = dataset.iter_internal_ref_bundles()
            try:
                for bundle in bundles:
                    if self._closed:
                        break
                    for entry in bundle.blocks:
                        key = ray.get(key_task.remote(entry.ref))
                        self.refs[key] = entry.ref
                        self._queue.put(key)
            except Exception as exc:  # noqa: BLE001 - reported by the runner
                self.error = _cause(exc)
            finally:
                close = getattr(bundles, "close", None)
                if close is not None:
                    close()  # stops Ray Data's executor when the run ends early
                self._queue.put(None)

        self._finished = self._closed = False
        threading.Thread(target=drain, name="ray_data_read", daemon=True).start()

    def take(self, wait_s: float) -> list[Unit]:
        """Units whose blocks were read since the last call (waits up to ``wait_s`` for the first)."""
        import queue

        keys: list[str | None] = []
        try:
            keys.append(self._queue.get(timeout=wait_s) if wait_s > 0 else self._queue.get_nowait())
            while True:
                keys.append(self._queue.get_nowait())
        except queue.Empty:
            pass
        if None in keys:
            self._finished = True
        return [self.units[k] for k in keys if k is not None]

    def done(self) -> bool:
        return self._finished

    def ref(self, key: str) -> Any:
        return self.refs[key]

    def release(self, key: str) -> None:
        self.refs.pop(key, None)

    def close(self) -> None:
        """Stop reading (a run interrupted or finished)."""
        self._closed = True
        self.refs.clear()
