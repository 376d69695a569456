"""Validation of per-person prompts before they reach the network (host side, once per frame).

Boxes are xyxy in model-input (letterboxed) pixels with an optional 5th confidence column
(default 1; 0 means "no box" and gives the empty box tokens). As upstream's preprocessing does,
boxes partly outside the image are clipped to it; a box with x2 <= x1 or y2 <= y1, or one
lying entirely outside the image, is an error. Masks are per-person binary masks letterboxed to
4x the token grid (256x256 for 896 px input); an all-zero mask means "no mask".
"""
from dataclasses import dataclass
from typing import Optional, Sequence, Tuple, Union

import numpy as np
import torch

from ros_phmr.model.prompthmr.interaction import InteractionSpec

ArrayLike = Union[np.ndarray, torch.Tensor, Sequence]


@dataclass(frozen=True)
class PersonPrompts:
    """Validated prompts of N people spread over ``num_images`` images (CPU tensors)."""

    boxes: torch.Tensor  # (N, 5) float32: x1, y1, x2, y2, confidence
    image_index: torch.Tensor  # (N,) long
    masks: Optional[torch.Tensor]  # (N, 1, M, M) float32 or None
    texts: Optional[Tuple[Optional[str], ...]]  # N entries, None = no text
    interaction: InteractionSpec  # bool, (B,) bool tensor or (N, N) bool tensor
    num_images: int

    @property
    def count(self) -> int:
        return int(self.boxes.shape[0])

    def to(self, device: Union[str, torch.device]) -> "PersonPrompts":
        """Copy the tensors to ``device`` (e.g. once, before capturing a CUDA graph of the decoder)."""
        move = lambda t: t if t is None else t.to(device)  # noqa: E731
        interaction = self.interaction if isinstance(self.interaction, bool) else self.interaction.to(device)
        return PersonPrompts(move(self.boxes), move(self.image_index), move(self.masks), self.texts, interaction, self.num_images)


def _as_numpy(x: ArrayLike, name: str) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x)
    except (TypeError, ValueError) as err:
        raise ValueError(f"{name} could not be read as an array: {err}") from err


def _check_boxes(boxes: ArrayLike, image_size: int) -> np.ndarray:
    arr = _as_numpy(boxes, "boxes").astype(np.float64)
    if arr.ndim != 2 or arr.shape[1] not in (4, 5):
        raise ValueError(f"boxes must have shape (N, 4) or (N, 5) [x1, y1, x2, y2(, conf)], got {arr.shape}")
    if arr.shape[0] == 0:
        raise ValueError("no people to decode: the prompt list is empty")
    if not np.isfinite(arr).all():
        raise ValueError("boxes contain NaN or infinite values")
    if arr.shape[1] == 4:
        arr = np.concatenate([arr, np.ones((arr.shape[0], 1))], axis=1)
    bad = np.nonzero((arr[:, 2] <= arr[:, 0]) | (arr[:, 3] <= arr[:, 1]))[0]
    if bad.size:
        raise ValueError(f"boxes {bad.tolist()} have x2 <= x1 or y2 <= y1 (expected x1, y1, x2, y2): {arr[bad, :4].tolist()}")
    outside = np.nonzero((arr[:, 2] <= 0) | (arr[:, 3] <= 0) | (arr[:, 0] >= image_size) | (arr[:, 1] >= image_size))[0]
    if outside.size:
        raise ValueError(
            f"boxes {outside.tolist()} lie entirely outside the {image_size}x{image_size} model input "
            "(boxes must be in letterboxed model-input pixels)"
        )
    conf = arr[:, 4]
    if ((conf < 0) | (conf > 1)).any():
        raise ValueError(f"box confidences must lie in [0, 1], got {conf.tolist()}")
    arr[:, :4] = np.clip(arr[:, :4], 0, image_size)
    return arr.astype(np.float32)


