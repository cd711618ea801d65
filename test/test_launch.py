"""Launch files, their argument logic (lingbot_depth_ros.deploy.launch_config) and the RViz config they render.

launch / launch_ros are not installable here: the launch files run with recording stand-ins for the
launch classes (what they declare and start is checked, not how launch executes it), and the RViz
config they render is checked against a real node started with the same namespace, remaps and
parameters: every topic RViz would show must be one the node publishes or subscribes to.
"""

from __future__ import annotations

import ast
import contextlib
import re
import sys
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import rclpy
import yaml
from rclpy.parameter import Parameter
from waiting import wait_until

from lingbot_depth_ros.deploy.launch_config import (
    CHECKPOINT_ESTIMATORS,
    PARAMETER_ARGUMENTS,
    REMAP_ARGUMENTS,
    node_setup,
    parameter_overrides,
    remappings,
)
from lingbot_depth_ros.deploy.rviz_config import CameraView, render_rviz_config, resolve_topic
from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.params.node import PARAMS_BY_NAME
from lingbot_depth_ros.ros.depth_node import DepthNode

ROOT = Path(__file__).resolve().parents[1]
LAUNCH_FILES = ("lingbot_depth.launch.py", "multi_camera.launch.py", "fusion.launch.py", "managed_depth.launch.py")
DDS_VARIABLES = ("FASTRTPS_DEFAULT_PROFILES_FILE", "FASTDDS_DEFAULT_PROFILES_FILE")


# --------------------------------------------------------------------------- launch_config (pure Python)
def test_parameter_arguments_name_existing_parameters() -> None:
    assert set(PARAMETER_ARGUMENTS) == {"estimator", "mode", "sparse_input", "image_transport", "sparse_transport",
                                        "lifecycle", "autostart"}
    for param in PARAMETER_ARGUMENTS.values():
        assert param in PARAMS_BY_NAME, param
    assert set(CHECKPOINT_ESTIMATORS) == {"lingbot", "depth_anything", "prompt_depth_anything", "depth_pro",
                                          "marigold"}


@pytest.mark.parametrize("estimator", ["lingbot", "depth_anything", "prompt_depth_anything", "depth_pro",
                                       "marigold"])
def test_checkpoint_argument_sets_the_chosen_estimators_checkpoint(estimator: str) -> None:
    got = parameter_overrides({"estimator": estimator, "checkpoint": " /models/x "})
    assert got == {"estimator": estimator, f"{estimator}.checkpoint": "/models/x"}
    # without estimator:=, the estimator of the params file decides; the argument wins over the file
    assert parameter_overrides({"checkpoint": "/m"}, file_estimator=estimator) == {f"{estimator}.checkpoint": "/m"}
    assert parameter_overrides({"estimator": "lingbot", "checkpoint": "/m"}, file_estimator=estimator) == \
        {"estimator": "lingbot", "lingbot.checkpoint": "/m"}


def test_checkpoint_argument_for_an_estimator_without_checkpoint_is_refused() -> None:
    with pytest.raises(ConfigError, match="estimator nearest takes no checkpoint"):
        parameter_overrides({"estimator": "nearest", "checkpoint": "/m.pt"})
    with pytest.raises(ConfigError, match="estimator classical takes no checkpoint"):  # the table default
        parameter_overrides({"checkpoint": "/m.pt"})


def test_node_setup_checkpoint_follows_the_params_files_estimator(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    estimator: depth_pro\n"
                      "/rear/lingbot_depth_node:\n  ros__parameters:\n    estimator: marigold\n")
    front = node_setup({"namespace": "front", "params_file": str(params), "checkpoint": "/opt/ckpt"})
    assert front.parameters[-1] == {"depth_pro.checkpoint": "/opt/ckpt", "use_sim_time": False}
    rear = node_setup({"namespace": "rear", "params_file": str(params), "checkpoint": "/opt/ckpt"})
    assert rear.parameters[-1] == {"marigold.checkpoint": "/opt/ckpt", "use_sim_time": False}
    with pytest.raises(ConfigError, match="takes no checkpoint"):  # no file: the default estimator (classical)
        node_setup({"checkpoint": "/opt/ckpt"})


