"""The command lines stay at the top: nothing imports ``cli/``, option parsing lives in ``cli/``, and the
ROS replay node knows nothing of evaluation (it sends frames and returns what came back; scoring is above it)."""

from __future__ import annotations

import grimp
import pytest

PACKAGE = "lingbot_depth_ros"
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
