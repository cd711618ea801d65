"""``lingbot-depth doctor`` without a graph (issue 22 §1): the install, GPU and model checks, through the real
``lingbot-depth`` entry point in a subprocess, its ``--json`` parsed.

Real files: tiny official-format checkpoints (``lingbot_depth_ros.testing``), an ONNX engine exported from one of
them, a Hugging Face hub cache folder, the package's Fast DDS profiles; the faults are set the way a user sets them
(environment variables, a params file, launch-style arguments).
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import torch
import yaml
from doctor_cli import ENTRY_POINT, REPO_ROOT, doctor

from lingbot_depth_ros.cli.export import main as export_main
from lingbot_depth_ros.deploy.dds import PROFILE_NAMES, fastdds_major_version, profile_env_var
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint, tiny_state

H, W, LEVEL = 48, 64, 0
REPO_ID = "robbyant/doctor-tiny"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _params_file(path: Path, **values: Any) -> Path:
    path.write_text(yaml.safe_dump({"/**": {"ros__parameters": values}}))
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict[str, Path]:
    """Checkpoints a and b (different weights), c (a key missing), the engine exported from a, a params file per
    engine case, an fp16 engine of a."""
    root = tmp_path_factory.mktemp("doctor")
    a = make_tiny_checkpoint(root / "a" / "model.pt", seed=0)
    b = make_tiny_checkpoint(root / "b" / "model.pt", seed=1)
    config, state = tiny_state(seed=2)
    missing = sorted(state)[-1]
    del state[missing]
    c = root / "c" / "model.pt"
    c.parent.mkdir()
    torch.save({"model_config": config, "model": state}, c)
    with pytest.MonkeyPatch.context() as patch:  # the export fills the sha256 cache: keep it out of the tests' one
        patch.setenv("XDG_CACHE_HOME", str(root / "export_cache"))
        assert export_main([str(a), str(root / "engine_a"), "--onnx", "--level", str(LEVEL), "--size",
                            f"{W}x{H}"]) == 0
    engine = {"estimator": "lingbot", "lingbot.backend": "onnxruntime", "lingbot.engine_dir": str(root / "engine_a"),
              "lingbot.providers": "CPUExecutionProvider"}
    return {"a": a, "b": b, "c": c, "missing_key": Path(missing), "engine": root / "engine_a",
            "engine_params_a": _params_file(root / "engine_a.yaml", **engine, **{"lingbot.checkpoint": str(a)}),
            "engine_params_b": _params_file(root / "engine_b.yaml", **engine, **{"lingbot.checkpoint": str(b)}),
            "root": root}


@pytest.fixture(autouse=True)
def _own_caches(tmp_path, monkeypatch) -> None:
    """A fresh sha256 cache and an empty Hugging Face cache for each doctor run (inherited by the subprocess)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg_cache"))
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "hf_hub"))
    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)


def test_default_configuration_passes_with_every_group_and_the_extras_versions() -> None:
    status, checks, _ = doctor()
    assert status == 0, checks
    assert {"install.ros", "install.rmw", "install.dds_profile", "install.shm", "install.extras", "gpu.torch",
            "gpu.onnxruntime", "gpu.tensorrt", "gpu.precision", "model.checkpoint"} <= set(checks)
    assert not any(c["group"] == "graph" for c in checks.values()), "no graph without --ros"
    extras = checks["install.extras"]["summary"]
    assert f"torch {importlib.metadata.version('torch')}" in extras
    assert f"onnxruntime {importlib.metadata.version('onnxruntime')}" in extras
    assert checks["install.dds_profile"]["status"] == "OK"  # conftest gives every test the package's profile
    assert "MB free" in checks["install.shm"]["summary"]
    if not torch.cuda.is_available():
        assert "CPU-only build" in checks["gpu.torch"]["summary"] or "no CUDA device" in checks["gpu.torch"]["summary"]


