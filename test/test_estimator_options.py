"""One option table per estimator: the node parameters, the CLI flags and the constructor all come from it.

For every registered estimator the node parameters ``<estimator>.<option>``, the ``--<option>`` flags of
``lingbot-depth predict`` / ``serve`` and the constructor's defaults and range checks must agree with its
table (no second description to drift). A toy estimator registered with one line (test/toy_estimator.py)
gets its node parameters, its README rows, its CLI flags and run-time changes as declared, in real processes.
"""

from __future__ import annotations

import argparse
import inspect
import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from lingbot_depth_ros.cli.estimator_args import estimator_flag_options
from lingbot_depth_ros.cli.main import build_parser
from lingbot_depth_ros.errors import ConfigError, InputError
from lingbot_depth_ros.estimators import (
    create_estimator,
    estimator_class,
    estimator_names,
)
from lingbot_depth_ros.geometry.intrinsics import CameraIntrinsics
from lingbot_depth_ros.param_spec import ParamSpec
from lingbot_depth_ros.params.node import (
    ESTIMATOR_PARAMS,
    PARAMS_BY_NAME,
    estimator_options,
)

TEST_DIR = Path(__file__).resolve().parent
ESTIMATORS = estimator_names()
WEIGHT_FREE = ("classical", "nearest")


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *args], capture_output=True, text=True, timeout=120, check=False)


def _parser_of(command: str) -> argparse.ArgumentParser:
    subparsers = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return subparsers.choices[command]


def _flag(parser: argparse.ArgumentParser, option: str) -> argparse.Action:
    flag = "--" + option.replace("_", "-")
    matches = [a for a in parser._actions if flag in a.option_strings]
    assert len(matches) == 1, f"{flag} missing (or twice) in {parser.prog}"
    return matches[0]


def _as_none(spec: ParamSpec) -> object:
    """The table default as the estimator sees it (its none_value means None)."""
    return None if spec.none_value is not None and spec.default == spec.none_value else spec.default


def _flag_text(spec: ParamSpec) -> list[str]:
    flag = "--" + spec.name.replace("_", "-")
    if isinstance(spec.default, bool):
        return [flag if spec.default else "--no-" + flag[2:]]
    return [flag, str(spec.default)]


@pytest.mark.parametrize("name", ESTIMATORS)
def test_node_parameters_are_the_table(name: str) -> None:
    cls = estimator_class(name)
    assert cls.options, f"{name} has no option table"
    node = [spec for spec in ESTIMATOR_PARAMS if spec.name.startswith(name + ".")]
    assert [spec.name for spec in node] == [f"{name}.{spec.name}" for spec in cls.options]
    for spec in cls.options:
        param = PARAMS_BY_NAME[f"{name}.{spec.name}"]
        assert (param.default, param.description, param.min, param.max, param.choices, param.read_only,
                param.none_value) == (spec.default, spec.description, spec.min, spec.max, spec.choices,
                                      spec.read_only, spec.none_value)
    assert name in (PARAMS_BY_NAME["estimator"].choices or ())
    assert cls.summary in PARAMS_BY_NAME["estimator"].description
    defaults = {f"{name}.{spec.name}": spec.default for spec in cls.options}
    assert estimator_options(name, defaults) == {spec.name: _as_none(spec) for spec in cls.options}


@pytest.mark.parametrize("command", ["predict", "serve"])
@pytest.mark.parametrize("name", ESTIMATORS)
def test_cli_flags_are_the_table(name: str, command: str) -> None:
    parser = _parser_of(command)
    for spec in estimator_class(name).options:
        action = _flag(parser, spec.name)
        assert action.dest == spec.name and action.default is None
        if isinstance(spec.default, bool):
            assert isinstance(action, argparse.BooleanOptionalAction)
        else:
            assert action.type is type(spec.default)
            assert spec.choices is None or set(spec.choices) <= set(action.choices)
        help_text = action.help or ""
        assert name in help_text and (spec.choices or spec.range_text() == "—" or spec.range_text() in help_text)
        args = parser.parse_args(["image.png"] * (command == "predict") + ["--estimator", name] + _flag_text(spec))
        assert estimator_flag_options(args) == {spec.name: spec.default}, spec.name
    bare = parser.parse_args(["image.png"] * (command == "predict") + ["--estimator", name])
    assert estimator_flag_options(bare) == {}  # flags left out: the estimator's own defaults


