"""What the trainer trains: a detector (MultiHMRNet), a decoder (PromptHMRNet), or both, sharing
one backbone (our fused model) or each with its own (the official pair)."""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Optional, Union

from torch import nn

from ros_phmr.model.fused import FusedConfig, FusedModel
from ros_phmr.synthetic.dataset import BODY_JOINTS

AUX_PART_CLASSES = 23   # background + 22 body joints
AUX_BETAS = 10
HEAT_PRIOR_LOGIT = -4.6   # a joint lies in about 1 token of 100: start the heat maps near 0.01, not 0.5
FUSED_SIZES = {
    "demo": FusedConfig(),
    "tiny": FusedConfig.tiny(),
    # Distillation students: DINOv2 ViT-S / ViT-B widths at 448 px with Multi-HMR-like heads.
    "vit_s": FusedConfig(embed_dim=384, depth=12, hph_dim=512, hph_heads=8, hph_mlp_dim=1024, decoder_dim=256,
                         decoder_mlp_dim=512, decoder_attention_dim=256, head_hidden=256),
    "vit_b": FusedConfig(embed_dim=768, depth=12, hph_dim=1024, hph_heads=8, hph_mlp_dim=1024, decoder_dim=512,
                         decoder_mlp_dim=1024, decoder_attention_dim=256, head_hidden=512),
}


