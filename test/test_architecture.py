"""The package's architecture: the import-linter contracts of .importlinter hold (layers, no rclpy outside ros/,
nothing imports cli/, ros/ imports nothing from evaluation/, no cycles), ros/ holds only modules that use rclpy or ROS
messages, option parsing lives in cli/, and the ROS replay node knows nothing of evaluation (it sends frames and
returns what came back; scoring is above it)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

PACKAGE = "lingbot_depth_ros"
ROOT = Path(__file__).resolve().parents[1]
#: what makes a module a ROS module: rclpy itself or a ROS 2 message/service package
ROS_PACKAGES = {"rclpy", "rcl_interfaces", "builtin_interfaces", "tf2_ros"}
#: developer regeneration commands of checked-in generated files (``python -m <module> --write``), not installed
DEVELOPER_MAINS = {f"{PACKAGE}.params.docs", f"{PACKAGE}.deploy.rviz_config", f"{PACKAGE}.surfaces.schema_doc"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph(PACKAGE, include_external_packages=True)


def _direct_imports(graph: grimp.ImportGraph, importers: str, imported: str) -> list[tuple[str, str]]:
    return sorted((a, b) for a in graph.modules if a.startswith(importers)
                  for b in graph.find_modules_directly_imported_by(a) if b.startswith(imported))


def test_nothing_outside_cli_imports_cli(graph: grimp.ImportGraph) -> None:
    cli = f"{PACKAGE}.cli"
    assert [(a, b) for a, b in _direct_imports(graph, PACKAGE, cli) if not a.startswith(cli)] == []


def test_ros_imports_nothing_from_evaluation(graph: grimp.ImportGraph) -> None:
    assert _direct_imports(graph, f"{PACKAGE}.ros", f"{PACKAGE}.evaluation") == []


def test_argument_parsing_only_in_cli(graph: grimp.ImportGraph) -> None:
    parsers = set(graph.find_modules_that_directly_import("argparse"))
    assert sorted(m for m in parsers - DEVELOPER_MAINS if not m.startswith(f"{PACKAGE}.cli.")) == []
    assert any(m.startswith(f"{PACKAGE}.cli.") for m in parsers)  # the check sees argparse at all


def test_import_linter_contracts_are_kept() -> None:
    lint_imports = Path(sys.executable).with_name("lint-imports")
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    done = subprocess.run([str(lint_imports), "--no-cache", "--config", str(ROOT / ".importlinter")], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]
    assert "0 broken" in done.stdout


def test_ros_holds_only_modules_that_use_rclpy_or_ros_messages(graph: grimp.ImportGraph) -> None:
    """A module in ros/ that needs neither rclpy nor a ROS message belongs to a ROS-free layer."""
    def uses_ros(module: str) -> bool:
        roots = {m.split(".")[0] for m in graph.find_modules_directly_imported_by(module)}
        return bool(roots & ROS_PACKAGES) or any(r.endswith(("_msgs", "_srvs")) for r in roots)

    modules = sorted(graph.find_children(f"{PACKAGE}.ros"))
    assert len(modules) > 10
    assert [m for m in modules if not uses_ros(m)] == []
