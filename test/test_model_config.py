"""model_config schema: the ViT-L reference layout (keys, shapes, parameter counts) and validation."""

from __future__ import annotations

import copy

import pytest
import torch

from lingbot_depth_ros.errors import ConfigError
from lingbot_depth_ros.model import build_model, parse_model_config, reference_model_config, tiny_model_config


def _count(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture(scope="module")
def reference():
    network, preprocess = build_model(reference_model_config(), device="meta")
    return network, preprocess


def test_reference_parameter_counts_match_spec(reference):
    network, _ = reference
    assert _count(network) == 324_310_658
    assert _count(network.encoder.backbone) == 304_570_368
    assert _count(network.encoder.output_projections) == 4_198_400
    assert _count(network.neck) == 6_157_376
    assert _count(network.depth_head) == 4_692_257
    assert _count(network.mask_head) == 4_692_257
    assert _count(network.encoder.backbone.blocks[0]) == 12_598_272
    assert _count(network.encoder.backbone.depth_patch_embed) == 201_728
    buffers = sum(b.numel() for b in network.buffers())
    assert buffers == 6


def test_reference_variants_match_spec_file_size_candidates():
    one_layer = reference_model_config()
    one_layer["encoder"]["intermediate_layers"] = 1
    assert _count(build_model(one_layer, device="meta")[0]) == 321_161_858
    no_mask = reference_model_config()
    no_mask["mask_head"] = None
    network, _ = build_model(no_mask, device="meta")
    assert network.mask_head is None and _count(network) == 319_618_401


def test_reference_key_names_and_shapes(reference):
    network, _ = reference
    shapes = {k: tuple(v.shape) for k, v in network.state_dict().items()}
    bb = "encoder.backbone."
    expected = {
        "encoder.image_mean": (1, 3, 1, 1), "encoder.image_std": (1, 3, 1, 1),
        bb + "cls_token": (1, 1, 1024), bb + "pos_embed": (1, 1370, 1024), bb + "mask_token": (1, 1024),
        bb + "patch_embed.proj.weight": (1024, 3, 14, 14), bb + "patch_embed.proj.bias": (1024,),
        bb + "depth_patch_embed.proj.weight": (1024, 1, 14, 14), bb + "depth_patch_embed.proj.bias": (1024,),
        bb + "norm.weight": (1024,), bb + "norm.bias": (1024,),
        "neck.input_blocks.0.weight": (1024, 1026, 1, 1), "neck.input_blocks.4.weight": (32, 2, 1, 1),
        "neck.resamplers.0.0.weight": (1024, 256, 2, 2), "neck.resamplers.0.1.weight": (256, 256, 3, 3),
        "neck.resamplers.3.1.weight": (32, 64, 3, 3),
        "neck.res_blocks.1.1.layers.5.weight": (256, 256, 3, 3),
        "depth_head.input_blocks.0.weight": (1024, 1024, 1, 1), "depth_head.output_blocks.4.weight": (1, 32, 1, 1),
        "depth_head.output_blocks.4.bias": (1,), "mask_head.res_blocks.3.0.layers.2.weight": (64, 64, 3, 3),
    }
    for i in range(24):
        p = f"{bb}blocks.{i}."
        expected.update({p + "norm1.weight": (1024,), p + "attn.qkv.weight": (3072, 1024), p + "attn.qkv.bias": (3072,),
                         p + "attn.proj.weight": (1024, 1024), p + "ls1.gamma": (1024,), p + "norm2.bias": (1024,),
                         p + "mlp.fc1.weight": (4096, 1024), p + "mlp.fc2.weight": (1024, 4096),
                         p + "ls2.gamma": (1024,)})
    for j in range(4):
        expected[f"encoder.output_projections.{j}.weight"] = (1024, 1024, 1, 1)
    for key, shape in expected.items():
        assert shapes.get(key) == shape, key
    # exact key-set rules: flat blocks, only convs 2/5 in residual blocks, no absent-level keys
    assert not any(".blocks.0.0." in k for k in shapes)
    assert not any(k.startswith("neck.output_blocks") for k in shapes)
    assert not any(".layers.0." in k or ".layers.3." in k for k in shapes)
    assert not any(k.startswith(("neck.res_blocks.0.", "neck.res_blocks.4.")) for k in shapes)
    assert not any(k.startswith("depth_head.output_blocks.") and not k.startswith("depth_head.output_blocks.4")
                   for k in shapes)
    assert "neck.resamplers.3.0.weight" not in shapes  # bilinear upsample has no weights
    backbone_keys = [k for k in shapes if k.startswith(bb)]
    assert len(backbone_keys) == 9 + 24 * 14  # cls/pos/mask, 2 patch embeds, norm; 14 per block
    assert len(shapes) == 479


def test_reference_buffers_hold_imagenet_statistics():
    cfg = tiny_model_config()
    network, preprocess = build_model(cfg, device="cpu")
    assert network.encoder.image_mean.flatten().tolist() == pytest.approx([0.485, 0.456, 0.406])
    assert network.encoder.image_std.flatten().tolist() == pytest.approx([0.229, 0.224, 0.225])
    assert preprocess.mean == pytest.approx((0.485, 0.456, 0.406))


def test_hub_names_map_to_dinov2_sizes():
    for name, width, depth in (("dinov2_vits14", 384, 12), ("dinov2_vitb14", 768, 12), ("dinov2_vitl14", 1024, 24)):
        cfg = reference_model_config()
        cfg["encoder"].update(backbone=name, dim_out=width, intermediate_layers=2)
        cfg["neck"]["dim_in"] = [width + 2, 2, 2, 2, 2]
        for head in ("depth_head", "mask_head"):
            cfg[head]["dim_in"][0] = cfg[head]["dim_res_blocks"][0] = 1024
        parsed = parse_model_config(cfg)
        assert (parsed.encoder.backbone.embed_dim, parsed.encoder.backbone.depth) == (width, depth)
        assert parsed.encoder.layer_indices == (depth - 2, depth - 1)


@pytest.mark.parametrize("mutate, needle", [
    (lambda c: c["encoder"].update(dim_out=512), "dim_out"),
    (lambda c: c["encoder"].update(backbone="dinov2_vitg14"), "SwiGLU"),
    (lambda c: c["encoder"].update(backbone="resnet50"), "unknown encoder.backbone"),
    (lambda c: c["encoder"].update(img_depth_fuse_mode=""), "cat_token"),
    (lambda c: c["encoder"].update(depth_emb_mode="conv_3c"), "conv_1c"),
    (lambda c: c["encoder"].update(img_mask_ratio=0.5), "img_mask_ratio"),
    (lambda c: c["encoder"].update(intermediate_layers=[5, 30]), "intermediate_layers"),
    (lambda c: c["encoder"].update(intermediate_layers=0), "intermediate_layers"),
    (lambda c: c["neck"].update(dim_in=[1024, 2, 2, 2, 2]), "neck.dim_in[0]"),
    (lambda c: c["neck"].update(resamplers=["conv_transpose"] * 3), "neck.resamplers"),
    (lambda c: c["neck"].update(resamplers=["avg_pool"] * 4), "not supported"),
    (lambda c: c["neck"].update(activation="tanh"), "activation"),
    (lambda c: c["neck"].update(bogus=1), "unknown keys"),
    (lambda c: c["depth_head"].update(dim_in=[1024, 256, 128, 64, 16]), "depth_head.dim_in[4]"),
    (lambda c: c["mask_head"].update(dim_out=[None, None, None, None, 3]), "mask_head.dim_out[-1]"),
    (lambda c: c.update(depth_head=None), "depth_head"),
    (lambda c: c.update(remap_depth_in="sqrt"), "remap_depth_in"),
    (lambda c: c.update(num_tokens_range=[3600, 1200]), "num_tokens_range"),
])
def test_invalid_configs_name_the_key(mutate, needle):
    cfg = copy.deepcopy(reference_model_config())
    mutate(cfg)
    with pytest.raises(ConfigError, match=None) as info:
        parse_model_config(cfg)
    assert needle in str(info.value)


def test_tiny_backbone_dict_is_validated():
    cfg = tiny_model_config()
    cfg["encoder"]["backbone"]["num_heads"] = 3  # 64 not divisible by 3
    with pytest.raises(ConfigError, match="divisible"):
        parse_model_config(cfg)
    cfg = tiny_model_config()
    cfg["encoder"]["backbone"]["wat"] = 1
    with pytest.raises(ConfigError, match="wat"):
        parse_model_config(cfg)


def test_tiny_config_builds_with_reference_layout():
    network, preprocess = build_model(tiny_model_config(width=64, depth=2, heads=2), device="cpu")
    keys = set(network.state_dict())
    ref_keys = set(build_model(reference_model_config(), device="meta")[0].state_dict())
    layout = {k for k in ref_keys if ".blocks." not in k and "output_projections" not in k
              and not k.startswith("neck.res_blocks.")}
    assert layout <= keys  # same layout apart from depth/width (tiny neck has 1 res block per level)
    assert {k for k in keys if k.startswith("neck.res_blocks.")} == {
        f"neck.res_blocks.{lvl}.0.layers.{i}.{p}" for lvl in (1, 2, 3) for i in (2, 5) for p in ("weight", "bias")}
    assert network.neck.input_blocks[0].in_channels == 66
    assert preprocess.num_tokens_range == (64, 256)


def test_flop_count_matches_spec_section_10():
    from lingbot_depth_ros.model.flops import forward_flops
    cfg = parse_model_config(reference_model_config())
    dense = forward_flops(cfg, 52, 69)
    assert dense["vit_linear"] == pytest.approx(4.335e12, rel=1e-3)
    assert dense["vit_attention"] == pytest.approx(5.064e12, rel=1e-3)
    assert dense["neck"] == pytest.approx(310.6e9, rel=1e-3)
    assert dense["depth_head"] == pytest.approx(216.4e9, rel=1e-3)
    assert dense["total"] == pytest.approx(10.18e12, rel=1e-3)
    assert forward_flops(cfg, 52, 69, depth_tokens=0)["total"] == pytest.approx(4.21e12, rel=2e-3)