def _check_masks(masks: ArrayLike, count: int, mask_size: int) -> torch.Tensor:
    arr = _as_numpy(masks, "masks")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.shape != (count, 1, mask_size, mask_size):
        raise ValueError(f"masks must have shape ({count}, 1, {mask_size}, {mask_size}) (one per person), got {arr.shape}")
    if arr.dtype == bool or np.issubdtype(arr.dtype, np.integer):
        return torch.from_numpy((arr > 0).astype(np.float32))
    if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all():
        raise ValueError(f"masks must be bool, integer or finite float arrays, got dtype {arr.dtype}")
    return torch.from_numpy(arr.astype(np.float32))


def _check_texts(texts: Sequence[Optional[str]], count: int) -> Tuple[Optional[str], ...]:
    if isinstance(texts, str) or len(texts) != count:
        raise ValueError(f"texts must be a list with one entry (str or None) per person ({count}), got {texts!r}")
    bad = [type(t).__name__ for t in texts if t is not None and not isinstance(t, str)]
    if bad:
        raise ValueError(f"texts entries must be str or None, got {', '.join(sorted(set(bad)))}")
    return tuple(texts)


def _check_image_index(image_index: Optional[ArrayLike], count: int, num_images: int) -> torch.Tensor:
    if image_index is None:
        if num_images != 1:
            raise ValueError(f"image_index (which image each person is in) is required for {num_images} images")
        return torch.zeros(count, dtype=torch.long)
    arr = _as_numpy(image_index, "image_index")
    if arr.shape != (count,) or not np.issubdtype(arr.dtype, np.integer):
        raise ValueError(f"image_index must be {count} integers, got shape {arr.shape} dtype {arr.dtype}")
    if ((arr < 0) | (arr >= num_images)).any():
        raise ValueError(f"image_index values must lie in [0, {num_images}), got {arr.tolist()}")
    return torch.from_numpy(arr.astype(np.int64))


def _check_interaction(interaction, count: int, num_images: int) -> InteractionSpec:
    if isinstance(interaction, (bool, np.bool_)):
        return bool(interaction)
    arr = _as_numpy(interaction, "interaction")
    if arr.dtype != bool:
        raise ValueError(f"interaction must be a bool or a bool array, got dtype {arr.dtype}")
    if arr.shape not in ((), (num_images,), (count, count)):
        raise ValueError(
            f"interaction must be a bool, a ({num_images},) per-image flag or a ({count}, {count}) pair mask, got shape {arr.shape}"
        )
    return bool(arr) if arr.shape == () else torch.from_numpy(arr.copy())


def prepare_prompts(
    boxes: Optional[ArrayLike],
    image_size: int,
    num_images: int = 1,
    masks: Optional[ArrayLike] = None,
    texts: Optional[Sequence[Optional[str]]] = None,
    image_index: Optional[ArrayLike] = None,
    interaction: Union[bool, ArrayLike] = False,
    mask_size: Optional[int] = None,
) -> PersonPrompts:
    """Check and package the prompts of N people; raises ValueError naming the problem.

    ``boxes=None`` means no person has a box (N then comes from ``masks`` or ``texts``).
    ``mask_size`` defaults to 4 * (image_size // 14).
    """
    if num_images < 1:
        raise ValueError(f"num_images must be at least 1, got {num_images}")
    mask_size = 4 * (image_size // 14) if mask_size is None else mask_size
    if boxes is None:
        if masks is not None:
            count = len(masks)
        elif texts is not None and not isinstance(texts, str):
            count = len(texts)
        else:
            raise ValueError("no people to decode: give boxes, masks or texts")
        if count == 0:
            raise ValueError("no people to decode: the prompt list is empty")
        box_arr = np.tile(np.array([[0, 0, image_size, image_size, 0]], np.float32), (count, 1))
    else:
        box_arr = _check_boxes(boxes, image_size)
    count = box_arr.shape[0]
    return PersonPrompts(
        boxes=torch.from_numpy(box_arr),
        image_index=_check_image_index(image_index, count, num_images),
        masks=None if masks is None else _check_masks(masks, count, mask_size),
        texts=None if texts is None else _check_texts(texts, count),
        interaction=_check_interaction(interaction, count, num_images),
        num_images=num_images,
    )
