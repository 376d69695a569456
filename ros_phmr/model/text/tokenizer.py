"""CLIP BPE tokenizer wrapper: text -> (N, 77) token ids exactly as ``open_clip.tokenize``.

The vocabulary must ship with an installed package because nothing may be downloaded at run
time. ``instant-clip-tokenizer`` (MIT, numpy-only, vocabulary compiled in) is preferred, with
``ftfy`` for the text clean-up that OpenCLIP applies first (mojibake/ligature/full-width fixes,
then HTML unescaping twice, whitespace collapsing, lower case); ``open_clip_torch`` (which
ships ``bpe_simple_vocab_16e6.txt.gz``) is used where the former has no wheel (e.g. aarch64).
Both give ``<start_of_text> tokens <end_of_text>`` padded with 0 and, when too long, cut so that
the last kept position holds ``<end_of_text>``.
"""
import html
from typing import Callable, Optional, Sequence

import numpy as np
import torch

CONTEXT_LENGTH = 77
START_OF_TEXT = 49406
END_OF_TEXT = 49407


def _instant_backend() -> Optional[Callable[[Sequence[str], int], np.ndarray]]:
    try:
        import ftfy
        import instant_clip_tokenizer
    except ImportError:
        return None
    tokenizer = instant_clip_tokenizer.Tokenizer()

    def clean(text: str) -> str:  # OpenCLIP's basic_clean + whitespace_clean + lower
        text = html.unescape(html.unescape(ftfy.fix_text(text))).strip()
        return " ".join(text.split()).lower()

    return lambda texts, context: np.asarray(tokenizer.tokenize_batch([clean(t) for t in texts], context), dtype=np.int64)


def _open_clip_backend() -> Optional[Callable[[Sequence[str], int], np.ndarray]]:
    try:
        from open_clip.tokenizer import tokenize
    except ImportError:
        return None
    return lambda texts, context: tokenize(list(texts), context_length=context).numpy().astype(np.int64)


class ClipTokenizer:
    """Callable: list of strings -> LongTensor (N, context_length) of CLIP BPE ids."""

    def __init__(self, context_length: int = CONTEXT_LENGTH):
        if context_length < 2:
            raise ValueError(f"context_length must be at least 2 (start and end tokens), got {context_length}")
        self.context_length = context_length
        self.backend_name, self._encode = self._pick_backend()

    @staticmethod
    def _pick_backend():
        for name, factory in (("instant_clip_tokenizer", _instant_backend), ("open_clip", _open_clip_backend)):
            encode = factory()
            if encode is not None:
                return name, encode
        raise ImportError(
            "text prompts need a CLIP tokenizer that ships its vocabulary: "
            "pip install instant-clip-tokenizer ftfy (or open_clip_torch)"
        )

    def __call__(self, texts: Sequence[str]) -> torch.Tensor:
        if isinstance(texts, str):
            raise ValueError("expected a list of strings, got a single string")
        bad = [type(t).__name__ for t in texts if not isinstance(t, str)]
        if bad:
            raise ValueError(f"texts must be strings, got {', '.join(sorted(set(bad)))}")
        if not texts:
            return torch.zeros(0, self.context_length, dtype=torch.long)
        return torch.from_numpy(self._encode(texts, self.context_length))  # (N, context_length)
