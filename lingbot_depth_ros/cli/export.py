"""``lingbot-depth-export CHECKPOINT OUT_DIR``: convert a checkpoint to safetensors + JSON config,
or with ``--onnx [--level L] [--size WxH] [--fp16]`` to fixed-shape ONNX engines (engine_export.py).

The checkpoint (a ``model.pt`` path, a directory, or a Hugging Face repo id) is read with
``weights_only=True``, built from its ``model_config`` and strictly key-checked; the written
``model.safetensors`` holds exactly the keys this package loads (the depth-embed alias renamed,
unused ``normal_head``/``scale_head`` tensors dropped), and ``config.json`` holds the
``model_config``. The config is also embedded in the safetensors metadata
(:mod:`lingbot_depth_ros.model.export`). This module parses the command line.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from lingbot_depth_ros.errors import LingbotDepthError
from lingbot_depth_ros.model.export import DTYPES, export_checkpoint


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``lingbot-depth-export``: 0 = written, 2 = bad checkpoint, options or files."""
    parser = argparse.ArgumentParser(prog="lingbot-depth-export", description=__doc__.split("\n\n")[0])
    parser.add_argument("checkpoint", help="model.pt path, checkpoint directory, or Hugging Face repo id")
    parser.add_argument("out_dir", help="output directory for model.safetensors and config.json")
    parser.add_argument("--dtype", choices=sorted(DTYPES), default="fp32",
                        help="tensor dtype to store (the loader computes in float32 either way)")
    parser.add_argument("--onnx", action="store_true",
                        help="write ONNX engines instead (model.onnx = completion, model_monocular.onnx, "
                             "engine.json): fixed image size and level, dynamic batch; needs onnx + onnxscript")
    parser.add_argument("--level", type=int, default=9, help="--onnx: resolution level 0..9 (default 9)")
    parser.add_argument("--size", default="640x480", help="--onnx: image size WxH (default 640x480)")
    parser.add_argument("--fp16", action="store_true", help="--onnx: float16 weights and compute "
                        "(inputs/outputs stay float32)")
    args = parser.parse_args(argv)
    try:
        if args.onnx:
            return _export_onnx(args)
        weights, config = export_checkpoint(args.checkpoint, args.out_dir, dtype=args.dtype)
    except (LingbotDepthError, OSError) as exc:
        print(f"lingbot-depth-export: error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {weights} ({weights.stat().st_size / 1e6:.1f} MB) and {config}")
    return 0


def _export_onnx(args: argparse.Namespace) -> int:
    from lingbot_depth_ros.optional import require
    require("lingbot-depth-export --onnx", "onnx", "onnxscript")
    from lingbot_depth_ros.model.engine_export import export_onnx, parse_size
    size = parse_size(args.size)
    path = export_onnx(args.checkpoint, args.out_dir, level=args.level, size_wh=size, fp16=args.fp16)
    meta = json.loads(path.read_text())
    print(f"wrote {path.parent}: model.onnx (completion, sequence {meta['engines']['completion']['sequence_length']}), "
          f"model_monocular.onnx (sequence {meta['engines']['monocular']['sequence_length']}), engine.json; "
          f"{size[0]}x{size[1]} at level {args.level}, {meta['precision']}, dynamic batch")
    return 0


if __name__ == "__main__":
    sys.exit(main())
