"""The training step's kernel settings: TF32 matrix products and attention without cuDNN's
per-shape plans inside, the caller's settings restored after."""
import pytest
import torch
import torch.nn.functional as F

from ros_phmr.train.trainer import training_kernels


def test_matmul_precision_restored_even_after_an_error():
    torch.set_float32_matmul_precision("highest")
    with pytest.raises(RuntimeError):
        with training_kernels():
            assert torch.get_float32_matmul_precision() == "high"
            raise RuntimeError("a failing step")
    assert torch.get_float32_matmul_precision() == "highest"


def test_attention_inside_computes_what_it_computes_outside():
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 16, generator=g) for _ in range(3))
    with training_kernels():
        inside = F.scaled_dot_product_attention(q, k, v)
    torch.testing.assert_close(inside, F.scaled_dot_product_attention(q, k, v))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA (cuDNN attention)")
def test_attention_on_cuda_avoids_cudnn_for_every_new_people_count():
    for people in (1, 4, 9):   # the decoder's query count changes from batch to batch
        q = torch.randn(2, 8, people, 64, device="cuda", dtype=torch.bfloat16, requires_grad=True)
        kv = torch.randn(2, 8, 1024, 64, device="cuda", dtype=torch.bfloat16)
        with training_kernels():
            out = F.scaled_dot_product_attention(q, kv, kv)
        assert "cudnn" not in out.grad_fn.name().lower()
