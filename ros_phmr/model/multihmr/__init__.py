"""Multi-HMR (naver/multi-hmr, SMPL-X variant): single-shot multi-person detection + whole-body regression."""
from ros_phmr.model.multihmr.config import MultiHMRConfig
from ros_phmr.model.multihmr.detection import Detections
from ros_phmr.model.multihmr.hph import HPHOutput, HumanPerceptionHead
from ros_phmr.model.multihmr.model import MultiHMR, MultiHMRNet, MultiHMROutput, place_bodies
from ros_phmr.model.multihmr.random_checkpoint import write_random_multihmr_checkpoint

__all__ = [
    "MultiHMRConfig", "Detections", "HPHOutput", "HumanPerceptionHead", "MultiHMR", "MultiHMRNet",
    "MultiHMROutput", "place_bodies", "write_random_multihmr_checkpoint",
]
