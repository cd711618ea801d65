"""``python -m lingbot_depth_ros.surfaces.schema_doc [--write]``: print or regenerate docs/surfaces.schema.json."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from lingbot_depth_ros.surfaces.surface_report import SURFACES_JSON_SCHEMA

SCHEMA_PATH = Path(__file__).resolve().parents[2] / "docs" / "surfaces.schema.json"


def main() -> None:
    parser = argparse.ArgumentParser(description="Print or write the surfaces JSON schema.")
    parser.add_argument("--write", action="store_true", help=f"write {SCHEMA_PATH.name} (else print it)")
    text = json.dumps(SURFACES_JSON_SCHEMA, indent=2) + "\n"
    if parser.parse_args().write:
        SCHEMA_PATH.write_text(text)
    else:
        print(text, end="")


if __name__ == "__main__":
    main()