def test_checkpoint_that_loads_strictly_passes_one_with_a_missing_key_fails(files) -> None:
    status, checks, _ = doctor("--estimator", "lingbot", "--checkpoint", str(files["a"]))
    assert checks["model.checkpoint"]["status"] == "OK" and "loads strictly" in checks["model.checkpoint"]["summary"]
    assert status == 0, checks
    status, checks, _ = doctor("--estimator", "lingbot", "--checkpoint", str(files["c"]))
    assert status == 1
    assert checks["model.checkpoint"]["status"] == "FAIL"
    assert str(files["missing_key"]) in checks["model.checkpoint"]["summary"]


def test_engine_from_another_checkpoint_fails_naming_both_hashes(files) -> None:
    status, checks, _ = doctor("--params-file", str(files["engine_params_b"]))
    engine = checks["model.engine"]
    assert status == 1 and engine["status"] == "FAIL", engine
    assert _sha256(files["b"]) in engine["summary"] and _sha256(files["a"]) in engine["summary"]
    assert engine["advice"].startswith(f"lingbot-depth-export {files['b']} {files['engine']} --onnx --size {W}x{H}")
    status, checks, _ = doctor("--params-file", str(files["engine_params_a"]))
    assert checks["model.engine"]["status"] == "OK", checks["model.engine"]
    assert f"({W}x{H}, level {LEVEL}, fp32)" in checks["model.engine"]["summary"]
    assert "camera size not checked (add --ros)" in checks["model.engine"]["summary"]
    assert checks["gpu.onnxruntime"]["status"] == "OK" and "runs on CPUExecutionProvider" in \
        checks["gpu.onnxruntime"]["summary"]
    assert status == 0, checks


def test_missing_engine_folder_fails(files) -> None:
    params = _params_file(files["root"] / "no_engine.yaml", estimator="lingbot", **{
        "lingbot.backend": "onnxruntime", "lingbot.engine_dir": str(files["root"] / "nowhere")})
    status, checks, _ = doctor("--params-file", str(params))
    assert status == 1 and checks["model.engine"]["status"] == "FAIL"
    assert str(files["root"] / "nowhere") in checks["model.engine"]["summary"]


def test_gpu_providers_asked_for_but_absent_warn(files) -> None:
    available = __import__("onnxruntime").get_available_providers()
    if "CUDAExecutionProvider" in available or "TensorrtExecutionProvider" in available:
        pytest.skip("this onnxruntime has the GPU providers")
    params = _params_file(files["root"] / "gpu_providers.yaml", estimator="lingbot", **{
        "lingbot.backend": "onnxruntime", "lingbot.engine_dir": str(files["engine"]),
        "lingbot.providers": "TensorrtExecutionProvider,CUDAExecutionProvider,CPUExecutionProvider"})
    status, checks, _ = doctor("--params-file", str(params))
    assert checks["gpu.onnxruntime"]["status"] == "WARN", checks["gpu.onnxruntime"]
    assert "runs on CPUExecutionProvider (TensorrtExecutionProvider, CUDAExecutionProvider not available)" in \
        checks["gpu.onnxruntime"]["summary"]
    assert checks["gpu.tensorrt"]["status"] == "WARN" and "asks for TensorRT first" in checks["gpu.tensorrt"]["summary"]
    assert status == 0


def test_fp16_engine_on_the_cpu_warns(files) -> None:
    root = files["root"]
    engine = root / "engine_fp16"
    if not engine.exists():
        assert export_main([str(files["a"]), str(engine), "--onnx", "--level", str(LEVEL), "--size", f"{W}x{H}",
                            "--fp16"]) == 0
    params = _params_file(root / "fp16.yaml", estimator="lingbot", **{
        "lingbot.backend": "onnxruntime", "lingbot.engine_dir": str(engine), "lingbot.checkpoint": str(files["a"]),
        "lingbot.providers": "CPUExecutionProvider"})
    _, checks, _ = doctor("--params-file", str(params))
    assert checks["gpu.precision"]["status"] == "WARN", checks["gpu.precision"]
    assert "the engine is fp16 but runs on CPUExecutionProvider" in checks["gpu.precision"]["summary"]
    assert checks["model.engine"]["status"] == "OK" and ", fp16)" in checks["model.engine"]["summary"]


