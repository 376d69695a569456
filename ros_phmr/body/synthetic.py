"""A synthetic SMPL-X model file: the licensed file's keys, shapes and dtypes, a made-up body.

The licensed SMPL-X files cannot be shipped or downloaded here, yet loading, skinning, contact
regions and the whole pipeline must be testable with the real code paths. The generator builds
a deterministic human-shaped mannequin (1.70 m, T-pose, SMPL-X canonical frame, exactly SMPL-X's
10475 vertices / 20908 faces / 55 joints, keypoint vertices at smplx's vertex ids, meaningful
height/girth/... shape directions and mouth/brow/... expression directions) and writes it the
way the released file is laid out, so ``smplx.create(out_dir, model_type="smplx")`` loads it.
The seed only varies what is random in the real model too (hand PCA basis, pose correctives,
a jitter of the mean hand); the mannequin's geometry is the same for every seed.
"""
import io
import zipfile
from pathlib import Path
from typing import Dict, Union

import numpy as np

from ros_phmr.body import layout
from ros_phmr.body import mannequin_rig as rig
from ros_phmr.body import mannequin_skeleton as skel
from ros_phmr.body.mannequin_mesh import build_mannequin_mesh
from ros_phmr.body.model_file import MODEL_FILE_NAME


def synthetic_smplx_arrays(seed: int = 0, shapedirs_columns: int = 400) -> Dict[str, np.ndarray]:
    """The arrays of a synthetic SMPLX_NEUTRAL.npz (dtypes as in the released file).

    ``shapedirs_columns`` is 400 (SMPL-X v1.1: 300 shape + 100 expression directions) or 20
    (v1.0: 10 + 10).
    """
    if shapedirs_columns not in (400, 20):
        raise ValueError(f"shapedirs_columns must be 400 (v1.1) or 20 (v1.0), got {shapedirs_columns}")
    rng = np.random.default_rng(seed)
    mesh = build_mannequin_mesh()
    weights = rig.skinning_weights(mesh)
    regressor, _ = rig.joint_regressor(mesh, weights)
    expression_start = 300 if shapedirs_columns == 400 else 10
    shapedirs = np.zeros((layout.NUM_VERTICES, 3, shapedirs_columns))
    body = rig.shape_directions(mesh, weights)
    face = rig.expression_directions(mesh, weights)
    shapedirs[:, :, :body.shape[2]] = body
    shapedirs[:, :, expression_start:expression_start + face.shape[2]] = face
    components_l, components_r, mean_l, mean_r = rig.hand_pca(rng)
    lmk_faces, lmk_bary = rig.face_landmarks(mesh)
    dyn_faces, dyn_bary = rig.contour_landmarks(mesh)
    template = mesh.points + np.array([0.0, skel.FLOOR_TO_MODEL_Y, 0.0])
    arrays = {
        "v_template": template.astype(np.float64),
        "f": mesh.faces.astype(np.uint32),
        "shapedirs": shapedirs,
        "posedirs": rig.pose_correctives(weights, rng),
        "J_regressor": regressor,
        "kintree_table": rig.kintree_table(),
        "weights": weights,
        "hands_componentsl": components_l,
        "hands_componentsr": components_r,
        "hands_meanl": mean_l,
        "hands_meanr": mean_r,
        "lmk_faces_idx": lmk_faces.astype(np.int64),
        "lmk_bary_coords": lmk_bary,
        "dynamic_lmk_faces_idx": dyn_faces.astype(np.int64),
        "dynamic_lmk_bary_coords": dyn_bary,
    }
    # Quantise to 1e-10 so last-bit differences between math libraries (SIMD exp/sin, LAPACK,
    # SciPy's NNLS) practically never change the file's bytes; "+ 0.0" turns -0.0 into 0.0,
    # which also keeps the mostly-zero arrays compressible.
    return {key: np.round(value, 10) + 0.0 if value.dtype == np.float64 else value
            for key, value in arrays.items()}


def write_synthetic_smplx(out_dir: Union[str, Path], seed: int = 0, shapedirs_columns: int = 400) -> Path:
    """Write ``out_dir/smplx/SMPLX_NEUTRAL.npz`` (compressed, no pickled objects; about 5 MB)
    and return its path.

    ``smplx.create(out_dir, model_type="smplx")`` and :func:`ros_phmr.body.load_model_arrays`
    both load it. The same seed always gives the same arrays.
    """
    path = Path(out_dir) / "smplx" / MODEL_FILE_NAME
    path.parent.mkdir(parents=True, exist_ok=True)
    arrays = synthetic_smplx_arrays(seed, shapedirs_columns)
    tmp = path.with_name(path.name + ".tmp")
    _write_npz(tmp, arrays)
    tmp.replace(path)
    return path


def _write_npz(path: Path, arrays: Dict[str, np.ndarray]) -> None:
    """A compressed ``.npz`` as ``np.savez_compressed`` writes it, but with fixed member
    timestamps (the same arrays always give the same bytes) and fast zlib level 1."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for key, value in arrays.items():
            buffer = io.BytesIO()
            np.lib.format.write_array(buffer, np.ascontiguousarray(value), allow_pickle=False)
            info = zipfile.ZipInfo(key + ".npy", date_time=(1980, 1, 1, 0, 0, 0))
            archive.writestr(info, buffer.getvalue(), compress_type=zipfile.ZIP_DEFLATED, compresslevel=1)
