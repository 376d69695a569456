"""DINOv2 backbone: key layout, parity with upstream DINOv2 outputs, position-embedding cache."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.model.backbone import ARCHITECTURES, DinoV2, dims_from_state_dict

GOLDEN = Path(__file__).parent / "data" / "golden" / "multihmr"


def _expected_dinov2_shapes(dim, depth):
    """DINOv2 hub state dict (no registers, LayerScale, MLP FFN) written out from its definition."""
    shapes = {
        "cls_token": (1, 1, dim),
        "pos_embed": (1, 1370, dim),
        "mask_token": (1, dim),
        "patch_embed.proj.weight": (dim, 3, 14, 14),
        "patch_embed.proj.bias": (dim,),
        "norm.weight": (dim,),
        "norm.bias": (dim,),
    }
    for i in range(depth):
        b = f"blocks.{i}."
        shapes.update({
            b + "norm1.weight": (dim,), b + "norm1.bias": (dim,),
            b + "attn.qkv.weight": (3 * dim, dim), b + "attn.qkv.bias": (3 * dim,),
            b + "attn.proj.weight": (dim, dim), b + "attn.proj.bias": (dim,),
            b + "ls1.gamma": (dim,),
            b + "norm2.weight": (dim,), b + "norm2.bias": (dim,),
            b + "mlp.fc1.weight": (4 * dim, dim), b + "mlp.fc1.bias": (4 * dim,),
            b + "mlp.fc2.weight": (dim, 4 * dim), b + "mlp.fc2.bias": (dim,),
            b + "ls2.gamma": (dim,),
        })
    return shapes


@pytest.mark.parametrize("arch", ["vit_small", "vit_large"])
def test_state_dict_layout_equals_dinov2(arch):
    dims = ARCHITECTURES[arch]
    with torch.device("meta"):
        model = DinoV2(arch)
    got = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert got == _expected_dinov2_shapes(dims.embed_dim, dims.depth)
    assert dims_from_state_dict(model.state_dict()) == dims


def test_vit_large_parameter_count():
    with torch.device("meta"):
        model = DinoV2("vit_large")
    assert sum(p.numel() for p in model.parameters()) == 304_368_640  # ViT-L/14 count from the references


@pytest.fixture(scope="module")
def tiny_upstream_case():
    recipe = json.loads((GOLDEN / "dinov2_tiny.json").read_text())
    model = DinoV2.from_dims(128, 2, 2).eval()
    model.fill_random_(torch.Generator().manual_seed(3))
    return recipe, model, np.load(GOLDEN / "dinov2_tiny.npz")


@pytest.mark.parametrize("merge_class_key", [False, True])
@pytest.mark.parametrize("name", ["s518", "s224x308", "s448"])
def test_tokens_match_upstream_dinov2(tiny_upstream_case, name, merge_class_key):
    """Golden tokens come from facebookresearch/dinov2 run on the same seeded weights; s518 uses
    the stored 37x37 embedding, s448 the square resize, s224x308 a non-square one. With
    ``merge_class_key`` the attention takes the class key apart and must still match."""
    recipe, model, golden = tiny_upstream_case
    h, w = recipe["sizes"][name]
    x = torch.randn(1, 3, h, w, generator=torch.Generator().manual_seed(3 + h + w))
    model.merge_class_key_(merge_class_key)
    try:
        with torch.no_grad():
            tokens = model(x)
    finally:
        model.merge_class_key_(False)
    assert tokens.shape == (1, (h // 14) * (w // 14), 128)
    np.testing.assert_allclose(tokens[:, ::7].numpy(), golden[f"tokens_{name}"], atol=2e-5, rtol=0)


def test_position_embedding_resized_once_and_refreshed_after_load():
    model = DinoV2.from_dims(64, 1, 1).eval()
    model.fill_random_(torch.Generator().manual_seed(0))
    with torch.no_grad():
        first = model.position_embedding(16, 16)
        assert model.position_embedding(16, 16) is first  # cached, not recomputed
        assert first.shape == (1, 257, 64)
        assert model.position_embedding(37, 37) is model.pos_embed  # stored grid used as is
        new_weights = {k: v.clone() for k, v in model.state_dict().items()}
        new_weights["pos_embed"] = new_weights["pos_embed"] * 2.0
        model.load_state_dict(new_weights)
        second = model.position_embedding(16, 16)
    assert second is not first
    torch.testing.assert_close(second[:, 1:], 2.0 * first[:, 1:])
    torch.testing.assert_close(second[:, 0], 2.0 * first[:, 0])


def test_position_embedding_is_differentiable_when_training():
    model = DinoV2.from_dims(64, 1, 1)
    model.position_embedding(4, 4).sum().backward()
    assert model.pos_embed.grad is not None and model.pos_embed.grad.abs().sum() > 0


@pytest.mark.parametrize("shape", [(1, 3, 100, 112), (1, 1, 112, 112), (3, 112, 112)])
def test_bad_input_shape_is_a_value_error(shape):
    model = DinoV2.from_dims(64, 1, 1)
    with pytest.raises(ValueError, match="must be a positive multiple of the patch size|expected images"):
        model(torch.zeros(shape))


def test_unknown_arch_and_bad_dims():
    with pytest.raises(ValueError, match="unknown DINOv2 architecture"):
        DinoV2("vit_huge")
    with pytest.raises(ValueError, match="divisible"):
        DinoV2.from_dims(100, 1, 3)
    assert DinoV2("dinov2_vits14").embed_dim == 384  # hub names are accepted too


@pytest.mark.parametrize("size", [(28, 42), (30, 45)])
def test_patch_embedding_equals_the_strided_convolution(size):
    """The GEMM form against torch's convolution with the same weight (remainders dropped)."""
    from torch.nn import functional as F
    from ros_phmr.model.layers import PatchEmbed

    torch.manual_seed(0)
    embed = PatchEmbed(14, 3, 16)
    images = torch.randn(2, 3, *size)
    want = F.conv2d(images, embed.proj.weight, embed.proj.bias, stride=14).flatten(2).transpose(1, 2)
    got = embed(images)
    assert got.shape == (2, (size[0] // 14) * (size[1] // 14), 16)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def _attention_by_definition(q, k, v):
    """softmax(q k^T / sqrt(d)) v in fp64, written out."""
    q, k, v = q.double(), k.double(), v.double()
    return torch.softmax(q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5, dim=-1) @ v


def _qkv(batch, heads, tokens, dim, device="cpu", dtype=torch.float32):
    generator = torch.Generator().manual_seed(tokens)
    qkv = 2 * torch.randn(batch, tokens, 3, heads, dim, generator=generator)  # scores well spread
    qkv[:, 0, 1] += 3.0  # a class key that takes a large share for some queries
    return qkv.to(device, dtype).permute(2, 0, 3, 1, 4).unbind(0)  # strided views, as in the model


@pytest.mark.parametrize("tokens", [2, 5, 65])
def test_first_key_merge_equals_attention_by_definition(tokens):
    from ros_phmr.model.layers.attention import attention_first_key_merged

    q, k, v = _qkv(2, 3, tokens, 16)
    got = attention_first_key_merged(q, k, v)
    torch.testing.assert_close(got.double(), _attention_by_definition(q, k, v), atol=1e-5, rtol=0)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16, torch.float32])
