"""Text prompt -> one token for the promptable decoder, cached per distinct string.

Layout of PromptHMR's ``prompt_encoder.clip_encoder``: ``encoder`` (the CLIP text tower) and
``ln_proj`` (Linear CLIP dim -> decoder width). A token is
``ln_proj(normalise(encode_text(tokenize(text))))``. The CLIP tower is the expensive part and
its input is a host-side string, so each distinct string is encoded once and the projected
token is kept in a small LRU cache (cleared when weights are loaded).
"""
from collections import OrderedDict
from typing import Mapping, Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from ros_phmr.model.text.clip_text import ClipTextDims, ClipTextTransformer
from ros_phmr.model.text.tokenizer import ClipTokenizer


class CachedTextEncoder(nn.Module):
    """texts (N strings) -> tokens (N, out_dim); one CLIP pass per string not seen recently."""

    def __init__(self, dims: ClipTextDims, out_dim: int, cache_size: int = 256):
        super().__init__()
        if cache_size < 1:
            raise ValueError(f"cache_size must be at least 1, got {cache_size}")
        self.encoder = ClipTextTransformer(dims)
        self.ln_proj = nn.Linear(dims.output_dim, out_dim)
        self.cache_size = cache_size
        self._tokenizer: Optional[ClipTokenizer] = None
        self._cache: "OrderedDict[tuple, torch.Tensor]" = OrderedDict()
        self.register_load_state_dict_post_hook(lambda module, _incompatible: module.clear_cache())

    @classmethod
    def from_state_dict(cls, state_dict: Mapping[str, torch.Tensor], prefix: str = "", cache_size: int = 256):
        """Sized from the weights under ``prefix`` (``encoder.*``, ``ln_proj.*``); not loaded."""
        dims = ClipTextDims.from_state_dict(state_dict, prefix + "encoder.")
        out_dim = state_dict[prefix + "ln_proj.weight"].shape[0]
        return cls(dims, int(out_dim), cache_size)

    @property
    def tokenizer(self) -> ClipTokenizer:
        if self._tokenizer is None:  # created on first use: only text prompts need the package
            self._tokenizer = ClipTokenizer(self.encoder.dims.context_length)
        return self._tokenizer

    def clear_cache(self) -> None:
        self._cache.clear()

    def _apply(self, fn, *args, **kwargs):
        self.clear_cache()  # device / dtype moves invalidate cached tokens
        return super()._apply(fn, *args, **kwargs)

    @torch.no_grad()
    def encode_uncached(self, texts: Sequence[str]) -> torch.Tensor:
        """(N,) strings -> (N, out_dim) without touching the cache."""
        device = self.ln_proj.weight.device
        token_ids = self.tokenizer(texts).to(device)  # (N, L)
        features = F.normalize(self.encoder(token_ids), dim=-1)  # (N, C)
        return self.ln_proj(features)  # (N, out_dim)

    def forward(self, texts: Sequence[str]) -> torch.Tensor:
        """(N,) strings -> (N, out_dim) on the module's device."""
        weight = self.ln_proj.weight
        if not texts:
            return weight.new_zeros(0, weight.shape[0])
        keys = [(text, weight.device, weight.dtype) for text in texts]
        missing = list(OrderedDict.fromkeys(k for k in keys if k not in self._cache))
        fresh = dict(zip(missing, self.encode_uncached([k[0] for k in missing]))) if missing else {}
        tokens = []
        for key in keys:
            token = self._cache.pop(key, None)
            token = fresh[key] if token is None else token
            self._cache[key] = token  # most recently used last
            tokens.append(token)
        while len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
        return torch.stack(tokens)  # (N, out_dim)
