"""The decoder's folded attentions between a person's few tokens and its many image tokens
equal plain projected attention (projections, SDPA, output projection) computed in float64."""
import torch

from ros_phmr.model.prompthmr.attention import ProjectedAttention

N, T, HW, D, A, HEADS = 3, 5, 50, 32, 16, 4


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
    folded = attention.tokens_to_image(tokens, image, pe)
    plain = attention(tokens, image + pe, image)
    assert folded.shape == (N, T, D)
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-10)


def test_image_to_tokens_equals_projected_attention():
    attention = _attention()
    tokens, image, pe = _inputs()
    values = tokens.flip(1)  # keys and values differ, as in the decoder (tokens + pe vs tokens)
    folded = attention.image_to_tokens(image, pe, tokens, values)
    plain = attention(image + pe, tokens, values)
    assert folded.shape == (N, HW, D)
    torch.testing.assert_close(folded, plain, rtol=0, atol=1e-10)
    assert not torch.allclose(folded[0], folded[1])


def test_low_precision_stays_close():
    attention = _attention().to(torch.bfloat16)
    tokens, image, pe = (x.to(torch.bfloat16) for x in _inputs())
    reference = attention.double()(tokens.double(), (image + pe).double(), image.double())
    attention = attention.to(torch.bfloat16)
    out = attention.tokens_to_image(tokens, image, pe).double()
    assert (out - reference).abs().max() < 0.05 * reference.abs().max()
