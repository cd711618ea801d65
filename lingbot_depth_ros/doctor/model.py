"""Model checks: the checkpoint loads strictly, an engine folder matches its checkpoint (sha256) and the camera
size, the Hugging Face cache holds the repo id named (no rclpy; nothing is downloaded).

The model package imports torch, so it is imported here only when torch is installed.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

from lingbot_depth_ros.doctor.config import NodeConfig
from lingbot_depth_ros.doctor.install import installed
from lingbot_depth_ros.doctor.report import FAIL, OK, WARN, Check
from lingbot_depth_ros.errors import LingbotDepthError

GROUP = "model"
NO_TORCH = "not checked: torch is not installed (see install / optional extras)"
INSTALL_TORCH = "python3 -m pip install torch (README 'GPU on the robot' for a CUDA build)"


def _checkpoint(config: NodeConfig) -> str | None:
    """The configured estimator's checkpoint text ('' = empty), None when the estimator takes none."""
    name = f"{config.estimator}.checkpoint"
    return str(config.values.get(name, "") or "").strip() if name in config.values else None


def _onnx_backend(config: NodeConfig) -> bool:
    return config.estimator == "lingbot" and config.values.get("lingbot.backend") == "onnxruntime"


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on")


def check_hf_cache(config: NodeConfig) -> Check | None:
    """A checkpoint given as a Hugging Face repo id is in the local cache (None when no repo id is named)."""
    checkpoint = _checkpoint(config)
    if not checkpoint or not installed("torch"):
        return None
    from lingbot_depth_ros.model.checkpoint import cached_hub_file, looks_like_repo_id
    if not looks_like_repo_id(checkpoint):
        return None
    title = "Hugging Face cache"
    if not installed("huggingface_hub"):
        return Check("model.hf_cache", GROUP, title, FAIL, f"{config.estimator}.checkpoint {checkpoint} is a repo id "
                     "but huggingface_hub is not installed", "python3 -m pip install huggingface_hub, or give a "
                     "local path")
    try:
        if config.estimator == "lingbot":
            found = cached_hub_file(checkpoint)
        else:
            from huggingface_hub import snapshot_download
            found = Path(snapshot_download(repo_id=checkpoint, repo_type="model", local_files_only=True))
    except Exception as exc:  # noqa: BLE001 - huggingface_hub raises several types for "not cached"
        status = FAIL if _offline() else WARN
        where = "HF_HUB_OFFLINE is set, so the node cannot download it" if _offline() else \
            "the node downloads it at start (needs network; an offline robot cannot)"
        return Check("model.hf_cache", GROUP, title, status, f"{checkpoint} is not in the local Hugging Face cache "
                     f"({type(exc).__name__}): {where}", f"hf download {checkpoint} (or copy ~/.cache/huggingface "
                     "from a machine that has it)")
    return Check("model.hf_cache", GROUP, title, OK, f"{checkpoint}: {found}")


def check_checkpoint(config: NodeConfig) -> Check:
    """The checkpoint the node loads is there and loads strictly into its architecture (on the CPU)."""
    title = "checkpoint"
    checkpoint = _checkpoint(config)
    if checkpoint is None:
        return Check("model.checkpoint", GROUP, title, OK, f"estimator {config.estimator} needs no weights")
    if _onnx_backend(config):
        return Check("model.checkpoint", GROUP, title, OK, "lingbot.backend onnxruntime: the engine folder runs, the "
                     "checkpoint is only compared with it (see engine)")
    if not checkpoint:
        return Check("model.checkpoint", GROUP, title, FAIL, f"{config.estimator}.checkpoint is empty: the node "
                     "refuses to start", f"set {config.estimator}.checkpoint (launch argument checkpoint:=) to a "
                     "local file / folder or a Hugging Face repo id")
    if not installed("torch"):
        return Check("model.checkpoint", GROUP, title, WARN, NO_TORCH, INSTALL_TORCH)
    if config.estimator != "lingbot":
        return _check_hf_folder(config, checkpoint)
    from lingbot_depth_ros.model.checkpoint import checkpoint_file, looks_like_repo_id
    try:
        path = checkpoint_file(checkpoint, download=False)
    except LingbotDepthError as exc:
        if looks_like_repo_id(checkpoint):
            return Check("model.checkpoint", GROUP, title, WARN, "not loaded: the repo is not in the local cache "
                         "(see Hugging Face cache)", f"hf download {checkpoint}, then run the doctor again")
        return Check("model.checkpoint", GROUP, title, FAIL, str(exc), "fix lingbot.checkpoint")
    from lingbot_depth_ros.model.factory import load_network
    try:
        network, _, raw, notes = load_network(path, device="cpu")
    except LingbotDepthError as exc:
        return Check("model.checkpoint", GROUP, title, FAIL, str(exc), "use an official LingBot-Depth checkpoint (or "
                     "one written by lingbot-depth-export) for lingbot.checkpoint")
    parameters = sum(p.numel() for p in network.parameters())
    del network, raw
    note = f"; {'; '.join(notes)}" if notes else ""
    return Check("model.checkpoint", GROUP, title, OK, f"{path} loads strictly ({parameters / 1e6:.1f} M "
                 f"parameters){note}")


