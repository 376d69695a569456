"""Fixed facts of the SMPL-X v1.1 layout that every part of ``ros_phmr.body`` agrees on.

These are numbers and names of the published model format (vertex/face/joint counts, the
kinematic tree, which vertices smplx 0.1.28 turns into extra keypoints), not model data: the
licensed arrays themselves are never part of the project.
"""
from typing import Dict, List, Tuple

NUM_VERTICES = 10475
NUM_FACES = 20908
NUM_JOINTS = 55
NUM_BODY_JOINTS = 21
NUM_HAND_JOINTS = 15
NUM_LANDMARKS = 51
NUM_POSE_FEATURES = 9 * (NUM_JOINTS - 1)  # 486: (R - I) of the 54 non-root joints
SHAPE_SPACE_DIM = 300        # v1.1 files: columns [0, 300) are betas, [300, 400) expression
EXPRESSION_SPACE_DIM = 100
LEGACY_SHAPE_COLUMNS = 20    # v1.0 files: 10 betas + 10 expression
DYNAMIC_LANDMARK_BINS = 79   # face-contour look-up table, neck yaw -39..39 degrees
DYNAMIC_LANDMARKS = 17

JOINT_NAMES: List[str] = [
    "pelvis", "left_hip", "right_hip", "spine1", "left_knee", "right_knee", "spine2",
    "left_ankle", "right_ankle", "spine3", "left_foot", "right_foot", "neck",
    "left_collar", "right_collar", "head", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "jaw",
    "left_eye_smplhf", "right_eye_smplhf",
] + [
    f"{side}_{finger}{k}"
    for side in ("left", "right")
    for finger in ("index", "middle", "pinky", "ring", "thumb")
    for k in (1, 2, 3)
]


def _finger_chain_parents(first_joint: int, wrist: int) -> List[int]:
    """Parents of 5 three-joint finger chains that start at ``first_joint`` and hang off ``wrist``."""
    parents = []
    for finger in range(5):
        base = first_joint + 3 * finger
        parents += [wrist, base, base + 1]
    return parents


# Parent of each joint; the root's parent is -1 and every parent index is smaller than its child.
PARENTS: List[int] = (
    [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15]
    + _finger_chain_parents(25, 20)
    + _finger_chain_parents(40, 21)
)

# Vertices that smplx 0.1.28 appends as joints 55..75, in its order (VertexJointSelector with
# use_hands=True, use_feet_keypoints=True): face, feet, left fingertips, right fingertips.
EXTRA_VERTEX_IDS: Tuple[Tuple[str, int], ...] = (
    ("nose", 9120), ("reye", 9929), ("leye", 9448), ("rear", 616), ("lear", 6),
    ("LBigToe", 5770), ("LSmallToe", 5780), ("LHeel", 8846),
    ("RBigToe", 8463), ("RSmallToe", 8474), ("RHeel", 8635),
    ("lthumb", 5361), ("lindex", 4933), ("lmiddle", 5058), ("lring", 5169), ("lpinky", 5286),
    ("rthumb", 8079), ("rindex", 7669), ("rmiddle", 7794), ("rring", 7905), ("rpinky", 8022),
)
NUM_OUTPUT_JOINTS = NUM_JOINTS + len(EXTRA_VERTEX_IDS) + NUM_LANDMARKS  # 127

# OpenPose BODY_25 from the 127 smplx joints, as PromptHMR maps them (nose, neck, right arm,
# left arm, mid-hip, right leg, left leg, eyes, ears, feet).
OPENPOSE25_FROM_SMPLX: List[int] = (
    [55, 12, 17, 19, 21, 16, 18, 20, 0, 2, 5, 8, 1, 4, 7] + list(range(56, 66))
)

# Keys smplx 0.1.28 reads unconditionally, with the shape each has in an SMPL-X v1.1 file.
# ``None`` marks the shapedirs column count, which is 400 (v1.1) or 20 (v1.0).
REQUIRED_SHAPES: Dict[str, Tuple] = {
    "v_template": (NUM_VERTICES, 3),
    "f": (NUM_FACES, 3),
    "shapedirs": (NUM_VERTICES, 3, None),
    "posedirs": (NUM_VERTICES, 3, NUM_POSE_FEATURES),
    "J_regressor": (NUM_JOINTS, NUM_VERTICES),
    "kintree_table": (2, NUM_JOINTS),
    "weights": (NUM_VERTICES, NUM_JOINTS),
    "hands_componentsl": (45, 45),
    "hands_componentsr": (45, 45),
    "hands_meanl": (45,),
    "hands_meanr": (45,),
    "lmk_faces_idx": (NUM_LANDMARKS,),
    "lmk_bary_coords": (NUM_LANDMARKS, 3),
}
# Read only when the face contour is wanted (use_face_contour=True in smplx).
OPTIONAL_SHAPES: Dict[str, Tuple] = {
    "dynamic_lmk_faces_idx": (DYNAMIC_LANDMARK_BINS, DYNAMIC_LANDMARKS),
    "dynamic_lmk_bary_coords": (DYNAMIC_LANDMARK_BINS, DYNAMIC_LANDMARKS, 3),
}
INDEX_KEYS = ("f", "kintree_table", "lmk_faces_idx", "dynamic_lmk_faces_idx")