def test_a_flag_for_another_estimator_is_one_clear_error() -> None:
    args = _parser_of("predict").parse_args(["image.png", "--estimator", "depth_pro", "--ensemble-size", "3"])
    with pytest.raises(InputError, match=r"^--ensemble-size applies to estimator marigold, not 'depth_pro'$"):
        estimator_flag_options(args)
    args = _parser_of("serve").parse_args(["--estimator", "classical", "--checkpoint", "x"])
    with pytest.raises(InputError, match="--checkpoint applies to estimator lingbot / depth_anything / "):
        estimator_flag_options(args)


@pytest.mark.parametrize("name", ESTIMATORS)
def test_constructors_take_defaults_and_ranges_from_the_table(name: str) -> None:
    """No default in a constructor signature (None = the table's), every range and choice checked through the
    table before anything is loaded (no checkpoint needed), unknown options refused."""
    cls = estimator_class(name)
    options = {spec.name: spec for spec in cls.options}
    for parameter in inspect.signature(cls.__init__).parameters.values():
        if parameter.name in options:
            assert parameter.default is None, f"{name}.__init__ repeats the default of {parameter.name}"
    assert cls.resolve_options({}) == {spec.name: _as_none(spec) for spec in cls.options}
    for spec in cls.options:
        bad: list[object] = []
        if spec.max is not None:
            bad.append(type(spec.default)(spec.max) + 1)
        if spec.min is not None:
            bad.append(type(spec.default)(spec.min) - 1)
        if spec.choices:
            bad.append("not-a-choice")
        if not isinstance(spec.default, bool):
            bad.append(True)  # wrong type
        for value in bad:
            with pytest.raises(ConfigError, match=rf"^{name}\.{spec.name}\b"):
                cls(**{spec.name: value})
    unknown = {"no_such_option": 1}
    with pytest.raises(ConfigError, match=f"estimator '{name}' has no option 'no_such_option'"):
        cls(**unknown)
    assert cls.live_options <= {spec.name for spec in cls.options if not spec.read_only}


@pytest.mark.parametrize("name", WEIGHT_FREE)
def test_weight_free_estimators_are_built_with_the_table_defaults(name: str) -> None:
    built = create_estimator(name)
    for spec in estimator_class(name).options:
        assert getattr(built, spec.name) == _as_none(spec), spec.name


def test_every_table_loads_without_the_model_libraries() -> None:
    """The registry imports every estimator module (node parameters, CLI flags): none may import torch,
    transformers, diffusers or another model library at module level."""
    blocked = ("torch", "transformers", "diffusers", "safetensors", "huggingface_hub", "onnxruntime", "PIL", "scipy")
    script = f"""
import sys
attempts = []
class Blocker:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {blocked!r}:
            attempts.append(name)
            raise ModuleNotFoundError(name)
sys.meta_path.insert(0, Blocker())
from lingbot_depth_ros.params.node import ESTIMATOR_PARAMS
from lingbot_depth_ros.cli.main import build_parser
build_parser()
print(len(ESTIMATOR_PARAMS), sorted(set(attempts)))
"""
    done = _run("-c", script)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split(maxsplit=1) == [str(len(ESTIMATOR_PARAMS)), "[]\n"]


# ------------------------------------------------------------------------------ a new estimator: one line

SITECUSTOMIZE = f'''
import sys
sys.path.insert(0, {str(TEST_DIR)!r})
import lingbot_depth_ros.estimators.registry as registry
registry.ESTIMATORS += ("toy_estimator:ToyEstimator",)  # the one registration line of a new estimator
'''


@pytest.fixture
def toy_registered(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Child processes started after this have the toy estimator registered (a sitecustomize module)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(site), os.environ["PYTHONPATH"]]))


def _frame(folder: Path, height: int = 24, width: int = 32) -> list[str]:
    """predict arguments for a tiny image + sparse depth (every 4th pixel at 2 m) written into ``folder``."""
    image, sparse = folder / "frame.png", folder / "frame_sparse.png"
    cv2.imwrite(str(image), np.full((height, width, 3), 128, np.uint8))
    sparse_mm = np.zeros((height, width), np.uint16)
    sparse_mm[::4, ::4] = 2000
    cv2.imwrite(str(sparse), sparse_mm)
    return [str(image), "--sparse-depth", str(sparse), "--intrinsics", "30", "30", "16", "12", "--quiet"]


