"""Package metadata, the launch file, the parameter YAML/README table and the RViz config are consistent."""

from __future__ import annotations

import ast
import re
import sys
import types
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import yaml

from lingbot_depth_ros.ros.param_docs import BEGIN, END, render_markdown_table, render_yaml
from lingbot_depth_ros.ros.parameters import ALL_PARAMS

ROOT = Path(__file__).resolve().parents[1]


def test_package_xml_format3_with_real_dependencies() -> None:
    root = ET.parse(ROOT / "package.xml").getroot()
    assert root.tag == "package" and root.get("format") == "3"
    assert root.findtext("name") == "lingbot_depth_ros"
    assert root.find("export/build_type").text == "ament_python"
    deps = {e.text for e in root.iter("exec_depend")}
    for dep in ("rclpy", "sensor_msgs", "std_msgs", "python3-numpy", "python3-opencv", "python3-yaml",
                "ament_index_python", "launch_ros", "tf2_ros_py"):
        assert dep in deps
    # torch & co. are optional pip extras (test_rosdep.py, README "On a robot"); no lint tests exist.
    assert not {"python3-pytorch-pip", "python3-safetensors-pip", "ament_flake8", "ament_copyright"} & \
        {e.text for e in root.iter()}
    assert root.findtext("license") == "Apache-2.0"
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    assert "END OF TERMS AND CONDITIONS" in license_text
    urls = {e.get("type"): e.text for e in root.iter("url")}
    assert set(urls) == {"website", "repository", "bugtracker"}
    assert all(url.startswith("https://") for url in urls.values()), urls
    assert (ROOT / "resource" / "lingbot_depth_ros").is_file()
    cfg = (ROOT / "setup.cfg").read_text()
    assert "install_scripts=$base/lib/lingbot_depth_ros" in cfg  # where ros2 run looks


def _setup_kwargs() -> dict[str, Any]:
    tree = ast.parse((ROOT / "setup.py").read_text())
    call = next(n for n in ast.walk(tree) if isinstance(n, ast.Call) and getattr(n.func, "id", "") == "setup")
    return {kw.arg: kw.value for kw in call.keywords}


def _console_scripts() -> dict[str, str]:
    text = (ROOT / "setup.py").read_text()
    return dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', text))


def test_every_console_script_points_to_an_existing_main() -> None:
    import importlib
    scripts = _console_scripts()
    assert "depth_node" in scripts
    for name, target in scripts.items():
        module, func = target.split(":")
        assert callable(getattr(importlib.import_module(module), func)), name


def test_data_files_install_launch_config_rviz() -> None:
    text = (ROOT / "setup.py").read_text()
    for folder in ("launch", "config", "rviz"):
        assert f'"share/" + package_name + "/{folder}"' in text
    assert list((ROOT / "launch").glob("*.launch.py")) and list((ROOT / "rviz").glob("*.rviz"))


class _Recorder:
    """Stands in for a launch class: records its constructor arguments."""

    created: list["_Recorder"] = []

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        _Recorder.created.append(self)


def _fake_module(name: str, **attrs: Any) -> types.ModuleType:
    module = types.ModuleType(name)
    module.__dict__.update(attrs)
    return module


def _named(kind: str) -> type:
    return type(kind, (_Recorder,), {})


@pytest.fixture
def launch_description(monkeypatch: pytest.MonkeyPatch) -> list[_Recorder]:
    """Run generate_launch_description() with recording stand-ins for launch / launch_ros
    (not installable here): checks what the file names, not how launch executes it."""
    _Recorder.created = []
    classes = {n: _named(n) for n in ("LaunchDescription", "DeclareLaunchArgument", "SetEnvironmentVariable",
                                      "IfCondition", "EnvironmentVariable", "LaunchConfiguration", "Node")}
    share = ROOT
    fakes = {
        "launch": _fake_module("launch", LaunchDescription=classes["LaunchDescription"]),
        "launch.actions": _fake_module("launch.actions", DeclareLaunchArgument=classes["DeclareLaunchArgument"],
                                       SetEnvironmentVariable=classes["SetEnvironmentVariable"]),
        "launch.conditions": _fake_module("launch.conditions", IfCondition=classes["IfCondition"]),
        "launch.substitutions": _fake_module("launch.substitutions", EnvironmentVariable=classes["EnvironmentVariable"],
                                             LaunchConfiguration=classes["LaunchConfiguration"]),
        "launch_ros": _fake_module("launch_ros"),
        "launch_ros.actions": _fake_module("launch_ros.actions", Node=classes["Node"]),
    }
    for name, module in fakes.items():
        monkeypatch.setitem(sys.modules, name, module)
    import ament_index_python.packages as aip
    monkeypatch.setattr(aip, "get_package_share_directory", lambda pkg: str(share))
    namespace: dict[str, Any] = {}
    source = ROOT / "launch" / "lingbot_depth.launch.py"
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    namespace["generate_launch_description"]()
    return _Recorder.created


def test_launch_file_names_existing_things(launch_description: list[_Recorder]) -> None:
    by_kind: dict[str, list[_Recorder]] = {}
    for rec in launch_description:
        by_kind.setdefault(type(rec).__name__, []).append(rec)
    args = {r.args[0]: r.kwargs.get("default_value") for r in by_kind["DeclareLaunchArgument"]}
    for needed in ("params_file", "namespace", "use_rviz", "image", "camera_info", "sparse_depth", "use_sim_time"):
        assert needed in args
    assert Path(args["params_file"]).is_file() and Path(args["rviz_config"]).is_file()
    nodes = {r.kwargs["executable"]: r.kwargs for r in by_kind["Node"]}
    assert nodes["depth_node"]["package"] == "lingbot_depth_ros"
    assert "depth_node" in _console_scripts()
    assert nodes["depth_node"]["name"] == "lingbot_depth_node"
    remapped = {src for src, _ in nodes["depth_node"]["remappings"]}
    assert remapped == {"image", "camera_info", "sparse_depth", "lidar_points"}
    assert "rviz2" in nodes
    env = by_kind["SetEnvironmentVariable"][0]
    assert env.args[0] == "FASTRTPS_DEFAULT_PROFILES_FILE"
    profile = by_kind["EnvironmentVariable"][0].kwargs["default_value"]
    assert Path(profile).is_file()
    # the node reads the topics the launch file remaps
    node_source = (ROOT / "lingbot_depth_ros" / "depth_node.py").read_text()
    for topic in ("image", "camera_info", "sparse_depth"):
        assert f'"{topic}"' in node_source


def test_config_yaml_is_complete_and_matches_the_table() -> None:
    path = ROOT / "config" / "lingbot_depth.yaml"
    assert path.read_text() == render_yaml(), "run: python -m lingbot_depth_ros.ros.param_docs --write"
    params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    assert set(params) == {p.name for p in ALL_PARAMS}
    for spec in ALL_PARAMS:
        assert params[spec.name] == spec.default and spec.check(spec.default) is None


def test_readme_parameter_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)].strip()
    assert table == render_markdown_table(), "run: python -m lingbot_depth_ros.ros.param_docs --write"


def test_rviz_config_shows_image_depth_colorized_and_cloud() -> None:
    config = yaml.safe_load((ROOT / "rviz" / "lingbot_depth.rviz").read_text())
    displays = {d["Class"]: d for d in config["Visualization Manager"]["Displays"]}
    topics = {d["Topic"]["Value"] for d in config["Visualization Manager"]["Displays"] if "Topic" in d}
    assert {"image", "depth", "depth/colorized", "points"} <= topics
    assert displays["rviz_default_plugins/PointCloud2"]["Color Transformer"] == "RGB8"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
