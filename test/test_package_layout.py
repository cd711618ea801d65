"""Package metadata, the parameter YAML/README table and the installed data files are consistent
(launch files and the RViz config: test_launch.py)."""

from __future__ import annotations

import ast
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import yaml

from lingbot_depth_ros.params.docs import BEGIN, END, render_markdown_table, render_yaml
from lingbot_depth_ros.params.node import ALL_PARAMS

ROOT = Path(__file__).resolve().parents[1]


def test_one_version_everywhere() -> None:
    """setup.py, package.xml, lingbot_depth_ros.__version__ (which the HTTP API reports) carry one version."""
    import lingbot_depth_ros

    setup_call = next(node for node in ast.walk(ast.parse((ROOT / "setup.py").read_text()))
                      if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "setup")
    setup_version = next(k.value.value for k in setup_call.keywords if k.arg == "version")
    xml_version = ET.parse(ROOT / "package.xml").getroot().findtext("version")
    assert setup_version == xml_version == lingbot_depth_ros.__version__ == "0.3.0"
    assert "version=lingbot_depth_ros.__version__" in (ROOT / "lingbot_depth_ros/server/api.py").read_text()


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


#: pip name -> rosdep key of each run-time dependency of the package (setup.py install_requires, package.xml)
PIP_TO_ROSDEP = {"numpy": "python3-numpy", "opencv-python-headless": "python3-opencv", "pyyaml": "python3-yaml",
                 "tqdm": "python3-tqdm", "jsonschema": "python3-jsonschema"}


def test_pip_and_rosdep_run_time_dependencies_agree() -> None:
    """Every pip run-time dependency has its rosdep key in package.xml and the other way round, and both venvs
    pin it (the Kilted venv runs the package's node tests too); the optional extras are neither."""
    requires = {ast.literal_eval(e) for e in _setup_kwargs()["install_requires"].elts} - {"setuptools"}
    assert requires <= set(PIP_TO_ROSDEP), f"add the rosdep key of {requires - set(PIP_TO_ROSDEP)} to PIP_TO_ROSDEP"
    root = ET.parse(ROOT / "package.xml").getroot()
    python_keys = {e.text for e in root.iter("exec_depend") if e.text and e.text.startswith("python3-")}
    assert {PIP_TO_ROSDEP[name] for name in requires} == python_keys
    for requirements in ("requirements.txt", "requirements/kilted.txt"):
        pinned = {line.split("==")[0].split("[")[0].strip().lower() for line in
                  (ROOT / requirements).read_text().splitlines() if "==" in line and not line.startswith("#")}
        assert requires <= pinned, f"{requirements} does not pin {requires - pinned}"


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


def test_config_yaml_is_complete_and_matches_the_table() -> None:
    path = ROOT / "config" / "lingbot_depth.yaml"
    assert path.read_text() == render_yaml(), "run: python -m lingbot_depth_ros.params.docs --write"
    params = yaml.safe_load(path.read_text())["/**"]["ros__parameters"]
    assert set(params) == {p.name for p in ALL_PARAMS}
    for spec in ALL_PARAMS:
        assert params[spec.name] == spec.default and spec.check(spec.default) is None


def test_readme_parameter_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index(BEGIN) + len(BEGIN): readme.index(END)].strip()
    assert table == render_markdown_table(), "run: python -m lingbot_depth_ros.params.docs --write"


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (ROOT / "README.md").read_text()
    ci = (ROOT / ".ci" / "run").read_text()
    assert "make test" in readme and "make test" in ci
