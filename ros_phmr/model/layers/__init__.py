"""Building blocks of the DINOv2 vision transformer, named so that their parameters carry the
exact state-dict keys of the released DINOv2 / Multi-HMR / PromptHMR checkpoints."""
from ros_phmr.model.layers.attention import SelfAttention
from ros_phmr.model.layers.block import ViTBlock
from ros_phmr.model.layers.layer_scale import LayerScale
from ros_phmr.model.layers.mlp import Mlp
from ros_phmr.model.layers.patch_embed import PatchEmbed

__all__ = ["SelfAttention", "ViTBlock", "LayerScale", "Mlp", "PatchEmbed"]