def test_parameter_overrides_only_for_arguments_given() -> None:
    assert parameter_overrides({name: "" for name in PARAMETER_ARGUMENTS}) == {}
    assert parameter_overrides({}) == {}
    got = parameter_overrides({"estimator": "lingbot", "mode": " monocular ", "checkpoint": "/models/model.pt",
                               "sparse_input": "", "image_transport": "compressed"})
    assert got == {"estimator": "lingbot", "mode": "monocular", "lingbot.checkpoint": "/models/model.pt",
                   "image_transport": "compressed"}


@pytest.mark.parametrize("values,message", [
    ({"mode": "stereo"}, "mode"),
    ({"estimator": "midas"}, "estimator"),
    ({"sparse_input": "radar"}, "sparse_input"),
    ({"image_transport": "theora"}, "image_transport"),
])
def test_parameter_overrides_refuse_invalid_values_naming_the_parameter(values: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parameter_overrides(values)


def test_remappings_from_topic_arguments() -> None:
    assert remappings({name: name for name in REMAP_ARGUMENTS}) == []  # the defaults: no remap
    assert remappings({"image": "/camera/color/image_raw", "camera_info": "color/camera_info",
                       "sparse_depth": ""}) == [("image", "/camera/color/image_raw"),
                                                ("camera_info", "color/camera_info")]
    assert remappings({"front_image": "/front/image_raw"}, prefix="front_") == [("image", "/front/image_raw")]
    with pytest.raises(ValueError, match="invalid topic name"):
        remappings({"image": "/camera//image raw"})


def test_resolve_topic_follows_ros_name_resolution() -> None:
    assert resolve_topic("image", "") == "/image"
    assert resolve_topic("depth/image", "/robot1/cam") == "/robot1/cam/depth/image"
    assert resolve_topic("depth/image", "robot1/cam/") == "/robot1/cam/depth/image"
    assert resolve_topic("/camera/image_raw", "/robot1") == "/camera/image_raw"
    for bad in ("", "~/image", "9lives", "a b"):
        with pytest.raises(ValueError):
            resolve_topic(bad, "/ns")


def test_node_setup_namespace_params_file_overrides_and_view(tmp_path: Path) -> None:
    params = tmp_path / "params.yaml"
    params.write_text("/**:\n  ros__parameters:\n    image_transport: compressed\n")
    setup = node_setup({"namespace": "/robot1/cam", "params_file": str(params), "estimator": "nearest",
                        "image": "color/image_raw", "use_sim_time": "true", "log_level": "debug"})
    assert setup.namespace == "robot1/cam"
    assert setup.parameters == [str(params), {"estimator": "nearest", "use_sim_time": True}]
    assert setup.remappings == [("image", "color/image_raw")]
    assert setup.arguments == ["--ros-args", "--log-level", "debug"]
    # the params file asks for compressed images: RViz shows the topic the node then subscribes to
    assert setup.view.image == "/robot1/cam/color/image_raw/compressed"
    assert setup.view.depth == "/robot1/cam/depth/image" and setup.view.points == "/robot1/cam/points"
    assert node_setup({"namespace": "/x", "image_transport": "raw", "params_file": str(params)}).view.image == \
        "/x/image"  # the launch argument wins over the file
    per_node = tmp_path / "per_node.yaml"  # the node's own section wins over /** (multi-camera files)
    per_node.write_text("/**:\n  ros__parameters:\n    image_transport: raw\n"
                        "/rear/lingbot_depth_node:\n  ros__parameters:\n    image_transport: compressed\n")
    assert node_setup({"namespace": "front", "params_file": str(per_node)}).view.image == "/front/image"
    assert node_setup({"namespace": "rear", "params_file": str(per_node)}).view.image == "/rear/image/compressed"
    with pytest.raises(ConfigError, match="does not exist"):
        node_setup({"params_file": str(tmp_path / "absent.yaml")})
    with pytest.raises(ConfigError, match="use_sim_time"):
        node_setup({"use_sim_time": "yes"})
    with pytest.raises(ValueError):
        node_setup({"namespace": "robot 1"})


# --------------------------------------------------------------------------- the launch files, with stand-ins
class _Recorder:
    """Stands in for a launch class: records its constructor arguments."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args, self.kwargs = args, kwargs
        _LaunchRun.current.created.append(self)


class _Configuration(_Recorder):
    def perform(self, context: dict[str, str]) -> str:
        return context[self.args[0]]


class _LaunchRun:
    """One ``generate_launch_description()`` with stand-ins, then its OpaqueFunction with argument values."""

    current: _LaunchRun

    def __init__(self, name: str, monkeypatch: pytest.MonkeyPatch, missing: tuple[str, ...] = ()) -> None:
        """``missing``: packages the ament index does not have here (e.g. rviz2 on a robot)."""
        self.created: list[_Recorder] = []
        self.warnings: list[str] = []  # launch.logging warnings (one line each)
        _LaunchRun.current = self
        kinds = {n: type(n, (_Recorder,), {}) for n in ("LaunchDescription", "DeclareLaunchArgument",
                                                        "SetEnvironmentVariable", "OpaqueFunction", "Node")}
        fakes = {
            "launch": types.SimpleNamespace(LaunchDescription=kinds["LaunchDescription"]),
            "launch.actions": types.SimpleNamespace(DeclareLaunchArgument=kinds["DeclareLaunchArgument"],
                                                    SetEnvironmentVariable=kinds["SetEnvironmentVariable"],
                                                    OpaqueFunction=kinds["OpaqueFunction"]),
            "launch.substitutions": types.SimpleNamespace(LaunchConfiguration=_Configuration),
            "launch.logging": types.SimpleNamespace(get_logger=lambda name: types.SimpleNamespace(
                warning=self.warnings.append)),
            "launch_ros": types.SimpleNamespace(),
            "launch_ros.actions": types.SimpleNamespace(Node=kinds["Node"]),
        }
        for module, fake in fakes.items():
            monkeypatch.setitem(sys.modules, module, fake)
        import ament_index_python.packages as aip

        def share(package: str) -> str:
            if package in missing:
                raise aip.PackageNotFoundError(f"package '{package}' not found")
            return str(ROOT)

        monkeypatch.setattr(aip, "get_package_share_directory", share)
        source = ROOT / "launch" / name
        namespace: dict[str, Any] = {"__file__": str(source)}
        exec(compile(source.read_text(), str(source), "exec"), namespace)
        self.description = namespace["generate_launch_description"]()

    def of(self, kind: str) -> list[_Recorder]:
        return [r for r in self.created if type(r).__name__ == kind]

    @property
    def arguments(self) -> dict[str, str]:
        return {r.args[0]: r.kwargs["default_value"] for r in self.of("DeclareLaunchArgument")}

    def execute(self, **values: str) -> list[_Recorder]:
        """The actions the OpaqueFunction returns for the declared defaults overridden by ``values``."""
        unknown = set(values) - set(self.arguments)
        assert not unknown, f"not launch arguments: {unknown}"
        (opaque,) = self.of("OpaqueFunction")
        context = dict(self.arguments, **values)
        return opaque.kwargs["function"](context, *opaque.kwargs.get("args", []))


@pytest.fixture
def launch_run(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Any:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))  # rendered RViz configs go there
    for variable in DDS_VARIABLES:  # recorded by monkeypatch, restored (unset) afterwards
        monkeypatch.setenv(variable, "x")
        monkeypatch.delenv(variable)
    monkeypatch.delenv("RMW_IMPLEMENTATION", raising=False)
    return lambda name, missing=(): _LaunchRun(name, monkeypatch, missing)


@pytest.mark.parametrize("name", LAUNCH_FILES)
def test_launch_file_parses_and_uses_the_launch_config_module(name: str) -> None:
    tree = ast.parse((ROOT / "launch" / name).read_text())
    imported = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert {"lingbot_depth_ros.deploy.launch_config", "lingbot_depth_ros.deploy.dds"} <= imported
    calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
    assert "apply_default_dds_profile" in calls
    assert "FASTRTPS" not in (ROOT / "launch" / name).read_text()  # dds.py chooses the variable


def _console_scripts() -> dict[str, str]:
    return dict(re.findall(r'"([\w-]+) = ([\w.]+:\w+)"', (ROOT / "setup.py").read_text()))


def _check_node_actions(nodes: list[_Recorder]) -> None:
    for node in nodes:
        if node.kwargs["executable"] == "rviz2":
            assert node.kwargs["package"] == "rviz2"
            continue
        assert node.kwargs["package"] == "lingbot_depth_ros" and node.kwargs["name"] == "lingbot_depth_node"
        assert node.kwargs["executable"] in _console_scripts()
        file_params = [p for p in node.kwargs["parameters"] if isinstance(p, str)]
        assert all(Path(p).is_file() for p in file_params)
        overrides = node.kwargs["parameters"][-1]
        assert set(overrides) - {"use_sim_time"} <= set(PARAMS_BY_NAME)
        assert {src for src, _ in node.kwargs["remappings"]} <= set(REMAP_ARGUMENTS)


def test_single_camera_launch_arguments_overrides_and_dds(launch_run) -> None:
    run = launch_run("lingbot_depth.launch.py")
    args = run.arguments
    for needed in ("params_file", "namespace", "image", "camera_info", "sparse_depth", "lidar_points", "estimator",
                   "mode", "sparse_input", "checkpoint", "image_transport", "sparse_transport", "camera_frame",
                   "use_rviz", "rviz_config", "use_sim_time", "log_level"):
        assert needed in args, needed
    assert Path(args["params_file"]).is_file()
    assert all(args[a] == "" for a in [*PARAMETER_ARGUMENTS, "checkpoint"])  # empty: the params file decides
    (env,) = run.of("SetEnvironmentVariable")  # the packaged Fast DDS profile, under the variable dds.py chose
    assert env.args[0] in DDS_VARIABLES and Path(env.args[1]).is_file()

    (node,) = run.execute()  # defaults: no RViz, no overrides but use_sim_time
    _check_node_actions([node])
    assert node.kwargs["namespace"] == "" and node.kwargs["remappings"] == []
    assert node.kwargs["parameters"] == [args["params_file"], {"use_sim_time": False}]

    node, rviz = run.execute(namespace="/robot1", estimator="depth_anything", mode="completion",
                             checkpoint="/m", image="/camera/image_raw", use_rviz="true", camera_frame="base_link")
    _check_node_actions([node, rviz])
    assert node.kwargs["namespace"] == "robot1"
    assert node.kwargs["parameters"][-1] == {"estimator": "depth_anything", "mode": "completion",
                                             "depth_anything.checkpoint": "/m", "use_sim_time": False}
    assert node.kwargs["remappings"] == [("image", "/camera/image_raw")]
    config = yaml.safe_load(Path(rviz.kwargs["arguments"][1]).read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"
    assert "/camera/image_raw" in _rviz_topics(config) and "/robot1/depth/image" in _rviz_topics(config)

    (_, rviz) = run.execute(use_rviz="true", rviz_config="/my/own.rviz")  # the user's config is used as is
    assert rviz.kwargs["arguments"] == ["-d", "/my/own.rviz"]
    with pytest.raises(ConfigError, match="mode"):
        run.execute(mode="stereo")
    with pytest.raises(ConfigError, match="estimator classical takes no checkpoint"):  # the packaged file's
        run.execute(checkpoint="/m.pt")


def test_rendered_rviz_configs_are_not_left_behind_per_launch(launch_run, tmp_path: Path) -> None:
    """Each launch with use_rviz:=true renders its config into the per-user cache, named by content: relaunching
    rewrites the same file instead of leaving a new temporary one each time; other cameras get their own."""
    cache = tmp_path / "cache" / "lingbot_depth_ros" / "rviz"
    run = launch_run("lingbot_depth.launch.py")
    paths = [run.execute(use_rviz="true", namespace="front")[1].kwargs["arguments"][1] for _ in range(3)]
    assert len(set(paths)) == 1 and Path(paths[0]).parent == cache
    (_, rear) = run.execute(use_rviz="true", namespace="rear")
    assert sorted(p.name for p in cache.iterdir()) == sorted({Path(paths[0]).name,
                                                             Path(rear.kwargs["arguments"][1]).name})
    assert "/front/depth/image" in Path(paths[0]).read_text()
    assert "/rear/depth/image" in Path(rear.kwargs["arguments"][1]).read_text()


def test_write_rviz_config_falls_back_when_the_cache_is_not_writable(tmp_path: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from lingbot_depth_ros.deploy.rviz_config import write_rviz_config
    blocker = tmp_path / "not_a_dir"
    blocker.write_text("")
    monkeypatch.setenv("XDG_CACHE_HOME", str(blocker))  # mkdir under a file fails
    monkeypatch.setenv("TMPDIR", str(tmp_path / "tmp"))
    (tmp_path / "tmp").mkdir()
    import tempfile
    monkeypatch.setattr(tempfile, "tempdir", None)  # re-read TMPDIR
    path = write_rviz_config([CameraView.for_node("robot")])
    assert path.parent.parent == tmp_path / "tmp" and "/robot/depth/image" in path.read_text()
    assert write_rviz_config([CameraView.for_node("robot")]) == path and len(list(path.parent.iterdir())) == 1


def test_multi_camera_launch_starts_one_node_per_namespace(launch_run, tmp_path: Path) -> None:
    run = launch_run("multi_camera.launch.py")
    args = run.arguments
    assert args["front_namespace"] == "front" and args["rear_namespace"] == "rear"
    for camera in ("front", "rear"):
        for topic in REMAP_ARGUMENTS:
            assert f"{camera}_{topic}" in args
    nodes = run.execute(front_image="/front_camera/image_raw", rear_image="/rear_camera/image_raw",
                        estimator="classical", use_rviz="true")
    _check_node_actions(nodes)
    depth_nodes = [n for n in nodes if n.kwargs["executable"] == "depth_node"]
    assert [n.kwargs["namespace"] for n in depth_nodes] == ["front", "rear"]
    assert [n.kwargs["remappings"] for n in depth_nodes] == [[("image", "/front_camera/image_raw")],
                                                              [("image", "/rear_camera/image_raw")]]
    assert all(n.kwargs["parameters"][-1]["estimator"] == "classical" for n in depth_nodes)
    (rviz,) = [n for n in nodes if n.kwargs["executable"] == "rviz2"]
    assert Path(rviz.kwargs["arguments"][1]).parent == tmp_path / "cache" / "lingbot_depth_ros" / "rviz"
    config = yaml.safe_load(Path(rviz.kwargs["arguments"][1]).read_text())
    topics = _rviz_topics(config)
    assert {"/front_camera/image_raw", "/rear_camera/image_raw", "/front/depth/image", "/rear/depth/image",
            "/front/points", "/rear/points"} <= topics
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "base_link"
    with pytest.raises(RuntimeError, match="different namespaces"):
        run.execute(rear_namespace="front")


@pytest.mark.parametrize("name,values", [("lingbot_depth.launch.py", {"namespace": "robot1"}),
                                         ("lingbot_depth.launch.py", {"rviz_config": "/my/own.rviz"}),
                                         ("multi_camera.launch.py", {}),
                                         ("multi_camera.launch.py", {"single_process": "true"})])
def test_use_rviz_without_rviz2_starts_the_depth_nodes_and_warns_once(launch_run, name: str,
                                                                      values: dict[str, str]) -> None:
    """A robot without rviz2: ``use_rviz:=true`` used to return an rviz2 Node action, and ``ros2 launch`` then
    failed ("package 'rviz2' not found", exit 1) after starting the depth node, which kept running with no
    parent. Now the launch file asks the ament index first: the depth node(s) alone, one warning line."""
    with_rviz = launch_run(name).execute(use_rviz="true", **values)
    assert [a.kwargs["executable"] for a in with_rviz][-1] == "rviz2"  # rviz2 installed: started as before
    run = launch_run(name, missing=("rviz2",))
    actions = run.execute(use_rviz="true", **values)
    assert [a.kwargs["executable"] for a in actions] == [a.kwargs["executable"] for a in with_rviz[:-1]]
    assert all(a.kwargs["executable"] == "depth_node" for a in actions)
    _check_node_actions(actions)
    (warning,) = run.warnings
    assert "\n" not in warning and "package 'rviz2' not found" in warning and "starting without RViz" in warning
    config = with_rviz[-1].kwargs["arguments"][1]
    assert warning.endswith(f"rviz2 -d {config}")  # the config it would have opened, for a machine with RViz
    without = run.execute(use_rviz="false", **values)  # no RViz asked: the same nodes, quiet
    assert [a.kwargs for a in without] == [a.kwargs for a in actions] and len(run.warnings) == 1


def test_every_launch_file_with_use_rviz_checks_for_rviz2(launch_run) -> None:
    for name in LAUNCH_FILES:
        run = launch_run(name, missing=("rviz2",))
        if "use_rviz" not in run.arguments:
            continue
        assert all(a.kwargs["executable"] != "rviz2" for a in run.execute(use_rviz="true")), name
        assert len(run.warnings) == 1, name


def test_readme_launch_commands_use_only_declared_arguments(launch_run) -> None:
    """`ros2 launch` takes name:=value launch arguments, never -p: every example in the README and docs/ must be
    runnable."""
    readme = (ROOT / "README.md").read_text()
    text = "\n".join([readme] + [path.read_text() for path in sorted((ROOT / "docs").glob("*.md"))])
    commands = re.findall(r"ros2 launch lingbot_depth_ros (\S+\.launch\.py)((?:[^\n]*\\\n)*[^\n]*)", text)
    assert commands, "README has no ros2 launch example"
    declared = {name: set(launch_run(name).arguments) for name in LAUNCH_FILES}
    for launch_file, rest in commands:
        assert launch_file in declared, launch_file
        assert " -p " not in rest and "--ros-args" not in rest, rest
        for arg in re.findall(r"(?:^|\s)([\w.]+):=", rest):
            assert arg in declared[launch_file], f"{launch_file}: {arg} is not a launch argument"
    robot = readme[readme.index("## On a robot"):]
    robot = robot[:robot.index("\n## ", 1)]
    # `ros2 run ... --ros-args -p name:=value` is how ros2 run takes parameters: only other -p are wrong
    robot = re.sub(r"ros2 run [^\n]*--ros-args(?:[^\n]*\\\n)*[^\n]*", "", robot)
    assert not re.findall(r"(?<![\w-])-p [\w.]+:=", robot), "the robot section tells people to pass -p"


# --------------------------------------------------------------------------- the rendered RViz config vs the real node
def _rviz_topics(config: dict[str, Any]) -> set[str]:
    return {d["Topic"]["Value"] for d in config["Visualization Manager"]["Displays"] if "Topic" in d}


def test_packaged_rviz_config_is_the_default_rendering() -> None:
    text = (ROOT / "rviz" / "lingbot_depth.rviz").read_text()
    assert text == render_rviz_config([CameraView.for_node()]), \
        "run: python -m lingbot_depth_ros.deploy.rviz_config --write"
    config = yaml.safe_load(text)
    assert {"/image", "/depth/image", "/depth/colorized", "/points", "/obstacles/scan",
            "/obstacles/markers"} == _rviz_topics(config)
    displays = {d["Name"]: d for d in config["Visualization Manager"]["Displays"]}
    assert displays["Dense cloud"]["Color Transformer"] == "RGB8"
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "camera_color_optical_frame"


@contextlib.contextmanager
def _launched_nodes(nodes: list[_Recorder]) -> Iterator[list[DepthNode]]:
    """Real depth nodes (in this process, one context) started as the launch file's Node actions say."""
    context = rclpy.Context()
    rclpy.init(context=context)
    started: list[DepthNode] = []
    try:  # graph introspection needs no spinning
        for action in nodes:
            kw = action.kwargs
            cli = ["--ros-args"] + [a for p in kw["parameters"] if isinstance(p, str) for a in ("--params-file", p)]
            cli += [a for src, dst in kw["remappings"] for a in ("-r", f"{src}:={dst}")]
            overrides = [Parameter(k, value=v) for k, v in kw["parameters"][-1].items()]
            node = DepthNode(context=context, namespace=kw["namespace"], cli_args=cli,
                             parameter_overrides=overrides)
            started.append(node)
        yield started
    finally:
        for node in started:
            node.destroy_node()
        rclpy.shutdown(context=context)


def _node_topics(node: DepthNode) -> set[str]:
    """Topics ``node`` publishes or subscribes to, from the ROS graph (not from the node's own fields)."""
    name, namespace = node.get_name(), node.get_namespace()
    channel = node.channels[0]
    topics: set[str] = set()

    def outputs_in_graph() -> bool:
        nonlocal topics
        pubs = node.get_publisher_names_and_types_by_node(name, namespace)
        subs = node.get_subscriber_names_and_types_by_node(name, namespace)
        topics = {t for t, _ in pubs} | {t for t, _ in subs}
        return {t for t, _ in pubs} >= {channel.pub_depth.topic_name, channel.pub_points.topic_name}

    wait_until(outputs_in_graph, 20, f"{name}'s depth and points publishers in the graph", poll_s=0.1)
    return topics


@pytest.mark.ros
@pytest.mark.parametrize("transport", ["raw", "compressed"])
def test_rendered_rviz_topics_resolve_to_the_namespaced_remapped_node(launch_run, transport: str) -> None:
    """namespace:=/robot1/cam with the image remapped: every RViz topic is one the started node uses."""
    run = launch_run("lingbot_depth.launch.py")
    node_action, rviz = run.execute(namespace="/robot1/cam", image="/robot1/camera/color/image_raw",
                                    camera_info="/robot1/camera/color/camera_info", image_transport=transport,
                                    use_rviz="true", camera_frame="robot1_camera_optical_frame")
    path = Path(rviz.kwargs["arguments"][1])
    config = yaml.safe_load(path.read_text())
    assert config["Visualization Manager"]["Global Options"]["Fixed Frame"] == "robot1_camera_optical_frame"
    rviz_topics = _rviz_topics(config)
    assert len(rviz_topics) == 6 and all(t.startswith("/robot1/") for t in rviz_topics), rviz_topics
    image_topic = "/robot1/camera/color/image_raw" + ("/compressed" if transport == "compressed" else "")
    assert image_topic in rviz_topics
    with _launched_nodes([node_action]) as (node,):
        assert node.get_namespace() == "/robot1/cam"
        graph = _node_topics(node)
    missing = rviz_topics - graph
    assert not missing, f"RViz would show topics the node does not use: {missing}; node uses {sorted(graph)}"
    assert image_topic in graph and "/robot1/cam/depth/image" in graph and "/robot1/cam/depth/camera_info" in graph
    path.unlink()


@pytest.mark.ros
def test_multi_camera_rviz_topics_resolve_to_both_nodes(launch_run) -> None:
    run = launch_run("multi_camera.launch.py")
    actions = run.execute(front_image="/front_camera/image_raw", rear_sparse_depth="lidar/depth", use_rviz="true")
    nodes, (rviz,) = actions[:-1], actions[-1:]
    config = yaml.safe_load(Path(rviz.kwargs["arguments"][1]).read_text())
    rviz_topics = _rviz_topics(config)
    assert len(rviz_topics) == 12
    with _launched_nodes(nodes) as started:
        graph = set().union(*(_node_topics(n) for n in started))
    assert not rviz_topics - graph, rviz_topics - graph
    assert {"/front_camera/image_raw", "/rear/lidar/depth", "/rear/image"} <= graph