def _check_hf_folder(config: NodeConfig, checkpoint: str) -> Check:
    """A Hugging Face estimator's checkpoint: a local folder with config.json (a repo id: see the cache check)."""
    title = "checkpoint"
    path = Path(checkpoint).expanduser()
    if not path.exists():
        return Check("model.checkpoint", GROUP, title, OK, f"{checkpoint}: a repo id (see Hugging Face cache)")
    if not (path / "config.json").is_file() and not (path / "model_index.json").is_file():
        return Check("model.checkpoint", GROUP, title, FAIL, f"{path} holds no config.json / model_index.json: not "
                     "a Hugging Face checkpoint folder", f"hf download <repo id> and point "
                     f"{config.estimator}.checkpoint at the folder")
    return Check("model.checkpoint", GROUP, title, OK, f"{path}: a Hugging Face checkpoint folder")


def check_engine(config: NodeConfig, camera_sizes: Mapping[str, tuple[int, int]] | None) -> Check | None:
    """lingbot.backend onnxruntime: the engine folder is readable, was exported from lingbot.checkpoint (sha256)
    and for the camera's size (``camera_sizes``: camera -> (width, height) [px] seen on the live graph; None =
    not observed). None for another backend."""
    if not _onnx_backend(config):
        return None
    title = "engine"
    if not installed("torch"):
        return Check("model.engine", GROUP, title, WARN, NO_TORCH, INSTALL_TORCH)
    from lingbot_depth_ros.model.engine_runtime import export_command, read_engine_meta, verify_engine_checkpoint
    folder = str(config.values.get("lingbot.engine_dir", "") or "")
    try:
        meta = read_engine_meta(folder)
    except LingbotDepthError as exc:
        return Check("model.engine", GROUP, title, FAIL, str(exc), "set lingbot.engine_dir to a folder written by "
                     "lingbot-depth-export CHECKPOINT DIR --onnx")
    engine_dir = Path(folder).expanduser()
    w, h = (int(v) for v in meta["image_size_wh"])
    summary = f"{engine_dir} ({w}x{h}, level {meta['resolution_level']}, {meta.get('precision')})"
    checkpoint = _checkpoint(config) or ""
    if checkpoint:
        try:
            summary += "; " + verify_engine_checkpoint(meta, engine_dir, checkpoint)
        except LingbotDepthError as exc:
            return Check("model.engine", GROUP, title, FAIL, str(exc), export_command(meta, checkpoint, engine_dir))
    else:
        summary += "; lingbot.checkpoint empty: not compared with a checkpoint"
    if camera_sizes is None:
        return Check("model.engine", GROUP, title, OK, summary + "; camera size not checked (add --ros)")
    wrong = {camera: size for camera, size in camera_sizes.items() if size != (w, h)}
    if wrong:
        camera, (cw, ch) = next(iter(wrong.items()))
        label = f"camera {camera}" if camera else "the camera"
        return Check("model.engine", GROUP, title, FAIL, summary + f"; {label} publishes {cw}x{ch} images: every "
                     "frame is dropped", f"lingbot-depth-export {checkpoint or 'CHECKPOINT'} {engine_dir} --onnx "
                     f"--size {cw}x{ch} --level {meta['resolution_level']}"
                     + (" --fp16" if meta.get("precision") == "fp16" else ""))
    sizes = ", ".join(f"{cw}x{ch}" for cw, ch in camera_sizes.values())
    return Check("model.engine", GROUP, title, OK, summary + (f"; camera {sizes}" if sizes else
                                                              "; no camera image seen"))


def model_checks(config: NodeConfig, camera_sizes: Mapping[str, tuple[int, int]] | None = None) -> list[Check]:
    """Every model check that applies to the configured estimator, in report order."""
    checks = [check_checkpoint(config), check_engine(config, camera_sizes), check_hf_cache(config)]
    return [c for c in checks if c is not None]
