"""Render the parameter table as the commented YAML in config/ and as the README's Markdown table.

``python -m lingbot_depth_ros.params.docs --write`` rewrites config/lingbot_depth.yaml and the
table between the README's ``<!-- params:begin -->`` / ``<!-- params:end -->`` markers; the tests
check that both are up to date with :mod:`lingbot_depth_ros.params.node`.
"""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

from lingbot_depth_ros.params.node import ALL_PARAMS, ParamSpec

BEGIN, END = "<!-- params:begin -->", "<!-- params:end -->"


def _yaml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list):
        return "[" + ", ".join(_yaml_value(v) for v in value) + "]"
    return repr(value)


def render_yaml() -> str:
    """The full parameter file for ``--ros-args --params-file`` (node name lingbot_depth_node)."""
    lines = ["# Parameters of lingbot_depth_node — every parameter, with its default.",
             "# Generated from lingbot_depth_ros/params/node.py (python -m lingbot_depth_ros.params.docs --write).",
             "# Copy this file, edit it, and pass it as params_file:=<file> to the launch file.",
             "/**:", "  ros__parameters:"]
    for spec in ALL_PARAMS:
        range_text = spec.range_text().replace(" \\| ", " | ")
        meaning = spec.description + ("" if range_text == "—" else f" Range: {range_text}.")
        if spec.read_only:
            meaning += " Read-only at run time."
        for line in textwrap.wrap(meaning, width=96, break_on_hyphens=False):
            lines.append(f"    # {line}")
        lines.append(f"    {spec.name}: {_yaml_value(spec.default)}")
    return "\n".join(lines) + "\n"


def _md_row(spec: ParamSpec) -> str:
    default = _yaml_value(spec.default)
    ro = " (read-only)" if spec.read_only else ""
    return f"| `{spec.name}` | {spec.type_name} | `{default}` | {spec.range_text()} | {spec.description}{ro} |"


def render_markdown_table() -> str:
    rows = ["| parameter | type | default | range | meaning |", "|---|---|---|---|---|"]
    rows += [_md_row(spec) for spec in ALL_PARAMS]
    return "\n".join(rows)


def replace_between_markers(text: str, body: str) -> str:
    start, end = text.index(BEGIN) + len(BEGIN), text.index(END)
    return text[:start] + "\n" + body + "\n" + text[end:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite config/lingbot_depth.yaml and README.md")
    parser.add_argument("--root", type=Path, default=Path(__file__).resolve().parents[2])
    args = parser.parse_args()
    if not args.write:
        print(render_markdown_table())
        return
    (args.root / "config" / "lingbot_depth.yaml").write_text(render_yaml())
    readme = args.root / "README.md"
    readme.write_text(replace_between_markers(readme.read_text(), render_markdown_table()))


if __name__ == "__main__":
    main()