def test_a_registered_toy_estimator_gets_node_parameters_docs_and_cli_flags(toy_registered: None,
                                                                             tmp_path: Path) -> None:
    table = _run("-m", "lingbot_depth_ros.params.docs")  # the README parameter table, as make docs writes it
    assert table.returncode == 0, table.stderr
    assert "| `toy.scale_m` | double | `1.0` | [0, 10] | Depth [m] added to offset_m; set on the running " \
           "estimator. |" in table.stdout
    assert "| `toy.label` | string | `\"toy\"` | — | Shown by describe(). (read-only) |" in table.stdout
    assert "or toy (constant depth, a test stand-in); README 'Estimators'." in table.stdout

    usage = _run("-m", "lingbot_depth_ros.cli.main", "serve", "--help")
    assert all(flag in usage.stdout for flag in ("--scale-m", "--offset-m", "--label", "{classical,"))
    assert "toy" in usage.stdout.split("--estimator", 1)[1].split("\n", 1)[0]

    out = tmp_path / "out"
    done = _run("-m", "lingbot_depth_ros.cli.main", "predict", *_frame(tmp_path), "--estimator", "toy",
                "--offset-m", "2.5", "--out", str(out))
    assert done.returncode == 0, done.stderr
    np.testing.assert_array_equal(np.load(out / "frame_depth.npy"), 3.5)  # scale_m 1 (default) + offset_m 2.5
    refused = _run("-m", "lingbot_depth_ros.cli.main", "predict", *_frame(tmp_path), "--estimator", "classical",
                   "--offset-m", "2", "--out", str(out))
    assert refused.returncode == 2
    assert refused.stderr.strip() == \
        "lingbot-depth predict: error: --offset-m applies to estimator toy, not 'classical'"
    too_far = _run("-m", "lingbot_depth_ros.cli.main", "predict", *_frame(tmp_path), "--estimator", "toy",
                   "--offset-m", "11", "--out", str(out))
    assert too_far.returncode == 2
    assert too_far.stderr.strip() == "lingbot-depth predict: error: toy.offset_m=11.0 is above its maximum 10.0"


@pytest.mark.ros
def test_a_toy_estimators_options_change_at_run_time_as_it_declares(toy_registered: None, tmp_path: Path) -> None:
    """scale_m (live) is set on the running estimator, offset_m rebuilds it, label (read-only) is refused:
    the node's rule comes from the estimator's declaration, not from its name."""
    from rclpy.parameter import Parameter
    from rclpy.parameter_client import AsyncParameterClient
    from ros_harness import node_with_harness, publish_until_depth, wait_until
    from toy_estimator import REBUILD_STEP_M

    rgb = np.full((24, 32, 3), 128, np.uint8)
    sparse = np.zeros((24, 32), np.float32)
    sparse[::4, ::4] = 2.0
    intrinsics = CameraIntrinsics(30.0, 30.0, 16.0, 12.0, 32, 24)
    params = {"estimator": "toy", "mode": "completion", "toy.offset_m": 1.5}
    with node_with_harness(params, tmp_path / "node.log") as (node, harness):
        client = AsyncParameterClient(harness.node, "lingbot_depth_node")
        assert client.wait_for_services(timeout_sec=10)

        def set_param(name: str, value: object) -> tuple[bool, str]:
            future = client.set_parameters([Parameter(name, value=value)])
            wait_until(future.done, 10, f"the answer to setting {name}")
            result = future.result().results[0]
            return result.successful, result.reason

        def depth(stamp: int) -> float:
            values = np.unique(publish_until_depth(harness, rgb, intrinsics, sparse, stamp))
            assert values.size == 1, values
            return float(values[0])

        assert depth(1_000_000_000) == 2.5, node.log()  # scale 1 + offset 1.5, the first build
        assert set_param("toy.scale_m", 2.0) == (True, "")
        assert depth(2_000_000_000) == 3.5  # the same estimator, its scale set: no rebuild
        assert set_param("toy.offset_m", 2.0) == (True, "")
        assert depth(3_000_000_000) == 4.0 + REBUILD_STEP_M  # a new estimator with offset 2
        ok, reason = set_param("toy.label", "other")
        assert not ok and "toy.label" in reason and "read-only" in reason
        ok, reason = set_param("toy.scale_m", 20.0)
        assert not ok
        assert depth(4_000_000_000) == 4.0 + REBUILD_STEP_M
