"""PromptHMR-compatible promptable SMPL-X decoder (loads the released checkpoint as is)."""
from ros_phmr.model.prompthmr.dims import FULL_DIMS, TINY_DIMS, PromptHMRDims
from ros_phmr.model.prompthmr.interaction import cross_person_plan, group_ranks, pair_matrix
from ros_phmr.model.prompthmr.model import PromptHMR, split_body_buffers
from ros_phmr.model.prompthmr.network import PromptHMRNet
from ros_phmr.model.prompthmr.prompts import PersonPrompts, prepare_prompts
from ros_phmr.model.prompthmr.random_checkpoint import random_prompthmr_state_dict, write_random_prompthmr_checkpoint

__all__ = [
    "FULL_DIMS",
    "TINY_DIMS",
    "PersonPrompts",
    "PromptHMR",
    "PromptHMRDims",
    "PromptHMRNet",
    "cross_person_plan",
    "group_ranks",
    "pair_matrix",
    "prepare_prompts",
    "random_prompthmr_state_dict",
    "split_body_buffers",
    "write_random_prompthmr_checkpoint",
]
