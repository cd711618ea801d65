"""An ONNX engine runs only with the checkpoint it was exported from (issue 18 A), the onnxruntime backend
names its missing engine folder (issue 18 B), and the providers keep the requested order.

Tiny official-format checkpoints A and B (different weights), one engine exported from A. The checkpoint's
sha256 is cached per file (path, size, mtime) in $XDG_CACHE_HOME, set to a test folder here.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from pathlib import Path

import cv2
import numpy as np
import pytest
from ros_harness import NodeProcess

from lingbot_depth_ros.cli.export import main as export_main
from lingbot_depth_ros.cli.main import main as cli_main
from lingbot_depth_ros.errors import CheckpointError
from lingbot_depth_ros.estimators.lingbot import LingbotEstimator
from lingbot_depth_ros.model.checkpoint_hash import cache_path
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint

pytest.importorskip("onnxruntime", reason="engine extra (requirements-engine.txt) not installed")
H, W, LEVEL = 48, 64, 0


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("engine_checkpoint")
    a = make_tiny_checkpoint(root / "a" / "model.pt", seed=0)
    b = make_tiny_checkpoint(root / "b" / "model.pt", seed=1)
    with pytest.MonkeyPatch.context() as patch:  # the export fills the hash cache: keep it out of the tests' one
        patch.setenv("XDG_CACHE_HOME", str(root / "export_cache"))
        assert export_main([str(a), str(root / "engine_a"), "--onnx", "--level", str(LEVEL), "--size", f"{W}x{H}"]) == 0
    image = root / "rgb.png"
    cv2.imwrite(str(image), np.random.default_rng(0).integers(0, 256, (H, W, 3), dtype=np.uint8))
    return {"a": a, "b": b, "engine": root / "engine_a", "image": image}


@pytest.fixture
def hash_cache(tmp_path, monkeypatch) -> Path:
    """A fresh, empty checkpoint hash cache (also for the node subprocesses, which inherit the environment)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    path = cache_path()
    assert path == tmp_path / "xdg_cache" / "lingbot_depth_ros" / "checkpoint_sha256.json" and not path.exists()
    return path


def _onnx(files: dict[str, Path], checkpoint: Path | str) -> LingbotEstimator:
    return LingbotEstimator(str(checkpoint), backend="onnxruntime", engine_dir=str(files["engine"]), device="cpu",
                            providers="CPUExecutionProvider", resolution_level=LEVEL)


def _mismatch_pattern(files: dict[str, Path]) -> str:
    """The refusal: B's and A's sha256 and the export command that rebuilds the engine from B."""
    return (f"checkpoint {files['b']} \\(sha256 {_sha256(files['b'])}\\) is not the one the engine in "
            f"{files['engine']} was exported from \\(model.pt, sha256 {_sha256(files['a'])}\\); rebuild the engine "
            f"from this checkpoint: lingbot-depth-export {files['b']} {files['engine']} --onnx --size {W}x{H} "
            f"--level {LEVEL}")


def test_engine_of_another_checkpoint_is_refused_naming_both_hashes(files, hash_cache) -> None:
    assert json.loads((files["engine"] / "engine.json").read_text())["checkpoint"]["sha256"] == _sha256(files["a"])
    assert _sha256(files["a"]) != _sha256(files["b"])
    with pytest.raises(CheckpointError, match=_mismatch_pattern(files)):
        _onnx(files, files["b"])
    matching = _onnx(files, files["a"])  # its own checkpoint: runs
    assert any("matches the engine" in note for note in matching.model.notes)
    assert matching.estimate(cv2.imread(str(files["image"]))[..., ::-1].copy(), None, None).depth_m.shape == (H, W)
    _onnx(files, "")  # no checkpoint given: the engine alone, nothing to compare
    with pytest.raises(CheckpointError, match="checkpoint file not found"):
        _onnx(files, files["a"].parent / "absent.pt")


def test_the_hash_is_cached_per_path_size_and_mtime(files, hash_cache) -> None:
    """A second start reads B's digest from the cache (shown by planting A's digest there: B is then accepted,
    which only the cached value can do); rewriting B (new mtime) makes the cache entry stale again."""
    with pytest.raises(CheckpointError, match=_mismatch_pattern(files)):
        _onnx(files, files["b"])
    stored = json.loads(hash_cache.read_text())["files"]
    entry = stored[str(files["b"].resolve())]
    stat = files["b"].stat()
    assert entry["sha256"] == _sha256(files["b"]) and entry["size"] == stat.st_size
    assert entry["mtime_ns"] == stat.st_mtime_ns
    entry["sha256"] = _sha256(files["a"])  # plant: only a start that trusts the cache accepts B now
    hash_cache.write_text(json.dumps({"format": 1, "files": stored}))
    accepted = _onnx(files, files["b"])
    assert any("matches the engine" in note for note in accepted.model.notes)
    os.utime(files["b"], ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))  # rewritten: stale entry
    try:
        with pytest.raises(CheckpointError, match=_mismatch_pattern(files)):
            _onnx(files, files["b"])
        assert json.loads(hash_cache.read_text())["files"][str(files["b"].resolve())]["sha256"] == _sha256(files["b"])
    finally:
        os.utime(files["b"], ns=(stat.st_atime_ns, stat.st_mtime_ns))
    hash_cache.write_text("{not json")  # a broken cache only means hashing again
    with pytest.raises(CheckpointError, match=_mismatch_pattern(files)):
        _onnx(files, files["b"])


