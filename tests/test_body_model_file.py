"""SMPL-X file resolution and validation: every bad input gets an error naming file and problem."""
import zipfile

import numpy as np
import pytest

from ros_phmr.body import create_smplx_layer, load_model_arrays, resolve_model_file

V, F, J = 10475, 20908, 55
SMPLX_PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 15, 15, 15,
                 20, 25, 26, 20, 28, 29, 20, 31, 32, 20, 34, 35, 20, 37, 38,
                 21, 40, 41, 21, 43, 44, 21, 46, 47, 21, 49, 50, 21, 52, 53]


def minimal_arrays(shape_columns=20):
    """The 13 required arrays with the released shapes and dtypes (values are placeholders)."""
    parents = np.array(SMPLX_PARENTS, np.int64)
    parents[0] = 2 ** 32 - 1
    return {
        "v_template": np.zeros((V, 3)),
        "f": np.zeros((F, 3), np.uint32),
        "shapedirs": np.zeros((V, 3, shape_columns), np.float32),
        "posedirs": np.zeros((V, 3, 486), np.float32),
        "J_regressor": np.full((J, V), 1.0 / V, np.float32),
        "kintree_table": np.stack([parents, np.arange(J)]),
        "weights": np.full((V, J), 1.0 / J, np.float32),
        "hands_componentsl": np.eye(45),
        "hands_componentsr": np.eye(45),
        "hands_meanl": np.zeros(45),
        "hands_meanr": np.zeros(45),
        "lmk_faces_idx": np.arange(51, dtype=np.int64),
        "lmk_bary_coords": np.full((51, 3), 1.0 / 3.0),
    }


def write(path, arrays):
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, **arrays)
    return path


def test_resolves_file_folder_and_smplx_subfolder(tmp_path):
    nested = write(tmp_path / "a" / "smplx" / "SMPLX_NEUTRAL.npz", minimal_arrays())
    flat = write(tmp_path / "b" / "SMPLX_NEUTRAL.npz", minimal_arrays())
    assert resolve_model_file(tmp_path / "a") == nested
    assert resolve_model_file(tmp_path / "a" / "smplx") == nested
    assert resolve_model_file(tmp_path / "b") == flat
    assert resolve_model_file(str(flat)) == flat


def test_loads_minimal_file_and_casts_dtypes(tmp_path):
    arrays = load_model_arrays(write(tmp_path / "m.npz", minimal_arrays()))
    assert set(arrays) == set(minimal_arrays())
    assert arrays["v_template"].dtype == np.float32          # float64 in the released file
    assert arrays["hands_meanl"].dtype == np.float32
    assert arrays["f"].dtype == np.int64                     # uint32 in the released file
    assert arrays["kintree_table"][0, 0] == 2 ** 32 - 1


def test_missing_path_says_where_it_looked_and_where_to_get_smplx(tmp_path):
    missing = tmp_path / "nowhere" / "SMPLX_NEUTRAL.npz"
    with pytest.raises(FileNotFoundError) as err:
        load_model_arrays(missing)
    assert str(missing) in str(err.value) and "smpl-x.is.tue.mpg.de" in str(err.value)
    assert "non-commercial" in str(err.value)


def test_empty_folder_lists_both_candidates(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        load_model_arrays(tmp_path)
    message = str(err.value)
    assert str(tmp_path / "smplx" / "SMPLX_NEUTRAL.npz") in message
    assert str(tmp_path / "SMPLX_NEUTRAL.npz") in message


def test_truncated_file_is_a_value_error_naming_it(tmp_path):
    good = write(tmp_path / "good.npz", minimal_arrays())
    cut = tmp_path / "cut.npz"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(ValueError) as err:
        load_model_arrays(cut)
    assert str(cut) in str(err.value) and "truncated" in str(err.value)


def test_corrupt_member_is_a_value_error_naming_the_array(tmp_path):
    good = write(tmp_path / "good.npz", minimal_arrays())
    data = bytearray(good.read_bytes())
    with zipfile.ZipFile(good) as archive:
        info = archive.getinfo("posedirs.npy")
    start = info.header_offset + 30 + len(info.filename) + len(info.extra)
    data[start + 100: start + 140] = b"\x00" * 40            # break the deflate stream
    bad = tmp_path / "bad.npz"
    bad.write_bytes(bytes(data))
    with pytest.raises(ValueError) as err:
        load_model_arrays(bad)
    assert str(bad) in str(err.value) and "posedirs" in str(err.value)


def test_not_a_zip_is_a_value_error(tmp_path):
    text = tmp_path / "SMPLX_NEUTRAL.npz"
    text.write_text("this is not a model")
    with pytest.raises(ValueError, match="not a readable .npz"):
        load_model_arrays(text)


def test_missing_keys_are_listed(tmp_path):
    arrays = minimal_arrays()
    del arrays["hands_componentsl"], arrays["lmk_bary_coords"]
    with pytest.raises(ValueError) as err:
        load_model_arrays(write(tmp_path / "m.npz", arrays))
    assert "hands_componentsl" in str(err.value) and "lmk_bary_coords" in str(err.value)
    assert "missing required key" in str(err.value)


@pytest.mark.parametrize("key, bad_shape, expected", [
    ("posedirs", (V, 3, 10), "(10475, 3, 486)"),
    ("J_regressor", (54, V), "(55, 10475)"),
    ("weights", (V, 54), "(10475, 55)"),
    ("shapedirs", (V, 3, 100), "(10475, 3, 400)"),
    ("v_template", (6890, 3), "(10475, 3)"),
    ("lmk_bary_coords", (68, 3), "(51, 3)"),
])
def test_wrong_shape_names_key_expected_and_actual(tmp_path, key, bad_shape, expected):
    arrays = minimal_arrays()
    arrays[key] = np.zeros(bad_shape, np.float32)
    with pytest.raises(ValueError) as err:
        load_model_arrays(write(tmp_path / "m.npz", arrays))
    message = str(err.value)
    assert f"'{key}'" in message and str(bad_shape) in message and expected in message


def test_parent_after_child_is_rejected(tmp_path):
    arrays = minimal_arrays()
    arrays["kintree_table"][0, 4] = 7                      # left_knee hanging off left_ankle
    with pytest.raises(ValueError, match="kintree_table.*joint 4 .*left_knee"):
        load_model_arrays(write(tmp_path / "m.npz", arrays))


def test_non_finite_values_are_rejected(tmp_path):
    arrays = minimal_arrays()
    arrays["v_template"][10, 1] = np.nan
    with pytest.raises(ValueError, match="'v_template' contains NaN"):
        load_model_arrays(write(tmp_path / "m.npz", arrays))


def test_face_index_out_of_range_is_rejected(tmp_path):
    arrays = minimal_arrays()
    arrays["f"][5, 2] = V
    with pytest.raises(ValueError, match="'f' has indices"):
        load_model_arrays(write(tmp_path / "m.npz", arrays))


def test_pickled_object_array_is_refused_without_unpickling(tmp_path):
    arrays = minimal_arrays()
    arrays["hands_meanl"] = np.array([{"not": "numbers"}], dtype=object)
    with pytest.raises(ValueError) as err:
        load_model_arrays(write(tmp_path / "m.npz", arrays))
    assert "hands_meanl" in str(err.value)


def test_smplx_layer_factory_validates_first(tmp_path):
    arrays = minimal_arrays()
    del arrays["lmk_faces_idx"]          # smplx itself would fail with an AttributeError
    with pytest.raises(ValueError, match="lmk_faces_idx"):
        create_smplx_layer(write(tmp_path / "SMPLX_NEUTRAL.npz", arrays))
