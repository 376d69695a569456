"""Finding and validating an SMPL-X model file before anything deeper touches it.

smplx itself reports a missing key as an ``AttributeError`` on a ``Struct`` and a wrong shape as
a broadcast error somewhere inside ``lbs``; this loader checks the file up front and names the
file, the key and the expected layout instead. It never unpickles anything: the object arrays of
the released file (``joint2num``, ``part2num``) are simply not read.
"""
import zipfile
import zlib
from tokenize import TokenError
from pathlib import Path
from typing import Dict, Union

import numpy as np

from ros_phmr.body import layout

PathLike = Union[str, Path]

MODEL_FILE_NAME = "SMPLX_NEUTRAL.npz"
DOWNLOAD_HINT = (
    "SMPL-X is not shipped with ros_phmr (its licence is non-commercial research only): register "
    "at https://smpl-x.is.tue.mpg.de, download SMPL-X v1.1 (NPZ) and pass the SMPLX_NEUTRAL.npz "
    "file or a folder holding smplx/SMPLX_NEUTRAL.npz. For tests and demos without the licensed "
    "file, `ros_phmr.body.write_synthetic_smplx(out_dir)` writes a synthetic stand-in."
)
# A damaged archive surfaces as any of these (a corrupt .npy header even as SyntaxError from
# numpy's header parser); all of them mean "this file cannot be read".
_READ_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, OSError, ValueError, KeyError, SyntaxError,
                TokenError, MemoryError, TypeError)


def resolve_model_file(path: PathLike) -> Path:
    """Return the SMPL-X ``.npz`` file that ``path`` names: the file itself, or inside a folder
    ``path/smplx/SMPLX_NEUTRAL.npz`` (the layout ``smplx.create`` expects) or
    ``path/SMPLX_NEUTRAL.npz``."""
    root = Path(path).expanduser()
    if root.is_dir():
        candidates = [root / "smplx" / MODEL_FILE_NAME, root / MODEL_FILE_NAME]
        for candidate in candidates:
            if candidate.is_file():
                return candidate
        looked = " and ".join(str(c) for c in candidates)
        raise FileNotFoundError(f"No SMPL-X model in folder {root}: looked for {looked}. {DOWNLOAD_HINT}")
    if root.is_file():
        return root
    raise FileNotFoundError(f"SMPL-X model path {root} does not exist. {DOWNLOAD_HINT}")


def load_model_arrays(path: PathLike) -> Dict[str, np.ndarray]:
    """Load and validate an SMPL-X v1.1 (or v1.0) ``.npz`` model.

    Returns the 13 arrays smplx requires plus the two face-contour tables when present. Float
    arrays come back as float32 (the released file stores e.g. the hand means as float64, which
    breaks code that mixes them with float32 tensors) and index arrays as int64 (``f`` is uint32
    in the released file, which older torch cannot convert). Raises FileNotFoundError when there
    is no file and ValueError naming the file and the problem for anything unreadable or
    mis-shaped.
    """
    file = resolve_model_file(path)
    if not zipfile.is_zipfile(file):
        raise ValueError(
            f"{file} is not a readable .npz archive (not a zip file, or truncated): an SMPL-X "
            f"model must be the SMPLX_NEUTRAL.npz of the SMPL-X v1.1 download. {DOWNLOAD_HINT}")
    arrays = _read_arrays(file)
    _check_values(file, arrays)
    return arrays


def create_smplx_layer(path: PathLike, **kwargs):
    """The reference ``smplx.SMPLXLayer`` for the same file, after our own validation.

    Useful to compare against :class:`ros_phmr.body.BodyModel` or for users who want the
    upstream implementation; keyword arguments go to ``SMPLXLayer`` unchanged.
    """
    import smplx  # deferred: only this reference path needs the smplx package

    file = resolve_model_file(path)
    load_model_arrays(file)
    return smplx.SMPLXLayer(model_path=str(file), **kwargs)


