"""LingBot-Depth in PyTorch: build from a checkpoint's ``model_config``, load official weights, infer.

Typical use::

    from lingbot_depth_ros.model import load_model
    model = load_model("/path/to/model.pt", device="auto", precision="bf16")
    out = model.infer(rgb_uint8, sparse_depth_m, intrinsics)   # out["depth_m"], out["valid"], ...

Importing this package needs torch; the rest of lingbot_depth_ros does not.
"""

from lingbot_depth_ros.model.checkpoint import match_state_dict, read_checkpoint
from lingbot_depth_ros.model.config import ModelConfig, parse_model_config, reference_model_config, tiny_model_config
from lingbot_depth_ros.model.factory import build_model, load_model, load_network, model_from_config
from lingbot_depth_ros.model.inference import DepthModel, resolve_device
from lingbot_depth_ros.model.preprocess import Preprocessor, TokenGrid, num_tokens_for_level, token_grid

__all__ = ["DepthModel", "ModelConfig", "Preprocessor", "TokenGrid", "build_model", "load_model", "load_network",
           "match_state_dict", "model_from_config", "num_tokens_for_level", "parse_model_config",
           "read_checkpoint", "reference_model_config", "resolve_device", "tiny_model_config", "token_grid"]