def test_cli_predict_refuses_the_engine_of_another_checkpoint_with_exit_2(files, hash_cache, tmp_path,
                                                                         capsys) -> None:
    base = ["predict", str(files["image"]), "--estimator", "lingbot", "--device", "cpu", "--backend", "onnxruntime",
            "--providers", "CPUExecutionProvider", "--out", str(tmp_path / "out")]
    assert cli_main(base + ["--checkpoint", str(files["b"]), "--engine-dir", str(files["engine"])]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("lingbot-depth predict: error: "), err
    assert re.search(_mismatch_pattern(files), err[0]), err[0]
    assert not (tmp_path / "out" / "rgb_depth.png").exists()
    assert cli_main(base + ["--checkpoint", str(files["a"]), "--engine-dir", str(files["engine"])]) == 0
    capsys.readouterr()
    assert cli_main(base + ["--checkpoint", str(files["a"])]) == 2  # no --engine-dir (issue 18 B)
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "needs an engine folder (node: lingbot.engine_dir, CLI: --engine-dir)" in err[0], err
    assert "is not an exported engine folder" not in err[0]


def test_onnxruntime_backend_without_engine_dir_says_so(files) -> None:
    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel
    for engine_dir in ("", " "):
        with pytest.raises(CheckpointError, match="^the onnxruntime backend needs an engine folder") as info:
            LingbotEstimator(str(files["a"]), backend="onnxruntime", engine_dir=engine_dir, device="cpu")
        assert "not an exported engine folder" not in str(info.value)
        with pytest.raises(CheckpointError, match="^the onnxruntime backend needs an engine folder"):
            OnnxDepthModel(engine_dir)


def test_providers_keep_the_requested_order_not_the_installed_one(files) -> None:
    import onnxruntime as ort

    from lingbot_depth_ros.model.engine_runtime import OnnxDepthModel, choose_providers
    assert choose_providers(["CPUExecutionProvider", "CUDAExecutionProvider"],
                            ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]) == \
        ["CPUExecutionProvider", "CUDAExecutionProvider"]
    installed = ort.get_available_providers()
    if len(installed) < 2:
        pytest.skip(f"one ONNX Runtime provider installed ({installed}): no order to keep in a session")
    requested = list(reversed(installed[-2:]))  # the last two installed ones, in the other order
    model = OnnxDepthModel(files["engine"], providers=requested)
    assert model.active_providers == requested  # the order onnxruntime got (and kept)
    assert model.provider == requested[0]


def _fatal_line(node: NodeProcess) -> str:
    log = node.log()
    assert "Traceback" not in log and "ready:" not in log, log
    fatal = [line for line in log.splitlines() if "FATAL" in line]
    assert len(fatal) == 1, log
    return fatal[0]


def test_node_refuses_to_start_with_the_engine_of_another_checkpoint(files, hash_cache, tmp_path) -> None:
    """Real node processes: checkpoint B + engine of A, and the onnxruntime backend without an engine folder,
    both stop at start with exit 1 and one FATAL line; checkpoint A + its engine comes up."""
    common = {"estimator": "lingbot", "lingbot.backend": "onnxruntime", "lingbot.device": "cpu",
              "lingbot.resolution_level": LEVEL, "lingbot.providers": "CPUExecutionProvider"}
    cases = {"other": {**common, "lingbot.checkpoint": str(files["b"]), "lingbot.engine_dir": str(files["engine"])},
             "no_engine_dir": {**common, "lingbot.checkpoint": str(files["a"])},
             "own": {**common, "lingbot.checkpoint": str(files["a"]), "lingbot.engine_dir": str(files["engine"])}}
    with contextlib.ExitStack() as stack:
        nodes = {name: stack.enter_context(NodeProcess(params, log_path=tmp_path / f"{name}.log"))
                 for name, params in cases.items()}
        nodes["own"].wait_ready()
        assert "matches the engine" in nodes["own"].log()
        for name in ("other", "no_engine_dir"):
            assert nodes[name].wait_exit(timeout=60) == 1, nodes[name].log()
        line = _fatal_line(nodes["other"])
        assert re.search(_mismatch_pattern(files), line), line
        line = _fatal_line(nodes["no_engine_dir"])
        assert "lingbot.backend onnxruntime needs lingbot.engine_dir" in line, line
        assert "not an exported engine folder" not in line
        assert nodes["own"].proc.poll() is None