def _read_arrays(file: Path) -> Dict[str, np.ndarray]:
    try:
        archive = np.load(file, allow_pickle=False)
    except _READ_ERRORS as exc:
        raise ValueError(f"{file}: cannot open the .npz archive ({type(exc).__name__}: {exc})") from exc
    with archive:
        present = set(archive.files)
        missing = [key for key in layout.REQUIRED_SHAPES if key not in present]
        if missing:
            raise ValueError(
                f"{file} is not an SMPL-X model file: missing required key(s) {missing}; an SMPL-X "
                f"model needs {sorted(layout.REQUIRED_SHAPES)}")
        arrays = {}
        for key in list(layout.REQUIRED_SHAPES) + list(layout.OPTIONAL_SHAPES):
            if key in present:   # check each array as it is read, so a bad file fails early
                arrays[key] = _cast(file, key, _read_member(file, archive, key))
                _check_shape(file, key, arrays[key])
    return arrays


def _read_member(file: Path, archive, key: str) -> np.ndarray:
    try:
        return np.asarray(archive[key])
    except _READ_ERRORS as exc:
        raise ValueError(
            f"{file}: cannot read array '{key}' ({type(exc).__name__}: {exc}); the file may be "
            f"truncated or corrupt") from exc


def _cast(file: Path, key: str, value: np.ndarray) -> np.ndarray:
    if value.dtype.kind not in "biuf":
        raise ValueError(f"{file}: array '{key}' has dtype {value.dtype}, expected a numeric array")
    if key in layout.INDEX_KEYS:
        if value.dtype.kind == "f":
            raise ValueError(f"{file}: array '{key}' holds indices but has dtype {value.dtype}")
        return value.astype(np.int64)
    return value.astype(np.float32)


def _check_shape(file: Path, key: str, value: np.ndarray) -> None:
    expected = {**layout.REQUIRED_SHAPES, **layout.OPTIONAL_SHAPES}[key]
    if key == "shapedirs":
        columns = value.shape[-1] if value.ndim == 3 else None
        if value.shape[:2] != expected[:2] or columns not in (
                layout.SHAPE_SPACE_DIM + layout.EXPRESSION_SPACE_DIM, layout.LEGACY_SHAPE_COLUMNS):
            raise ValueError(
                f"{file}: array 'shapedirs' has shape {value.shape}, expected "
                f"({layout.NUM_VERTICES}, 3, 400) (SMPL-X v1.1: 300 shape + 100 expression "
                f"directions) or ({layout.NUM_VERTICES}, 3, 20) (v1.0)")
    elif value.shape != expected:
        note = ""
        if key == "posedirs":
            note = f"; the last axis must be 9 * (55 - 1) = {layout.NUM_POSE_FEATURES}"
        raise ValueError(
            f"{file}: array '{key}' has shape {value.shape}, expected {expected} (SMPL-X v1.1 "
            f"layout: {layout.NUM_VERTICES} vertices, {layout.NUM_FACES} faces, "
            f"{layout.NUM_JOINTS} joints){note}")


def _check_values(file: Path, arrays: Dict[str, np.ndarray]) -> None:
    for key, value in arrays.items():
        if value.dtype.kind == "f" and not np.isfinite(value).all():
            raise ValueError(f"{file}: array '{key}' contains NaN or infinite values")
    parents = arrays["kintree_table"][0].copy()
    parents[0] = -1
    wrong = [j for j in range(1, layout.NUM_JOINTS) if parents[j] != layout.PARENTS[j]]
    if wrong:
        j = wrong[0]
        raise ValueError(
            f"{file}: kintree_table row 0 (parents) differs from the SMPL-X tree at joint {j} "
            f"({layout.JOINT_NAMES[j]}): parent {parents[j]}, expected {layout.PARENTS[j]}; every "
            f"parent must precede its child in SMPL-X order")
    _check_index_range(file, "f", arrays["f"], layout.NUM_VERTICES)
    for key in ("lmk_faces_idx", "dynamic_lmk_faces_idx"):
        if key in arrays:
            _check_index_range(file, key, arrays[key], layout.NUM_FACES)


def _check_index_range(file: Path, key: str, value: np.ndarray, limit: int) -> None:
    if value.size and (value.min() < 0 or value.max() >= limit):
        raise ValueError(
            f"{file}: array '{key}' has indices in [{value.min()}, {value.max()}], "
            f"expected all in [0, {limit})")