class TrainModel(nn.Module):
    """``detector`` and/or ``decoder``; ``shared``: the decoder reads the detector's tokens."""

    def __init__(self, detector: Optional[nn.Module], decoder: Optional[nn.Module], shared: bool,
                 fused: Optional[FusedModel] = None):
        super().__init__()
        if detector is None and decoder is None:
            raise ValueError("nothing to train: no detector and no decoder")
        self.detector, self.decoder, self.shared = detector, decoder, bool(shared)
        self.fused = fused
        # Training-only head: body part shown by each backbone token (never exported).
        width = (detector.config.backbone.embed_dim if detector is not None
                 else decoder.dims.backbone.embed_dim)
        self.aux_parts = nn.Linear(width, AUX_PART_CLASSES)
        # Training-only head: per token, a 2D heat-map score for each body joint (losses.joint_heat_loss).
        self.aux_heat = nn.Linear(width, BODY_JOINTS)
        nn.init.constant_(self.aux_heat.bias, HEAT_PRIOR_LOGIT)
        # Training-only heads: each token's person's root-relative joints and shape (losses.dense_body_loss).
        self.aux_pose = nn.Linear(width, 3 * BODY_JOINTS)
        self.aux_shape = nn.Linear(width, AUX_BETAS)

    def add_box_head_(self) -> None:
        """A new box head on a detector that has none (``MultiHMRNet.add_box_head_``)."""
        if self.detector is None:
            raise ValueError("a box head needs a detector to train")
        self.detector.add_box_head_()
        self._update_fused_config(box_head=True)

    def set_duplicate_rule_(self, radius: Optional[float] = None, min_score: Optional[float] = None) -> None:
        """How the detector tells neighbouring people apart (``MultiHMRConfig.duplicate_radius`` and
        ``duplicate_min_score``; None keeps a value), saved with the model. A radius > 0 is for
        detectors trained with offset votes (det_votes)."""
        if self.detector is None:
            raise ValueError("a duplicate rule needs a detector")
        rule = {k: float(v) for k, v in (("duplicate_radius", radius), ("duplicate_min_score", min_score))
                if v is not None}
        self.detector.config = replace(self.detector.config, **rule)
        self._update_fused_config(**rule)

    def deepen_backbone_(self, depth: int) -> None:
        """Grow a fused model's shared backbone to ``depth`` blocks, outputs unchanged
        (``DinoV2.deepen_``); the detector's, decoder's and fused configs follow."""
        if self.fused is None:
            raise ValueError("only a fused model's backbone can be deepened (--model)")
        self.fused.backbone.deepen_(depth)
        dims = self.fused.backbone.dims
        self.detector.config = replace(self.detector.config, backbone=dims)
        self.decoder.dims = replace(self.decoder.dims, backbone=dims)
        self._update_fused_config(depth=depth)

    def _update_fused_config(self, **changes) -> None:
        """Keep a fused model's saved config in step with a change made to its parts (an unfused
        model, or a fused one read from a file that saved no config, has none to keep)."""
        if getattr(self.fused, "config", None) is not None:
            self.fused.config = replace(self.fused.config, **changes)

    @property
    def image_size(self) -> int:
        if self.detector is not None:
            return self.detector.config.image_size
        return 448

    @classmethod
    def new_fused(cls, size: str = "demo", seed: int = 0) -> "TrainModel":
        if size not in FUSED_SIZES:
            raise ValueError(f"fused model size must be one of {sorted(FUSED_SIZES)}, got {size!r}")
        fused = FusedModel.build(FUSED_SIZES[size], seed)
        return cls(fused.detector, fused.decoder, True, fused)

    @classmethod
    def from_fused(cls, fused: FusedModel) -> "TrainModel":
        return cls(fused.detector, fused.decoder, True, fused)

    @classmethod
    def from_checkpoints(cls, multihmr: Optional[Union[str, Path]] = None,
                         prompthmr: Optional[Union[str, Path]] = None) -> "TrainModel":
        """Fine-tune official (or official-layout / compact) checkpoints; a compact file holding
        both components with one backbone comes back fused."""
        if multihmr and prompthmr and str(multihmr) == str(prompthmr) and str(multihmr).endswith(".safetensors"):
            return cls.from_fused(FusedModel.from_compact(multihmr))
        detector = decoder = None
        if multihmr:
            from ros_phmr.model.multihmr.model import MultiHMRNet

            detector = MultiHMRNet.from_checkpoint(multihmr)
        if prompthmr:
            from ros_phmr.model.prompthmr.model import PromptHMR

            decoder = PromptHMR.from_checkpoint(prompthmr, body_model=_synthetic_body()).net
        return cls(detector, decoder, False)

    def export(self, path: Union[str, Path], half: bool = True) -> Path:
        """Compact checkpoint of what is trained (fused: one file with both components)."""
        from ros_phmr.model.compact import write_compact
        from ros_phmr.model.multihmr.random_checkpoint import multihmr_args

        if self.fused is not None:
            return self.fused.save_compact(path, half)
        parts = {}
        if self.detector is not None:
            parts["multihmr"] = {"state_dict": self.detector.state_dict(),
                                 "args": vars(multihmr_args(self.detector.config, "finetuned"))}
        if self.decoder is not None:
            parts["prompthmr"] = {"state_dict": self.decoder.state_dict(), "args": {}}
        return write_compact(path, parts, half)


def _synthetic_body():
    from ros_phmr.body import BodyModel
    from ros_phmr.demo import synthetic_model_path

    return BodyModel.from_file(synthetic_model_path())


def parameter_groups(model: nn.Module, weight_decay: float) -> list:
    """AdamW groups: no decay on biases, norms, embeddings, tables and LayerScale."""
    decay, no_decay = [], []
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        flat = p.dim() < 2 or any(k in name for k in ("pos_embed", "cls_token", "mask_token", "cross_queries",
                                                     "cross_values", "pos_embedding", "embeddings", "smpl_token"))
        (no_decay if flat else decay).append(p)
    return [{"params": decay, "weight_decay": weight_decay}, {"params": no_decay, "weight_decay": 0.0}]


def freeze_unused(model: TrainModel) -> None:
    """Parameters no loss reaches (the backbone's mask token, Multi-HMR's expression/kid decoders
    stay trainable but unsupervised) are frozen so AdamW leaves them as they are."""
    for name, p in model.named_parameters():
        if name.endswith("mask_token"):
            p.requires_grad_(False)
    if model.decoder is not None:
        for name, p in model.decoder.named_parameters():
            if "clip_encoder" in name:
                p.requires_grad_(False)
