"""CLIP text tower and tokenizer: parity with upstream OpenCLIP (goldens made by running
``open_clip`` inside upstream PromptHMR on our seeded random checkpoint), and the per-string cache."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from ros_phmr.model.checkpoint import load_state_dict_strict
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict
from ros_phmr.model.text import CachedTextEncoder, ClipTextDims, ClipTokenizer

GOLDEN = Path(__file__).parent / "data" / "golden" / "prompthmr"
PREFIX = "prompt_encoder.clip_encoder."


@pytest.fixture(scope="module")
def recipe():
    return json.loads((GOLDEN / "recipe.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def text_state():
    state = random_prompthmr_state_dict("tiny", 0, include_body=False, prefixes=[PREFIX])
    return {k[len(PREFIX):]: v for k, v in state.items()}


def make_encoder(text_state, cache_size=256):
    encoder = CachedTextEncoder.from_state_dict(text_state, cache_size=cache_size)
    load_state_dict_strict(encoder, text_state, "tiny CLIP text tower")
    return encoder.eval()


def test_tokenizer_matches_open_clip(recipe):
    expected = np.load(GOLDEN / "tokenizer.npz")["token_ids"]
    ours = ClipTokenizer()(recipe["tokenizer"]["strings"]).numpy()
    assert ours.shape == expected.shape == (len(recipe["tokenizer"]["strings"]), 77)
    np.testing.assert_array_equal(ours, expected)


def test_tokenizer_rejects_non_strings():
    tokenizer = ClipTokenizer()
    with pytest.raises(ValueError, match="single string"):
        tokenizer("a person")
    with pytest.raises(ValueError, match="must be strings"):
        tokenizer(["ok", 3])
    assert tokenizer([]).shape == (0, 77)


def test_dims_read_from_weights(text_state):
    dims = ClipTextDims.from_state_dict(text_state, "encoder.")
    assert dims == ClipTextDims(vocab_size=49408, context_length=77, width=128, layers=2, heads=2, output_dim=48)
    with pytest.raises(ValueError, match="no CLIP text tower"):
        ClipTextDims.from_state_dict({}, "encoder.")


def test_text_features_match_upstream(recipe, text_state):
    """Normalised CLIP features (the input of ln_proj) for the three prompts, 'NULL' included:
    upstream encodes every string and swaps the empty token in afterwards."""
    golden = np.load(GOLDEN / "tiny_masks_text.npz")
    texts = recipe["cases"]["tiny_masks_text"]["texts"]
    encoder = make_encoder(text_state)
    with torch.no_grad():
        ids = encoder.tokenizer(texts)
        np.testing.assert_array_equal(ids.numpy(), golden["token_ids"])
        features = torch.nn.functional.normalize(encoder.encoder(ids), dim=-1).numpy()
    assert np.abs(features - golden["clip_features"]).max() < 1e-5


def test_each_distinct_string_is_encoded_once(text_state):
    encoder = make_encoder(text_state)
    seen = []
    original = encoder.encode_uncached
    encoder.encode_uncached = lambda texts: (seen.append(list(texts)), original(texts))[1]
    first = encoder(["a man", "a woman", "a man"])
    second = encoder(["a woman", "a dog"])
    assert seen == [["a man", "a woman"], ["a dog"]]
    torch.testing.assert_close(first[0], first[2])
    torch.testing.assert_close(first[1], second[0])
    torch.testing.assert_close(second, original(["a woman", "a dog"]))


def test_least_recently_used_entries_are_evicted(text_state):
    encoder = make_encoder(text_state, cache_size=2)
    seen = []
    original = encoder.encode_uncached
    encoder.encode_uncached = lambda texts: (seen.append(list(texts)), original(texts))[1]
    encoder(["a"]), encoder(["b"]), encoder(["a"]), encoder(["c"])  # evicts "b", the least recently used
    encoder(["a", "b"])
    assert seen == [["a"], ["b"], ["c"], ["b"]]
    assert len(encoder._cache) == 2


def test_cache_cleared_when_weights_change(text_state):
    encoder = make_encoder(text_state)
    before = encoder(["a runner"]).clone()
    changed = dict(text_state)
    changed["ln_proj.bias"] = text_state["ln_proj.bias"] + 1.0
    encoder.load_state_dict(changed)
    torch.testing.assert_close(encoder(["a runner"]), before + 1.0)
    assert encoder.double()(["a runner"]).dtype == torch.float64
