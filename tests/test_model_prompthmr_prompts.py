"""Prompt validation and the prompt encoder's "empty" conventions (released behaviour)."""
import numpy as np
import pytest
import torch

from ros_phmr.model.checkpoint import load_state_dict_strict
from ros_phmr.model.prompthmr import PromptHMRDims, PromptHMRNet, prepare_prompts
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict

S = 224  # tiny model input size: 16x16 tokens, 64x64 masks
BOXES = np.array([[20, 30, 110, 210], [100, 40, 180, 200]], np.float32)


@pytest.fixture(scope="module")
def net():
    state = random_prompthmr_state_dict("tiny", 3, include_text_tower=False, include_body=False)
    model = PromptHMRNet(PromptHMRDims.from_state_dict(state))
    load_state_dict_strict(model, state, "tiny PromptHMR")
    return model.eval()


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(boxes=np.zeros((0, 4))), "prompt list is empty"),
        (dict(boxes=None), "give boxes, masks or texts"),
        (dict(boxes=[[50, 10, 40, 100]]), "x2 <= x1"),
        (dict(boxes=[[10, 100, 40, 100]]), "y2 <= y1"),
        (dict(boxes=[[230, 10, 300, 100]]), "entirely outside"),
        (dict(boxes=[[-90, 10, -5, 100]]), "entirely outside"),
        (dict(boxes=[[1, 2, 3]]), r"shape \(N, 4\) or \(N, 5\)"),
        (dict(boxes=[[1, 2, 30, np.nan]]), "NaN"),
        (dict(boxes=[[1, 2, 30, 40, 1.5]]), "confidences"),
        (dict(boxes=BOXES, masks=np.ones((2, 1, 256, 256))), r"masks must have shape \(2, 1, 64, 64\)"),
        (dict(boxes=BOXES, masks=np.ones((1, 1, 64, 64))), r"masks must have shape \(2, 1, 64, 64\)"),
        (dict(boxes=BOXES, texts=["only one"]), "one entry"),
        (dict(boxes=BOXES, texts="a string"), "one entry"),
        (dict(boxes=BOXES, texts=["ok", 5]), "str or None"),
        (dict(boxes=BOXES, num_images=2), "image_index"),
        (dict(boxes=BOXES, num_images=2, image_index=[0, 2]), r"\[0, 2\)"),
        (dict(boxes=BOXES, interaction=np.ones((3, 3), bool)), "pair mask"),
        (dict(boxes=BOXES, interaction=np.ones((2, 2))), "bool"),
    ],
)
def test_bad_prompts_raise_value_error(kwargs, message):
    kwargs = dict(kwargs)
    boxes = kwargs.pop("boxes")
    with pytest.raises(ValueError, match=message):
        prepare_prompts(boxes, S, **kwargs)


def test_boxes_partly_outside_are_clipped_and_confidence_defaults_to_one():
    prompts = prepare_prompts([[-10, 5, 100, 300]], S)
    np.testing.assert_array_equal(prompts.boxes.numpy(), [[0, 5, 100, S, 1]])


def test_integer_masks_become_binary_floats():
    masks = np.zeros((2, 64, 64), np.uint8)
    masks[0, 10:20, 10:20] = 255
    prompts = prepare_prompts(BOXES, S, masks=masks)
    assert prompts.masks.shape == (2, 1, 64, 64) and prompts.masks.dtype == torch.float32
    assert set(np.unique(prompts.masks.numpy())) == {0.0, 1.0}


def test_zero_confidence_box_is_the_empty_box(net):
    """conf 0 blends the corner tokens fully into ``not_embeddings``, i.e. 'no box'."""
    encoder = net.prompt_encoder
    prompts = prepare_prompts(np.c_[BOXES, [0.0, 1.0]], S)
    tokens = encoder.box_tokens(prompts.boxes, S)
    torch.testing.assert_close(tokens[0], encoder.not_embeddings.weight.expand(2, -1), rtol=0, atol=0)
    assert not torch.allclose(tokens[1], encoder.not_embeddings.weight.expand(2, -1))
    no_boxes = prepare_prompts(None, S, texts=[None, None])
    torch.testing.assert_close(encoder.box_tokens(no_boxes.boxes, S)[0], tokens[0], rtol=0, atol=0)


def test_null_texts_and_empty_masks_use_the_learned_empty_tokens(net):
    encoder = net.prompt_encoder
    text = encoder.text_tokens([None, "NULL", "  "], 3)
    torch.testing.assert_close(text[:, 0], encoder.not_embeddings.weight.expand(3, -1), rtol=0, atol=0)
    masks = torch.zeros(2, 1, 64, 64)
    masks[1, 0, 5:30, 5:30] = 1
    dense = encoder.mask_embeddings(masks, 2, 16, 16)
    empty = encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(1, -1, 16, 16)
    torch.testing.assert_close(dense[:1], empty, rtol=0, atol=0)
    torch.testing.assert_close(encoder.mask_embeddings(None, 2, 16, 16), empty.expand(2, -1, -1, -1), rtol=0, atol=0)
    assert not torch.allclose(dense[1:], empty)


def test_text_prompt_without_text_tower_is_an_error(net):
    assert not net.prompt_encoder.has_text
    with pytest.raises(ValueError, match="no CLIP text tower"):
        net.prompt_encoder.text_tokens(["a dancer", None], 2)


def test_decode_checks_the_number_of_images(net):
    prompts = prepare_prompts(BOXES, S, num_images=2, image_index=[0, 1])
    with pytest.raises(ValueError, match="2 images but 1"):
        net.decode(torch.zeros(1, 64, 16, 16), torch.eye(3)[None], prompts)
