"""Cross-person attention switched per image and per pair.

Upstream PromptHMR has one flag per image (all people of the image attend to each other, or
nobody does); its exact behaviour for both settings is covered by the upstream goldens in
test_model_prompthmr_parity.py. Here: the pair-mask generalisation decodes every interaction
group as if its people were alone in an image with the flag on, people without partners as with
the flag off, and images of a batch never mix.
"""
import numpy as np
import pytest
import torch

from ros_phmr.model.checkpoint import load_state_dict_strict
from ros_phmr.model.prompthmr import PromptHMRDims, PromptHMRNet, group_ranks, pair_matrix, prepare_prompts
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict

S = 224
OUTPUTS = ("pose_6d", "betas", "transl", "tokens")
BOXES = np.array(
    [[20, 30, 110, 210], [100, 40, 180, 200], [60, 10, 150, 220], [5, 60, 70, 190], [120, 90, 220, 215]], np.float32
)
K = torch.tensor([[[260.0, 0, 110], [0, 262, 115], [0, 0, 1]], [[200.0, 0, 112], [0, 200, 112], [0, 0, 1]]])


@pytest.fixture(scope="module")
def net():
    state = random_prompthmr_state_dict("tiny", 5, include_text_tower=False, include_body=False)
    model = PromptHMRNet(PromptHMRDims.from_state_dict(state))
    load_state_dict_strict(model, state, "tiny PromptHMR")
    return model.eval()


@pytest.fixture(scope="module")
def embeddings():
    return torch.from_numpy(np.random.RandomState(0).standard_normal((2, 64, 16, 16)).astype(np.float32))


def decode(net, embeddings, people, interaction, image_index=None, num_images=1):
    prompts = prepare_prompts(BOXES[people], S, num_images, image_index=image_index, interaction=interaction)
    with torch.no_grad():
        return net.decode(embeddings[:num_images], K[:num_images], prompts)


def assert_rows_equal(out, rows, reference, atol=2e-5):
    for key in OUTPUTS:
        torch.testing.assert_close(out[key][rows], reference[key], rtol=0, atol=atol)


def test_group_ranks_follow_connected_components():
    pairs = torch.zeros(6, 6, dtype=torch.bool)
    for a, b in [(0, 2), (2, 4), (1, 3)]:  # 0-2-4 chained (0 and 4 not directly), 1-3, 5 alone
        pairs[a, b] = pairs[b, a] = True
    assert group_ranks(pairs).tolist() == [0, 0, 1, 1, 2, 0]


def test_pair_matrix_specs():
    image_index = torch.tensor([0, 0, 1, 1, 1])
    per_image = pair_matrix(torch.tensor([True, False]), image_index, 2)
    assert per_image.tolist() == [[True, True, False, False, False], [True, True, False, False, False]] + [[False] * 5] * 3
    assert torch.equal(pair_matrix(True, image_index, 2), image_index[:, None] == image_index[None, :])
    one_way = torch.zeros(5, 5, dtype=torch.bool)
    one_way[0, 2] = one_way[2, 3] = True  # 0-2 cross images: dropped; 2-3 kept and made symmetric
    pairs = pair_matrix(one_way, image_index, 2)
    assert pairs.nonzero().tolist() == [[2, 3], [3, 2]]
    with pytest.raises(ValueError, match="pair mask"):
        pair_matrix(torch.ones(4, 4, dtype=torch.bool), image_index, 2)


def test_all_false_pair_mask_is_the_interaction_off_path(net, embeddings):
    off = decode(net, embeddings, [0, 1, 2], False)
    masked = decode(net, embeddings, [0, 1, 2], np.zeros((3, 3), bool))
    assert_rows_equal(masked, slice(None), off, atol=0)
    on = decode(net, embeddings, [0, 1, 2], True)
    assert (on["pose_6d"] - off["pose_6d"]).abs().max() > 1e-3  # the flag changes the result


def test_full_pair_mask_is_the_interaction_on_path(net, embeddings):
    on = decode(net, embeddings, [0, 1, 2], True)
    assert_rows_equal(decode(net, embeddings, [0, 1, 2], np.ones((3, 3), bool)), slice(None), on, atol=0)
    assert_rows_equal(decode(net, embeddings, [0, 1, 2], np.array([True])), slice(None), on, atol=0)


def test_groups_decode_as_if_alone(net, embeddings):
    """People 0 and 2 interact, 1 and 3 interact, 4 has no partner."""
    pairs = np.zeros((5, 5), bool)
    pairs[0, 2] = pairs[1, 3] = True
    out = decode(net, embeddings, [0, 1, 2, 3, 4], pairs)
    assert_rows_equal(out, [0, 2], decode(net, embeddings, [0, 2], True))
    assert_rows_equal(out, [1, 3], decode(net, embeddings, [1, 3], True))
    assert_rows_equal(out, [4], decode(net, embeddings, [4], False))


def test_lone_person_with_flag_on_runs_the_step_on_its_own_tokens(net, embeddings):
    """Upstream with interaction=True and one person still applies cross-person attention and norm2."""
    on = decode(net, embeddings, [0], True)
    assert (on["pose_6d"] - decode(net, embeddings, [0], False)["pose_6d"]).abs().max() > 1e-3
    assert_rows_equal(decode(net, embeddings, [0], np.ones((1, 1), bool)), slice(None), on, atol=0)


def test_images_of_a_batch_do_not_mix(net, embeddings):
    out = decode(net, embeddings, [0, 1, 2, 3, 4], np.array([True, False]), image_index=[0, 1, 0, 1, 1], num_images=2)
    first = decode(net, embeddings, [0, 2], True)
    with torch.no_grad():
        second = net.decode(embeddings[1:], K[1:], prepare_prompts(BOXES[[1, 3, 4]], S, interaction=False))
    assert_rows_equal(out, [0, 2], first)
    assert_rows_equal(out, [1, 3, 4], second)
    assert out["transl"].shape == (5, 3)
