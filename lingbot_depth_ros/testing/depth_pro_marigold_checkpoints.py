"""Tiny Depth Pro and Marigold checkpoints (random weights, library config classes) for tests and benches.

Each builder writes a real Hugging Face folder (``save_pretrained``) that the estimators load through
the same path as an official checkpoint (``apple/DepthPro-hf``, ``prs-eth/marigold-depth-v1-1``).

The tiny Depth Pro's heads are nudged so its outputs are checkable: the field-of-view head answers
:data:`TINY_FOV_DEG` for every image and the depth head's canonical inverse depth is about
:data:`TINY_INVERSE` (small image-dependent variation), i.e. depth ~ fx / (W * 0.5) m.
"""

from __future__ import annotations

import json
from pathlib import Path

TINY_FOV_DEG = 60.0
TINY_INVERSE = 0.5
TINY_DEPTH_PRO_INPUT = 64  # the model input (square) [px]; the output is 4x this


def build_tiny_depth_pro(folder: str | Path, *, fov_head: bool = True, seed: int = 0) -> Path:
    """Write a tiny DepthProForDepthEstimation (+ preprocessor_config.json) into ``folder``; returns it."""
    import torch
    from transformers import DepthProConfig, DepthProForDepthEstimation

    folder = Path(folder)
    patch = TINY_DEPTH_PRO_INPUT // 4
    backbone = dict(model_type="dinov2", hidden_size=16, num_hidden_layers=2, num_attention_heads=2,
                    intermediate_size=32, patch_size=4, image_size=patch)
    config = DepthProConfig(patch_size=patch, fusion_hidden_size=16, intermediate_hook_ids=[1, 0],
                            intermediate_feature_dims=[8, 8], scaled_images_ratios=[0.25, 0.5, 1],
                            scaled_images_overlap_ratios=[0.0, 0.5, 0.25], scaled_images_feature_dims=[8, 8, 8],
                            use_fov_model=fov_head, num_fov_head_layers=1, image_model_config=dict(backbone),
                            patch_model_config=dict(backbone), fov_model_config=dict(backbone))
    torch.manual_seed(seed)
    model = DepthProForDepthEstimation(config).eval()
    with torch.no_grad():
        last = model.head.layers[-2]  # Conv2d(32, 1) before the final ReLU
        last.weight.mul_(0.01)
        last.bias.fill_(TINY_INVERSE)
        if fov_head:
            fov_last = model.fov_model.head.layers[-1]
            fov_last.weight.zero_()
            fov_last.bias.fill_(TINY_FOV_DEG)
    model.save_pretrained(folder)
    processor = {"image_processor_type": "DepthProImageProcessor", "do_resize": True, "do_rescale": True,
                 "do_normalize": True, "rescale_factor": 1.0 / 255.0, "image_mean": [0.5, 0.5, 0.5],
                 "image_std": [0.5, 0.5, 0.5], "resample": 2,
                 "size": {"height": TINY_DEPTH_PRO_INPUT, "width": TINY_DEPTH_PRO_INPUT}}
    (folder / "preprocessor_config.json").write_text(json.dumps(processor, indent=2))
    return folder


def build_tiny_marigold(folder: str | Path, *, seed: int = 0) -> Path:
    """Write a tiny MarigoldDepthPipeline (UNet, VAE, DDIM scheduler, CLIP text encoder + tokenizer) into ``folder``.

    The layout is the official pipeline's: ``model_index.json`` and one sub-folder per component. The
    tokenizer has a minimal vocabulary (the pipeline only ever encodes the empty prompt).
    """
    import tempfile

    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, MarigoldDepthPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(sample_size=8, in_channels=8, out_channels=4, layers_per_block=1,
                                block_out_channels=(8, 16), down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                                up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=16,
                                attention_head_dim=2, norm_num_groups=4)
    vae = AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2, block_out_channels=(8, 8), latent_channels=4,
                        layers_per_block=1, norm_num_groups=4, sample_size=16)
    scheduler = DDIMScheduler(num_train_timesteps=1000, beta_schedule="scaled_linear", prediction_type="v_prediction",
                              timestep_spacing="trailing", clip_sample=False, set_alpha_to_one=False)
    text_encoder = CLIPTextModel(CLIPTextConfig(vocab_size=64, hidden_size=16, intermediate_size=32,
                                                num_hidden_layers=1, num_attention_heads=2,
                                                max_position_embeddings=16, projection_dim=16,
                                                bos_token_id=0, eos_token_id=1, pad_token_id=1))
    with tempfile.TemporaryDirectory() as tmp:
        vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
        for i, letter in enumerate("abcdefghijklmnopqrstuvwxyz"):
            vocab[letter] = 2 + i
            vocab[letter + "</w>"] = 30 + i
        (Path(tmp) / "vocab.json").write_text(json.dumps(vocab))
        (Path(tmp) / "merges.txt").write_text("#version: 0.2\n")
        tokenizer = CLIPTokenizer(str(Path(tmp) / "vocab.json"), str(Path(tmp) / "merges.txt"), model_max_length=16)
    pipe = MarigoldDepthPipeline(unet=unet, vae=vae, scheduler=scheduler, text_encoder=text_encoder,
                                 tokenizer=tokenizer, prediction_type="depth", scale_invariant=True,
                                 shift_invariant=True, default_denoising_steps=1, default_processing_resolution=32)
    # diffusers' __init__ shows type checkers its placeholder class (no torch/transformers) under this name,
    # which lacks DiffusionPipeline.save_pretrained
    pipe.save_pretrained(folder)  # type: ignore[attr-defined]
    return folder
