"""The decoder's folded attentions between a person's few tokens and its many image tokens
equal plain projected attention (projections, SDPA, output projection) computed in float64."""
import torch

from ros_phmr.model.prompthmr.attention import FOLD_MIN_PEOPLE, PositionedImage, ProjectedAttention

T, HW, D, A, HEADS = 5, 50, 32, 16, 4
N = FOLD_MIN_PEOPLE + 1  # the folded form (fewer people take the plain path)


def _attention():
    torch.manual_seed(0)
    attention = ProjectedAttention(D, A, HEADS).double()
    with torch.no_grad():  # non-zero biases everywhere: each one is folded differently
        for p in attention.parameters():
            p.normal_(0, 0.3)
    return attention


def _inputs():
    g = torch.Generator().manual_seed(1)
    return (torch.randn(N, T, D, generator=g, dtype=torch.float64), torch.randn(N, HW, D, generator=g, dtype=torch.float64),
            torch.randn(HW, D, generator=g, dtype=torch.float64))


def test_tokens_to_image_equals_projected_attention():
    attention = _attention()
    tokens, image, pe = _inputs()
    folded = attention.tokens_to_image(tokens, PositionedImage(image, pe))
    plain = attention(tokens, image + pe, image)
    assert folded.shape == (N, T, D)
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-10)


def test_image_to_tokens_equals_projected_attention():
    attention = _attention()
    tokens, image, pe = _inputs()
    values = tokens.flip(1)  # keys and values differ, as in the decoder (tokens + pe vs tokens)
    folded = attention.image_to_tokens(PositionedImage(image, pe), tokens, values)
    plain = attention(image + pe, tokens, values)
    assert folded.shape == (N, HW, D)
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-10)
    assert not torch.allclose(folded[0], folded[1])


def test_low_precision_stays_close():
    attention = _attention().to(torch.bfloat16)
    tokens, image, pe = (x.to(torch.bfloat16) for x in _inputs())
    reference = attention.double()(tokens.double(), (image + pe).double(), image.double())
    attention = attention.to(torch.bfloat16)
    out = attention.tokens_to_image(tokens, PositionedImage(image, pe)).double()
    assert (out - reference).abs().max() < 0.05 * reference.abs().max()


def test_decoder_gives_the_same_people_in_a_large_batch_as_in_small_ones():
    """7 people take the folded form, 3 + 4 the plain one; people without interaction decode
    independently, so the results must agree."""
    import numpy as np

    from ros_phmr.model.checkpoint import load_state_dict_strict
    from ros_phmr.model.prompthmr import PromptHMRDims, PromptHMRNet, prepare_prompts
    from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict

    state = random_prompthmr_state_dict("tiny", 3, include_text_tower=False, include_body=False)
    net = PromptHMRNet(PromptHMRDims.from_state_dict(state))
    load_state_dict_strict(net, state, "tiny PromptHMR")
    net.eval()
    size = 224
    g = torch.Generator().manual_seed(3)
    embeddings = torch.randn(1, net.prompt_encoder.not_embeddings.weight.shape[1], size // 14, size // 14, generator=g)
    K = torch.tensor([[[260.0, 0, 110], [0, 262, 115], [0, 0, 1]]])
    corner = torch.rand(FOLD_MIN_PEOPLE + 1, 2, generator=g) * 120
    boxes = torch.cat([corner, corner + 40 + torch.rand(FOLD_MIN_PEOPLE + 1, 2, generator=g) * 60], 1).numpy()
    with torch.no_grad():
        together = net.decode(embeddings, K, prepare_prompts(boxes, size))
        parts = [net.decode(embeddings, K, prepare_prompts(boxes[rows], size)) for rows in (slice(0, 3), slice(3, None))]
    for key in ("pose_6d", "betas", "transl"):
        torch.testing.assert_close(together[key], torch.cat([p[key] for p in parts]), rtol=0, atol=2e-5)
    assert np.ptp(together["pose_6d"].numpy(), axis=0).max() > 1e-3