def test_first_key_merge_on_cuda_kernels(dtype):
    """Each CUDA kernel the merge calls (cuDNN or flash for half types, efficient for fp32),
    at ViT-S/448's token count, against the definition; as close as SDPA itself gets."""
    from torch.nn import functional as F
    from ros_phmr.model.layers.attention import attention_first_key_merged

    q, k, v = _qkv(1, 6, 1025, 64, device="cuda", dtype=dtype)
    want = _attention_by_definition(q, k, v)
    sdpa_error = (F.scaled_dot_product_attention(q, k, v).double() - want).abs().max().item()
    merged_error = (attention_first_key_merged(q, k, v).double() - want).abs().max().item()
    assert merged_error <= max(2 * sdpa_error, 1e-5)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
def test_gelu_epilogue_matmul_against_exact_gelu(dtype):
    """fc1 + GELU as one cuBLASLt call, against the exact-erf definition in float64: off by no
    more than the unfused half-precision path plus the tanh form's 4.7e-4."""
    from torch.nn import functional as F
    from ros_phmr.model.layers.mlp import linear_gelu_fused

    generator = torch.Generator().manual_seed(5)
    x = torch.randn(2, 1025, 384, generator=generator)
    weight = torch.randn(1536, 384, generator=generator) / 384 ** 0.5
    bias = torch.randn(1536, generator=generator)
    want = F.gelu(F.linear(x.double(), weight.double(), bias.double()))
    xh, wh, bh = (t.to("cuda", dtype) for t in (x, weight, bias))
    unfused = (F.gelu(F.linear(xh, wh, bh)).double().cpu() - want).abs().max().item()
    fused_out = linear_gelu_fused(xh, wh, bh)
    assert fused_out.shape == (2, 1025, 1536) and fused_out.dtype == dtype
    assert (fused_out.double().cpu() - want).abs().max().item() <= unfused + 4.7e-4


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gelu_epilogue_backbone_as_close_to_fp32_as_unfused():
    """ViT-S/448 with bf16 weights under autocast, as the pipeline runs it: the fused GELU path
    is taken (the tokens change) and stays as close to the float32 model as the unfused one."""
    from ros_phmr.runtime.precision import cast_matmul_weights_

    model = DinoV2("vit_small").fill_random_(torch.Generator().manual_seed(6)).cuda().eval()
    x = torch.randn(1, 3, 448, 448, generator=torch.Generator().manual_seed(6)).cuda()
    with torch.no_grad():
        want = model(x).double()
        cast_matmul_weights_(model, torch.bfloat16)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            unfused = model(x).double()
            fused = model.fuse_gelu_epilogue_()(x).double()
    errors = {name: (got - want).abs() for name, got in (("unfused", unfused), ("fused", fused))}
    assert not torch.equal(fused, unfused)
    assert errors["fused"].mean() <= 1.05 * errors["unfused"].mean()
    assert errors["fused"].max() <= 1.25 * errors["unfused"].max()
