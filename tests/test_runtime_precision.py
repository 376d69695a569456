"""Inference-time model preparation: LayerScale folding, weight casts, people buckets, packing."""
import numpy as np
import pytest
import torch

from ros_phmr.model.backbone import DinoV2, ViTDims
from ros_phmr.runtime.people_pack import pack_people
from ros_phmr.runtime.precision import amp_dtype, cast_matmul_weights_, fold_layer_scale_
from ros_phmr.runtime.torch_cuda import bucket_for, people_buckets


def _backbone():
    return DinoV2(ViTDims(64, 2, 2)).fill_random_(torch.Generator().manual_seed(0)).eval()


def test_folding_layer_scale_keeps_the_function():
    model = _backbone()
    images = torch.randn(2, 3, 42, 56)
    with torch.no_grad():
        before = model(images)
        assert fold_layer_scale_(model) == 4
        assert fold_layer_scale_(model) == 0  # idempotent
        after = model(images)
    torch.testing.assert_close(after, before, atol=1e-5, rtol=1e-5)


def test_cast_touches_only_matmul_weights():
    model = _backbone()
    assert cast_matmul_weights_(model, torch.bfloat16) == 1 + 4 * 2  # patch conv + 4 linears per block
    assert model.blocks[0].attn.qkv.weight.dtype == torch.bfloat16
    assert model.patch_embed.proj.weight.dtype == torch.bfloat16
    assert model.blocks[0].norm1.weight.dtype == torch.float32
    assert model.pos_embed.dtype == torch.float32 and model.blocks[0].ls1.gamma.dtype == torch.float32
    with pytest.raises(ValueError, match="fp16"):
        amp_dtype("int8")


def test_people_buckets_cover_every_count_with_little_padding():
    buckets = people_buckets(20)
    assert buckets[-1] == 20 and buckets == sorted(set(buckets))
    for n in range(1, 21):
        b = bucket_for(n, buckets)
        assert n <= b <= n + 3
    with pytest.raises(ValueError):
        bucket_for(21, buckets)
    assert people_buckets(1) == [1]


def test_pack_and_unpack_round_trip():
    rng = np.random.default_rng(0)
    tensors = {"aa": torch.from_numpy(rng.random((3, 22, 3))), "valid": torch.tensor([True, False, True]),
               "betas": torch.from_numpy(rng.random((3, 10)).astype(np.float32))}
    packed, layout = pack_people(tensors)
    assert packed.dtype == torch.float32 and packed.shape == (3, 66 + 1 + 10) == (3, layout.width)
    out = layout.unpack(packed.numpy())
    np.testing.assert_allclose(out["aa"], tensors["aa"].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(out["valid"] > 0.5, [True, False, True])
    assert out["betas"].shape == (3, 10)


def test_low_precision_decoder_stays_close_and_returns_float32():
    from ros_phmr.model.prompthmr.model import PromptHMR
    from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict
    from ros_phmr.runtime.precision import low_precision_decoder_

    model = PromptHMR.from_state_dict(random_prompthmr_state_dict("tiny", 0, include_text_tower=False))
    torch.manual_seed(0)
    embeddings = torch.randn(1, model.dims.dim, 16, 16)
    K = torch.tensor([[[300.0, 0, 112], [0, 300, 112], [0, 0, 1]]])
    prompts = model.prepare_prompts(224, 1, [[10, 10, 100, 200], [50, 20, 150, 210]])
    with torch.no_grad():
        full = model.decode(embeddings, K, prompts)
        low_precision_decoder_(model, torch.bfloat16)
        low = model.decode(embeddings, K, prompts)
    assert model.net.smpl_decoder.transformer.norm_final_attn.weight.dtype == torch.bfloat16
    assert model.net.smpl_decoder.pose_head.layers[0].weight.dtype == torch.float32
    for name in ("pose_6d", "betas", "transl"):
        assert low[name].dtype == torch.float32
        torch.testing.assert_close(low[name], full[name], atol=0.05, rtol=0.05)