def test_cuda_device_without_cuda_fails() -> None:
    if torch.cuda.is_available():
        pytest.skip("CUDA is available here")
    status, checks, _ = doctor("--estimator", "lingbot", "--checkpoint", REPO_ID, "--params-file",
                               str(_params_file(Path(os.environ["XDG_CACHE_HOME"]).parent / "cuda.yaml",
                                                **{"lingbot.device": "cuda:0"})))
    assert status == 1 and checks["gpu.torch"]["status"] == "FAIL"
    assert "lingbot.device is cuda:0" in checks["gpu.torch"]["summary"]


def test_repo_id_in_the_hf_cache_or_not(files, tmp_path) -> None:
    args = ("--estimator", "lingbot", "--checkpoint", REPO_ID)
    _, checks, _ = doctor(*args)
    assert checks["model.hf_cache"]["status"] == "WARN", checks["model.hf_cache"]
    assert checks["model.hf_cache"]["advice"].startswith(f"hf download {REPO_ID}")
    status, checks, _ = doctor(*args, env={"HF_HUB_OFFLINE": "1"})
    assert status == 1 and checks["model.hf_cache"]["status"] == "FAIL"
    assert "HF_HUB_OFFLINE is set" in checks["model.hf_cache"]["summary"]
    repo = tmp_path / "hf_hub" / f"models--{REPO_ID.replace('/', '--')}"
    commit = "0" * 40
    make_tiny_checkpoint(repo / "snapshots" / commit / "model.pt", seed=0)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    status, checks, _ = doctor(*args, env={"HF_HUB_OFFLINE": "1"})
    assert checks["model.hf_cache"]["status"] == "OK", checks["model.hf_cache"]
    assert checks["model.checkpoint"]["status"] == "OK" and "loads strictly" in checks["model.checkpoint"]["summary"]
    assert status == 0


def _profile(major: int) -> str:
    return str(REPO_ROOT / "config" / PROFILE_NAMES[major])


@pytest.fixture
def fastdds() -> tuple[int, str, str]:
    """(Fast DDS major version here, the variable it reads, the other one)."""
    major = fastdds_major_version()
    if major is None:
        pytest.skip("Fast DDS version unknown here")
    variable = profile_env_var(major)
    other = "FASTDDS_DEFAULT_PROFILES_FILE" if variable == "FASTRTPS_DEFAULT_PROFILES_FILE" else \
        "FASTRTPS_DEFAULT_PROFILES_FILE"
    return major, variable, other


def test_profile_of_the_other_fast_dds_major_fails(fastdds) -> None:
    major, variable, _ = fastdds
    wrong = _profile(3 if major < 3 else 2)
    status, checks, _ = doctor("--only", "install", env={variable: wrong})
    profile = checks["install.dds_profile"]
    assert status == 1 and profile["status"] == "FAIL", profile
    assert f"{variable}={wrong} is the profile of the other Fast DDS major version" in profile["summary"]
    assert PROFILE_NAMES[3 if major >= 3 else 2] in profile["summary"]
    assert profile["advice"].startswith(f"export {variable}=")


def test_profile_in_the_variable_the_installed_fast_dds_does_not_read_warns(fastdds) -> None:
    major, variable, other = fastdds
    env = {variable: "", other: _profile(major)}
    status, checks, _ = doctor("--only", "install", env=env)
    profile = checks["install.dds_profile"]
    assert profile["status"] == "WARN", profile
    assert f"{other} is set, but Fast DDS {major} reads {variable} (unset)" in profile["summary"]
    assert status == 0


def test_profile_variable_naming_no_file_fails(fastdds, tmp_path) -> None:
    _, variable, _ = fastdds
    status, checks, _ = doctor("--only", "install", env={variable: str(tmp_path / "gone.xml")})
    assert status == 1 and checks["install.dds_profile"]["status"] == "FAIL"
    assert "no such file" in checks["install.dds_profile"]["summary"]


def test_rmw_that_is_not_installed_fails() -> None:
    status, checks, _ = doctor("--only", "install", env={"RMW_IMPLEMENTATION": "rmw_nonexistent_cpp"})
    assert status == 1 and checks["install.rmw"]["status"] == "FAIL", checks["install.rmw"]
    assert "rmw_nonexistent_cpp (RMW_IMPLEMENTATION) is not installed" in checks["install.rmw"]["summary"]


