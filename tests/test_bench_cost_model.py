"""The FLOP/byte model against independent numbers: performance.md's backbone table, DINOv2's
published parameter counts and torch's FLOP counter on the (tiny) decoder."""
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from ros_phmr.bench.cost_model import (JETSONS, jetson_table, latency_ms, profile_cost,
                                       prompthmr_decoder_flops, vit_flops, vit_params)
from ros_phmr.model.prompthmr.attention import FOLD_MIN_PEOPLE
from ros_phmr.model.prompthmr.model import PromptHMR
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict


@pytest.mark.parametrize("arch, res, gflop", [("vit_small", 448, 63), ("vit_small", 896, 485),
                                              ("vit_base", 448, 214), ("vit_base", 896, 1320),
                                              ("vit_large", 448, 724), ("vit_large", 896, 4130)])
def test_backbone_flops_match_the_performance_reference(arch, res, gflop):
    assert vit_flops(arch, res) / 1e9 == pytest.approx(gflop, rel=0.01)


@pytest.mark.parametrize("arch, millions", [("vit_small", 22), ("vit_base", 86), ("vit_large", 304)])
def test_backbone_parameters_match_dinov2(arch, millions):
    assert vit_params(arch) / 1e6 == pytest.approx(millions, rel=0.03)


@pytest.mark.parametrize("people", [3, FOLD_MIN_PEOPLE + 1])  # plain and folded attention
def test_decoder_flops_match_torch_flop_counter(people):
    model = PromptHMR.from_state_dict(random_prompthmr_state_dict("tiny", 0, include_text_tower=False))
    dims, res = model.dims, 224
    embeddings = torch.randn(1, dims.dim, res // 14, res // 14)
    K = torch.tensor([[[300.0, 0, 112], [0, 300, 112], [0, 0, 1]]])
    prompts = model.prepare_prompts(res, 1, [[10, 10, 100, 200]] * people)
    with FlopCounterMode(display=False) as counter:
        model.decode(embeddings, K, prompts)
    modelled = prompthmr_decoder_flops(res, people, dims.dim, dims.attention_dim, dims.decoder_depth, dims.mlp_dim)
    assert modelled == pytest.approx(counter.get_total_flops(), rel=0.1)


def test_latency_grows_with_people_and_orders_the_modules():
    one, twenty = (profile_cost("prompthmr+multihmr", n) for n in (1, 20))
    assert twenty["flops"] > one["flops"] and twenty["bytes"] > one["bytes"]
    agx, nx = JETSONS[0], JETSONS[1]
    assert latency_ms(one, agx, 0.4) < latency_ms(one, nx, 0.4)
    table = jetson_table(5)
    assert table.count("\n") == 8 and "Multi-HMR ViT-S/448" in table
