"""Who attends to whom in the decoder's cross-person attention.

Released PromptHMR has one switch per image: with ``interaction=True`` the (smpl, loc) tokens of
ALL people of that image attend to each other in every decoder block (then ``norm2``); with
``False`` the step is skipped. We generalise this to a boolean pair matrix over the people of a
batch (all images decoded together):

* ``pairs[p, q]`` True: p and q interact (made symmetric). People of different images never do.
* a person is *active* when its row has any True (the diagonal counts: ``pairs[p, p]`` alone
  runs the step on p's own two tokens, as upstream does for a lone person with the flag on);
  inactive people skip the step exactly like upstream's ``interaction=False``.
* active people attend to themselves and their partners only (an attention mask), and the
  person-index encoding uses the rank of the person inside its interaction group (connected
  component), so a group is decoded as upstream would decode those people alone in an image
  with the flag on. A per-image flag gives one group per flagged image: upstream exactly.

Everything is tensor maths with a loop count that depends only on N, so no host sync.
"""
from typing import Union

import torch

InteractionSpec = Union[bool, torch.Tensor]


def pair_matrix(interaction: InteractionSpec, image_index: torch.Tensor, num_images: int) -> torch.Tensor:
    """Normalise an interaction spec to a symmetric (N, N) bool matrix limited to same-image pairs.

    ``interaction``: a bool (all images), a (B,) bool tensor (per image) or an (N, N) bool
    tensor (per pair). ``image_index`` (N,) long gives each person's image.
    """
    count = image_index.shape[0]
    device = image_index.device
    same_image = image_index[:, None] == image_index[None, :]  # (N, N)
    if isinstance(interaction, bool):
        return same_image & interaction
    if not isinstance(interaction, torch.Tensor):
        raise ValueError(f"interaction must be a bool or a bool tensor, got {type(interaction).__name__}")
    flags = interaction.to(device=device, dtype=torch.bool)
    if flags.dim() == 0:
        return same_image & flags
    if flags.dim() == 1 and flags.shape[0] == num_images:
        return same_image & flags[image_index][:, None]
    if flags.dim() == 2 and flags.shape == (count, count):
        return (flags | flags.T) & same_image
    raise ValueError(
        f"interaction must be a bool, a ({num_images},) per-image flag or a ({count}, {count}) pair mask, "
        f"got shape {tuple(flags.shape)}"
    )


def group_ranks(pairs: torch.Tensor) -> torch.Tensor:
    """(N, N) bool pair matrix -> (N,) rank of each person among the members of its connected
    component (ordered by person index)."""
    count = pairs.shape[0]
    eye = torch.eye(count, dtype=torch.bool, device=pairs.device)
    reach = (pairs | eye).float()  # (N, N)
    steps = max(1, (count - 1).bit_length())  # path lengths double each squaring
    for _ in range(steps):
        reach = ((reach @ reach) > 0).float()
    earlier = torch.ones(count, count, dtype=torch.bool, device=pairs.device).tril(-1)  # q < p
    return ((reach > 0) & earlier).sum(dim=1)  # (N,)


def cross_person_plan(pairs: torch.Tensor):
    """(N, N) pair matrix -> (active (N,) bool, token mask (2N, 2N) bool, group rank (N,) long).

    The token mask covers the two decoder tokens (smpl, loc) of every person, ordered
    person-major: token 2p + t.
    """
    count = pairs.shape[0]
    active = pairs.any(dim=1)  # (N,)
    eye = torch.eye(count, dtype=torch.bool, device=pairs.device)
    allowed = pairs | eye  # inactive people attend to themselves only (result discarded)
    token_mask = allowed.repeat_interleave(2, dim=0).repeat_interleave(2, dim=1)  # (2N, 2N)
    return active, token_mask, group_ranks(pairs)
