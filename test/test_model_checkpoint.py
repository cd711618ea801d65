"""Checkpoint loading: official format, aliases, strict key checks, safetensors export, security."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch

from lingbot_depth_ros.cli.export import main as export_main
from lingbot_depth_ros.errors import CheckpointError
from lingbot_depth_ros.model import build_model, load_model, load_network, reference_model_config
from lingbot_depth_ros.model.checkpoint import match_state_dict, read_checkpoint
from lingbot_depth_ros.model.factory import expected_shapes
from lingbot_depth_ros.testing.lingbot_checkpoints import make_tiny_checkpoint, tiny_state

RGB = np.random.default_rng(0).integers(0, 256, (42, 56, 3), dtype=np.uint8)


def _depth(model) -> np.ndarray:
    return model.infer(RGB, None, num_tokens=12)["depth_m"]


def test_official_format_file_round_trips_weights(tmp_path):
    path = make_tiny_checkpoint(tmp_path / "model.pt", seed=5)
    raw = torch.load(path, weights_only=True)
    assert set(raw) == {"model_config", "model"}
    network, _, _, notes = load_network(path)
    for key, value in network.state_dict().items():
        assert torch.equal(value, raw["model"][key]), key
    assert notes == []


def test_alias_key_and_stored_extra_heads_load(tmp_path):
    plain = load_model(make_tiny_checkpoint(tmp_path / "a.pt", seed=2), device="cpu")
    aliased_path = make_tiny_checkpoint(tmp_path / "b.pt", seed=2, alias_key=True, extra_heads=True)
    assert any("depth_mask_patch_embed" in k for k in torch.load(aliased_path, weights_only=True)["model"])
    aliased = load_model(aliased_path, device="cpu")
    assert any("depth_mask_patch_embed" in n for n in aliased.notes)
    assert any("normal_head" in n and "scale_head" in n for n in aliased.notes)
    np.testing.assert_array_equal(_depth(plain), _depth(aliased))


def _save(path, config, state):
    torch.save({"model_config": config, "model": state}, path)
    return path


def test_wrong_shape_fails_naming_the_key(tmp_path):
    config, state = tiny_state()
    state["neck.input_blocks.1.weight"] = torch.zeros(32, 3, 1, 1)
    with pytest.raises(CheckpointError, match=r"neck\.input_blocks\.1\.weight \(file \(32, 3, 1, 1\), "
                                              r"model \(32, 2, 1, 1\)\)") as info:
        load_model(_save(tmp_path / "bad.pt", config, state), device="cpu")
    assert "bad.pt" in str(info.value)


def test_stray_and_missing_keys_fail_naming_them(tmp_path):
    config, state = tiny_state()
    state["encoder.backbone.register_tokens"] = torch.zeros(1, 4, 64)
    del state["depth_head.output_blocks.4.bias"]
    with pytest.raises(CheckpointError) as info:
        load_model(_save(tmp_path / "stray.pt", config, state), device="cpu")
    message = str(info.value)
    assert "unexpected key(s): encoder.backbone.register_tokens" in message
    assert "missing key(s): depth_head.output_blocks.4.bias" in message


def test_config_that_does_not_match_weights_fails(tmp_path):
    config, state = tiny_state()
    config = json.loads(json.dumps(config))
    config["encoder"]["backbone"]["depth"] = 3
    config["encoder"]["intermediate_layers"] = [0, 1, 2]
    with pytest.raises(CheckpointError, match="blocks.2"):
        load_model(_save(tmp_path / "deeper.pt", config, state), device="cpu")
    config["encoder"]["dim_out"] = 32
    with pytest.raises(CheckpointError, match="model_config is not usable.*dim_out"):
        load_model(_save(tmp_path / "badcfg.pt", config, state), device="cpu")


def test_reference_layout_key_matching_on_meta():
    network, _ = build_model(reference_model_config(), device="meta")
    expected = expected_shapes(network)
    official = {k: torch.empty(s, device="meta") for k, s in expected.items()}
    alias = {k.replace("depth_patch_embed", "depth_mask_patch_embed"): v for k, v in official.items()}
    alias.update({f"normal_head.output_blocks.4.{p}": torch.empty(3, device="meta") for p in ("weight", "bias")})
    mapped, notes = match_state_dict(alias, expected)
    assert set(mapped) == set(expected)
    assert "encoder.backbone.depth_patch_embed.proj.weight" in mapped
    wrong = dict(official)
    wrong["encoder.backbone.blocks.7.attn.qkv.weight"] = torch.empty(3072, 1000, device="meta")
    with pytest.raises(CheckpointError, match=r"blocks\.7\.attn\.qkv\.weight \(file \(3072, 1000\)"):
        match_state_dict(wrong, expected)
    stray = dict(official)
    stray["decoder.extra.weight"] = torch.empty(1, device="meta")
    with pytest.raises(CheckpointError, match=r"unexpected key\(s\): decoder\.extra\.weight"):
        match_state_dict(stray, expected)


class _Payload:
    """A pickle that would run code if loaded without weights_only."""

    def __reduce__(self):
        return (os.mkdir, (self.target,))

    def __init__(self, target: str) -> None:
        self.target = target


def test_pickle_with_code_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "pwned"
    path = tmp_path / "evil.pt"
    torch.save({"model_config": {}, "model": {"x": torch.zeros(1)}, "hook": _Payload(str(marker))}, path)
    with pytest.raises(CheckpointError, match="evil.pt: refused"):
        load_model(path, device="cpu")
    assert not marker.exists()
    raw_pickle = tmp_path / "raw.pt"
    raw_pickle.write_bytes(pickle.dumps(_Payload(str(marker)), protocol=2))
    with pytest.raises(CheckpointError, match="raw.pt"):
        load_model(raw_pickle, device="cpu")
    assert not marker.exists()


def test_plain_but_wrong_content_is_refused(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "bare.pt")
    with pytest.raises(CheckpointError, match="'model_config' and 'model'"):
        read_checkpoint(tmp_path / "bare.pt")
    torch.save({"model_config": {}, "model": {"a": [1, 2]}}, tmp_path / "lists.pt")
    with pytest.raises(CheckpointError, match="not tensors: a"):
        read_checkpoint(tmp_path / "lists.pt")
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    with pytest.raises(CheckpointError, match="junk.pt"):
        read_checkpoint(tmp_path / "junk.pt")


def test_missing_file_and_offline_repo_messages(tmp_path, monkeypatch):
    with pytest.raises(CheckpointError, match="checkpoint file not found: .*nowhere.pt"):
        load_model(tmp_path / "nowhere.pt", device="cpu")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(CheckpointError) as info:
        read_checkpoint("robbyant/lingbot-depth-not-cached", cache_dir=tmp_path / "hf")
    message = str(info.value)
    assert "robbyant/lingbot-depth-not-cached" in message and "model.pt" in message
    assert "offline" in message and "checkpoint:=" in message


def test_hub_cache_is_used_when_present(tmp_path, monkeypatch):
    """A repo id resolves from a populated Hugging Face cache without network."""
    repo = "robbyant/tiny-test"
    snapshot = tmp_path / "hf" / "models--robbyant--tiny-test"
    commit = "0" * 40
    make_tiny_checkpoint(snapshot / "snapshots" / commit / "model.pt", seed=4)
    (snapshot / "refs").mkdir(parents=True)
    (snapshot / "refs" / "main").write_text(commit)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    raw = read_checkpoint(repo, cache_dir=tmp_path / "hf")
    assert raw.source == f"hf://{repo}" and "model.pt" == raw.path.name


def test_export_to_safetensors_and_reload(tmp_path, capsys):
    src = make_tiny_checkpoint(tmp_path / "model.pt", seed=6, alias_key=True, extra_heads=True)
    out = tmp_path / "export"
    assert export_main([str(src), str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    config = json.loads((out / "config.json").read_text())
    assert config == torch.load(src, weights_only=True)["model_config"]
    from safetensors.torch import load_file
    keys = set(load_file(str(out / "model.safetensors")))
    assert not any(k.startswith(("normal_head", "scale_head")) or "depth_mask" in k for k in keys)
    original = load_model(src, device="cpu")
    for source in (out, out / "model.safetensors"):
        np.testing.assert_array_equal(_depth(load_model(source, device="cpu")), _depth(original))
    (out / "config.json").unlink()  # metadata copy of the config is the fallback
    np.testing.assert_array_equal(_depth(load_model(out / "model.safetensors", device="cpu")), _depth(original))
    assert export_main([str(tmp_path / "missing.pt"), str(out)]) == 2
    assert "not found" in capsys.readouterr().err
