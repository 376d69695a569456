"""Shared by the parity tests: what the goldens were made with, so a change is named, not guessed."""
import hashlib

import numpy as np


def npz_fingerprint(path) -> str:
    """sha256 over the sorted (key, array bytes) of an .npz: the synthetic model's identity."""
    arrays = np.load(path)
    digest = hashlib.sha256()
    for key in sorted(arrays.files):
        digest.update(key.encode())
        digest.update(np.ascontiguousarray(arrays[key]).tobytes())
    return digest.hexdigest()