def test_missing_extra_the_estimator_needs_fails_in_an_environment_without_torch() -> None:
    kilted = REPO_ROOT / ".venv-kilted" / "bin" / "python"
    if not kilted.exists():
        pytest.skip(".venv-kilted (the environment without torch) is not here")
    status, checks, _ = doctor("--only", "install", "--only", "gpu", "--estimator", "lingbot", python=kilted,
                               env={"FASTDDS_DEFAULT_PROFILES_FILE": _profile(3)})
    extras = checks["install.extras"]
    assert status == 1 and extras["status"] == "FAIL", extras
    assert "estimator lingbot needs torch (not installed)" in extras["summary"]
    assert "pip install torch" in extras["advice"]
    assert checks["gpu.torch"]["status"] == "FAIL"


@pytest.mark.parametrize(("args", "message"), [
    (("--params-file", "/nonexistent/params.yaml"), "params file /nonexistent/params.yaml"),
    (("--timeout", "0"), "--timeout"),
    (("--namespace", "bad name"), "namespace 'bad name'"),
    (("--image", "no spaces allowed"), "image topic"),
])
def test_bad_arguments_exit_2_with_one_line(args, message) -> None:
    status, checks, stderr = doctor(*args)
    assert status == 2 and not checks
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert message in lines[-1], stderr
    assert len([line for line in lines if "error" in line]) == 1, stderr


def test_unreadable_params_file_exits_2(tmp_path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("a: [unclosed\n")
    status, _, stderr = doctor("--params-file", str(bad))
    assert status == 2 and f"params file {bad} is not YAML" in stderr
    bad.write_text(yaml.safe_dump({"/**": {"ros__parameters": {"slop_s": -1.0}}}))
    status, _, stderr = doctor("--params-file", str(bad))
    assert status == 2 and "slop_s" in stderr


def test_docker_sized_dev_shm_fails(tmp_path) -> None:
    """/dev/shm of Docker's default 64 MB (a tmpfs of that size mounted over /dev/shm in a private mount namespace,
    for the doctor's process only) cannot hold the profile's segments."""
    probe = subprocess.run(["unshare", "-m", "sh", "-c", "mount -t tmpfs -o size=64m tmpfs /dev/shm"],
                           capture_output=True, text=True) if shutil.which("unshare") else None
    if probe is None or probe.returncode != 0:
        pytest.skip("no private mount namespace here (unshare -m needs root / CAP_SYS_ADMIN)")
    command = (f'mount -t tmpfs -o size=64m tmpfs /dev/shm && exec "{ENTRY_POINT}" doctor --json --only install')
    result = subprocess.run(["unshare", "-m", "sh", "-c", command], capture_output=True, text=True, cwd=REPO_ROOT,
                            timeout=120)
    checks = {c["id"]: c for c in json.loads(result.stdout)["checks"]}
    shm = checks["install.shm"]
    assert result.returncode == 1 and shm["status"] == "FAIL", shm
    assert shm["summary"].startswith("/dev/shm 64 MB free, under 2 x the profile's 64 MB segment")
    assert "--shm-size=512m or --ipc=host" in shm["advice"]


def test_engine_for_another_image_size_than_the_camera_fails(files) -> None:
    """With --ros the engine is compared with the images on the camera's topic: a 64x48 engine, a 160x120 camera
    (no node in /sized: the doctor judges with the params file it is given)."""
    from doctor_graph import fake_driver

    with fake_driver(namespace="sized"):
        status, checks, _ = doctor("--ros", "--only", "graph", "--only", "model", "--namespace", "sized",
                                   "--params-file", str(files["engine_params_a"]), "--timeout", "15")
    engine = checks["model.engine"]
    assert status == 1 and engine["status"] == "FAIL", engine
    assert f"({W}x{H}, level {LEVEL}, fp32)" in engine["summary"]
    assert "the camera publishes 160x120 images: every frame is dropped" in engine["summary"]
    assert engine["advice"] == \
        f"lingbot-depth-export {files['a']} {files['engine']} --onnx --size 160x120 --level {LEVEL}"
