"""Tests of xnorlearn.sw.datasets: IDX reading, binarisation, loaders, synthetic prototypes."""

import gzip
import pathlib
import struct

import numpy as np
import pytest

from xnorlearn.sw.datasets import (
    DATASETS, Dataset, DatasetError, binarize_median, load_dataset, load_digits,
    load_fashion_mnist, load_idx_dataset, load_mnist, make_prototypes, one_hot_pm1, read_idx,
    thermometer_encode,
)

FASHION_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")

_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}


def idx_bytes(arr, code=None):
    """Valid IDX bytes for an array (big-endian data, as the format requires)."""
    arr = np.asarray(arr)
    code = _CODES[arr.dtype] if code is None else code
    head = bytes([0, 0, code, arr.ndim]) + b"".join(struct.pack(">I", d) for d in arr.shape)
    return head + arr.astype(arr.dtype.newbyteorder(">")).tobytes()


def write_idx(path, arr, gz=None):
    path = pathlib.Path(path)
    data = idx_bytes(arr)
    if gz is None:
        gz = path.name.endswith(".gz")
    path.write_bytes(gzip.compress(data, compresslevel=1) if gz else data)
    return path


def make_idx_folder(folder, n_train=1200, n_t10k=300, rows=4, cols=3, seed=0, gz=True):
    """A fake MNIST-style folder with the 4 IDX files; returns the arrays written."""
    rng = np.random.default_rng(seed)
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte": rng.integers(0, 256, (n_train, rows, cols), dtype=np.uint8),
        "train-labels-idx1-ubyte": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte": rng.integers(0, 256, (n_t10k, rows, cols), dtype=np.uint8),
        "t10k-labels-idx1-ubyte": rng.integers(0, 10, n_t10k, dtype=np.uint8),
    }
    for base, arr in arrays.items():
        write_idx(folder / (base + (".gz" if gz else "")), arr)
    return arrays


def assert_error_names(excinfo, *fragments):
    msg = str(excinfo.value)
    for frag in fragments:
        assert str(frag) in msg, f"{frag!r} not in error message {msg!r}"


# ---------------------------------------------------------------------------- read_idx


@pytest.mark.parametrize("gz", [False, True])
@pytest.mark.parametrize("dtype,shape", [
    (np.uint8, (7,)), (np.uint8, (5, 4, 3)), (np.int8, (6, 2)), (np.int16, (3, 4)),
    (np.int32, (2, 3, 2, 2)), (np.float32, (9,)), (np.float64, (2, 5)), (np.uint8, (0, 28, 28)),
])
def test_read_idx_round_trip(tmp_path, gz, dtype, shape):
    rng = np.random.default_rng(1)
    if np.issubdtype(dtype, np.floating):
        arr = rng.normal(size=shape).astype(dtype)
    else:
        info = np.iinfo(dtype)
        arr = rng.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)
    path = write_idx(tmp_path / ("a.idx" + (".gz" if gz else "")), arr)
    out = read_idx(path)
    assert out.dtype == np.dtype(dtype) and out.dtype.isnative
    assert out.shape == shape
    assert out.flags.c_contiguous and out.flags.writeable
    np.testing.assert_array_equal(out, arr)


def test_read_idx_gzip_detected_by_magic_and_plain_named_gz(tmp_path):
    arr = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    # gzip content under a plain name: detected by the magic bytes.
    p = tmp_path / "images-idx3-ubyte"
    p.write_bytes(gzip.compress(idx_bytes(arr)))
    np.testing.assert_array_equal(read_idx(p), arr)
    # uncompressed content under a .gz name (browsers do that): read as it is.
    q = tmp_path / "images2-idx3-ubyte.gz"
    q.write_bytes(idx_bytes(arr))
    np.testing.assert_array_equal(read_idx(str(q)), arr)


def test_read_idx_missing_file(tmp_path):
    p = tmp_path / "nope-idx1-ubyte.gz"
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "no such file")


def test_read_idx_folder_instead_of_file(tmp_path):
    with pytest.raises(DatasetError) as e:
        read_idx(tmp_path)
    assert_error_names(e, tmp_path.name, "folder")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_truncated_data(tmp_path, gz):
    arr = np.zeros((10, 4, 4), np.uint8)
    data = idx_bytes(arr)[:-5]
    p = tmp_path / ("train-images-idx3-ubyte" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "truncated", "10x4x4 = 160 bytes", "155")


def test_read_idx_truncated_multibyte(tmp_path):
    data = idx_bytes(np.zeros((3, 2), np.int32))[:-1]
    p = tmp_path / "x.idx"
    p.write_bytes(data)
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "truncated", "3x2 int32 = 24 bytes", "23")


@pytest.mark.parametrize("cut", [0, 2, 4, 9, 15])
def test_read_idx_truncated_header(tmp_path, cut):
    data = idx_bytes(np.zeros((10, 4, 4), np.uint8))[:cut]
    p = tmp_path / "hdr-idx3-ubyte"
    p.write_bytes(data)
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    msg = str(e.value)
    assert p.name in msg
    assert ("truncated header" in msg) or ("empty file" in msg)


@pytest.mark.parametrize("magic", [b"\x01\x00\x08\x01", b"\x00\x00\x07\x01", b"\x00\x00\x08\x00",
                                   b"PK\x03\x04"])
def test_read_idx_bad_magic(tmp_path, magic):
    p = tmp_path / "bad-idx1-ubyte"
    p.write_bytes(magic + struct.pack(">I", 3) + b"\x01\x02\x03")
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "magic")


def test_read_idx_bad_magic_after_gzip(tmp_path):
    p = tmp_path / "bad-idx1-ubyte.gz"
    p.write_bytes(gzip.compress(b"\x12\x34\x56\x78" + b"\x00" * 20))
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "bad magic", "0x12345678")


def test_read_idx_gz_name_but_neither_gzip_nor_idx(tmp_path):
    p = tmp_path / "junk-idx1-ubyte.gz"
    p.write_bytes(b"<html>not found</html>")
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "not a gzip file")


@pytest.mark.parametrize("how", ["truncated", "flipped", "crc"])
def test_read_idx_corrupt_gzip(tmp_path, how):
    good = gzip.compress(idx_bytes(np.arange(200, dtype=np.uint8).reshape(20, 10)))
    if how == "truncated":
        bad = good[: len(good) // 2]
    elif how == "flipped":
        bad = bytearray(good)
        for i in range(12, len(bad) - 8):
            bad[i] ^= 0x5A
        bad = bytes(bad)
    else:  # corrupt the CRC trailer only
        bad = good[:-8] + bytes(b ^ 0xFF for b in good[-8:-4]) + good[-4:]
    p = tmp_path / "c-idx2-ubyte.gz"
    p.write_bytes(bad)
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "corrupt gzip")


@pytest.mark.parametrize("gz", [False, True])
def test_read_idx_trailing_bytes(tmp_path, gz):
    data = idx_bytes(np.zeros((4, 2), np.uint8)) + b"garbage"
    p = tmp_path / ("t-idx2-ubyte" + (".gz" if gz else ""))
    p.write_bytes(gzip.compress(data) if gz else data)
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "trailing bytes", "4x2 = 8 bytes", "15")


def test_read_idx_trailing_garbage_after_gzip_stream(tmp_path):
    p = tmp_path / "g-idx2-ubyte.gz"
    p.write_bytes(gzip.compress(idx_bytes(np.zeros((4, 2), np.uint8))) + b"garbage!")
    with pytest.raises(DatasetError) as e:
        read_idx(p)
    assert_error_names(e, p.name, "corrupt gzip", "garbage")


# ---------------------------------------------------------------------------- binarisation


def test_binarize_median_global_scalar_by_hand():
    train = np.array([[[0, 0, 5], [9, 1, 2]], [[3, 3, 7], [0, 8, 6]]], dtype=np.uint8)
    # 12 values sorted: 0 0 0 1 2 3 3 5 6 7 8 9 -> middle pair (3, 3) -> median 3
    other = np.array([[2, 3, 4, 255]], dtype=np.uint8)
    (tb, ob), thr = binarize_median(train, other)
    assert thr == 3.0
    np.testing.assert_array_equal(tb, (train > 3).astype(np.uint8))
    np.testing.assert_array_equal(ob, [[0, 0, 1, 1]])
    assert tb.dtype == np.uint8 and tb.shape == train.shape and tb.flags.c_contiguous
    # even count with distinct middle values: the average of the two, x > 2.5
    (b,), thr = binarize_median(np.array([1, 2, 3, 4], np.uint8))
    assert thr == 2.5
    np.testing.assert_array_equal(b, [0, 0, 1, 1])


def test_binarize_median_is_global_not_per_pixel():
    rng = np.random.default_rng(3)
    train = rng.integers(0, 256, (50, 7, 7), dtype=np.uint8)
    train[:, 0, 0] = 255  # a pixel that is always bright; a per-pixel median would differ
    (b,), thr = binarize_median(train)
    assert thr == float(np.median(train.ravel()))
    np.testing.assert_array_equal(b, (train > thr).view(np.uint8))


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int32, np.float64])
def test_binarize_median_matches_numpy_median(dtype):
    rng = np.random.default_rng(5)
    for n in (1, 2, 3, 10, 1001):
        x = (rng.integers(-100, 100, n) if dtype != np.uint8 else rng.integers(0, 200, n))
        x = x.astype(dtype)
        (b,), thr = binarize_median(x)
        assert thr == float(np.median(x))
        np.testing.assert_array_equal(b, (x > thr).astype(np.uint8))


def test_binarize_median_bad_input():
    with pytest.raises(DatasetError, match="empty"):
        binarize_median(np.zeros(0, np.uint8))
    with pytest.raises(DatasetError, match="NaN"):
        binarize_median(np.array([1.0, np.nan]))
    with pytest.raises(DatasetError, match="numbers"):
        binarize_median(np.array(["a", "b"]))


def _thermometer_reference(train, other, levels):
    n_feat = train.shape[1]
    thr = np.empty((n_feat, levels - 1))
    for f in range(n_feat):
        for k in range(1, levels):
            thr[f, k - 1] = np.quantile(train[:, f], k / levels)

    def enc(x):
        out = np.zeros((x.shape[0], n_feat * (levels - 1)), np.uint8)
        for i in range(x.shape[0]):
            for f in range(n_feat):
                for t in range(levels - 1):
                    out[i, f * (levels - 1) + t] = 1 if x[i, f] > thr[f, t] else 0
        return out
    return enc(train), enc(other), thr


@pytest.mark.parametrize("levels", [2, 5, 32])
def test_thermometer_encode_against_loop_reference(levels):
    rng = np.random.default_rng(7)
    train = np.column_stack([rng.normal(size=60), rng.integers(0, 4, 60), np.full(60, 2.0)])
    other = np.column_stack([rng.normal(size=15) * 3, rng.integers(-1, 6, 15), np.arange(15.0)])
    (tb, ob), thr = thermometer_encode(train, other, levels=levels)
    rtb, rob, rthr = _thermometer_reference(train, other, levels)
    np.testing.assert_allclose(thr, rthr)
    np.testing.assert_array_equal(tb, rtb)
    np.testing.assert_array_equal(ob, rob)
    assert tb.dtype == np.uint8 and tb.flags.c_contiguous
    assert tb.shape == (60, 3 * (levels - 1)) and thr.shape == (3, levels - 1)
    # thermometer property: within a feature the bits are non-increasing (1...10...0)
    blocks = tb.reshape(60, 3, levels - 1).astype(int)
    assert (np.diff(blocks, axis=2) <= 0).all()


def test_thermometer_encode_errors():
    with pytest.raises(DatasetError, match="2-D"):
        thermometer_encode(np.zeros(5))
    with pytest.raises(DatasetError, match="levels"):
        thermometer_encode(np.zeros((5, 2)), levels=1)
    with pytest.raises(DatasetError, match="others\\[0\\]"):
        thermometer_encode(np.zeros((5, 2)), np.zeros((5, 3)))


def test_one_hot_pm1():
    out = one_hot_pm1([2, 0, 1, 2], 3)
    np.testing.assert_array_equal(out, [[0, 0, 1], [1, 0, 0], [0, 1, 0], [0, 0, 1]])
    assert out.dtype == np.uint8
    with pytest.raises(DatasetError, match="0..2"):
        one_hot_pm1([3], 3)
    with pytest.raises(DatasetError):
        one_hot_pm1([0.5], 3)


# ---------------------------------------------------------------------------- IDX datasets


@pytest.mark.parametrize("gz", [True, False])
def test_idx_dataset_paper_split(tmp_path, gz):
    arrays = make_idx_folder(tmp_path, n_train=12000, n_t10k=500, rows=4, cols=3, gz=gz)
    ds = load_idx_dataset("mnist", tmp_path, split="paper", seed=42, n_test=2000)
    assert isinstance(ds, Dataset) and ds.name == "mnist"
    assert ds.x_train.shape == (10000, 12) and ds.x_test.shape == (2000, 12)
    assert ds.y_train.shape == (10000,) and ds.y_test.shape == (2000,)
    assert ds.n_inputs == 12 and ds.n_classes == 10
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.uint8 and x.flags.c_contiguous and set(np.unique(x)) <= {0, 1}
    assert ds.y_train.dtype == np.int64
    # exact reconstruction: global median over the whole training file, permutation, split
    imgs = arrays["train-images-idx3-ubyte"]
    lbls = arrays["train-labels-idx1-ubyte"].astype(np.int64)
    med = float(np.median(imgs))
    assert ds.info["median"] == med and ds.info["split"] == "paper"
    perm = np.random.default_rng(42).permutation(12000)
    bits = (imgs.reshape(12000, 12) > med).astype(np.uint8)
    np.testing.assert_array_equal(ds.x_train, bits[perm[:10000]])
    np.testing.assert_array_equal(ds.x_test, bits[perm[10000:]])
    np.testing.assert_array_equal(ds.y_train, lbls[perm[:10000]])
    np.testing.assert_array_equal(ds.y_test, lbls[perm[10000:]])


def test_idx_dataset_paper_split_needs_only_train_files(tmp_path):
    make_idx_folder(tmp_path, n_train=50, n_t10k=5)
    (tmp_path / "t10k-images-idx3-ubyte.gz").unlink()
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    ds = load_idx_dataset("mnist", tmp_path, n_test=10)
    assert (ds.n_train, ds.n_test) == (40, 10)
    with pytest.raises(DatasetError) as e:
        load_idx_dataset("mnist", tmp_path, split="official")
    assert_error_names(e, tmp_path, "t10k-images-idx3-ubyte", "t10k-images-idx3-ubyte.gz")


def test_idx_dataset_paper_default_n_test_and_bad_n_test(tmp_path):
    make_idx_folder(tmp_path, n_train=12000, n_t10k=10, rows=2, cols=2)
    ds = load_idx_dataset("fashion-mnist", tmp_path)
    assert (ds.n_train, ds.n_test) == (2000, 10000)
    with pytest.raises(DatasetError) as e:
        load_idx_dataset("fashion-mnist", tmp_path, n_test=12000)
    assert_error_names(e, "train-images-idx3-ubyte", "n_test")


def test_idx_dataset_official_split(tmp_path):
    arrays = make_idx_folder(tmp_path, n_train=1200, n_t10k=300, rows=4, cols=3, gz=False)
    ds = load_idx_dataset("fashion-mnist", tmp_path, split="official")
    assert ds.x_train.shape == (1200, 12) and ds.x_test.shape == (300, 12)
    med = float(np.median(arrays["train-images-idx3-ubyte"]))
    assert ds.info["median"] == med and ds.info["split"] == "official"
    np.testing.assert_array_equal(
        ds.x_train, (arrays["train-images-idx3-ubyte"].reshape(1200, 12) > med))
    np.testing.assert_array_equal(
        ds.x_test, (arrays["t10k-images-idx3-ubyte"].reshape(300, 12) > med))
    np.testing.assert_array_equal(ds.y_test, arrays["t10k-labels-idx1-ubyte"])
    assert ds.x_test.flags.c_contiguous


def test_idx_dataset_determinism(tmp_path):
    make_idx_folder(tmp_path, n_train=3000, n_t10k=10)
    a = load_idx_dataset("mnist", tmp_path, seed=7, n_test=500)
    b = load_idx_dataset("mnist", tmp_path, seed=7, n_test=500)
    c = load_idx_dataset("mnist", tmp_path, seed=8, n_test=500)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(a, f), getattr(b, f))
    assert not np.array_equal(a.y_train, c.y_train)
    # same multiset of samples, different order
    rows_a = sorted(map(bytes, np.concatenate([a.x_train, a.x_test])))
    rows_c = sorted(map(bytes, np.concatenate([c.x_train, c.x_test])))
    assert rows_a == rows_c
    all_a = np.concatenate([a.y_train, a.y_test])
    all_c = np.concatenate([c.y_train, c.y_test])
    np.testing.assert_array_equal(np.bincount(all_a), np.bincount(all_c))


def test_idx_dataset_prefers_plain_and_accepts_mixed(tmp_path):
    arrays = make_idx_folder(tmp_path, n_train=40, n_t10k=8, gz=True)
    # an uncompressed train-images next to the .gz one is preferred
    alt = arrays["train-images-idx3-ubyte"] // 2
    write_idx(tmp_path / "train-images-idx3-ubyte", alt)
    ds = load_idx_dataset("mnist", tmp_path, split="official")
    assert ds.info["source"]["train_images"].endswith("train-images-idx3-ubyte")
    assert ds.info["median"] == float(np.median(alt))


def test_idx_dataset_missing_folder(tmp_path):
    missing = tmp_path / "no-such-folder"
    with pytest.raises(DatasetError) as e:
        load_fashion_mnist(missing)
    assert_error_names(e, missing, "does not exist", "train-images-idx3-ubyte",
                       "apt-get install dataset-fashion-mnist")
    with pytest.raises(DatasetError) as e:
        load_mnist(missing)
    assert_error_names(e, missing, "train-labels-idx1-ubyte")


def test_idx_dataset_missing_file(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    (tmp_path / "train-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DatasetError) as e:
        load_fashion_mnist(tmp_path, n_test=5)
    assert_error_names(e, tmp_path, "train-labels-idx1-ubyte", "train-labels-idx1-ubyte.gz",
                       "apt-get install dataset-fashion-mnist")


def test_idx_dataset_label_count_mismatch(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(19, np.uint8))
    with pytest.raises(DatasetError) as e:
        load_mnist(tmp_path, n_test=5)
    assert_error_names(e, "train-labels-idx1-ubyte.gz", "19 labels", "20 images")


def test_idx_dataset_label_out_of_range(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    labels = np.zeros(5, np.uint8)
    labels[3] = 10
    write_idx(tmp_path / "t10k-labels-idx1-ubyte.gz", labels)
    with pytest.raises(DatasetError) as e:
        load_mnist(tmp_path, split="official")
    # the classes come from the training file; a test label beyond them is refused
    assert_error_names(e, "t10k-labels-idx1-ubyte.gz", "the classes of the training file",
                       "e.g. 10")


def test_idx_dataset_images_not_3d(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    write_idx(tmp_path / "train-images-idx3-ubyte.gz", np.zeros((20, 12), np.uint8))
    with pytest.raises(DatasetError) as e:
        load_mnist(tmp_path, n_test=5)
    assert_error_names(e, "train-images-idx3-ubyte.gz", "3-D")


def test_idx_dataset_truncated_file_via_loader(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    p = tmp_path / "train-images-idx3-ubyte.gz"
    p.write_bytes(gzip.compress(gzip.decompress(p.read_bytes())[:-3]))
    with pytest.raises(DatasetError) as e:
        load_fashion_mnist(tmp_path, n_test=5)
    assert_error_names(e, p.name, "truncated", "20x4x3 = 240 bytes", "237")


def test_load_mnist_requires_dir():
    with pytest.raises(DatasetError, match="data_dir"):
        load_mnist(None)
    with pytest.raises(DatasetError, match="data_dir"):
        load_dataset("mnist")


def test_bad_split_and_name(tmp_path):
    make_idx_folder(tmp_path, n_train=20, n_t10k=5)
    with pytest.raises(DatasetError, match="split"):
        load_idx_dataset("mnist", tmp_path, split="test")
    with pytest.raises(DatasetError) as e:
        load_dataset("cifar10")
    assert_error_names(e, "cifar10", *DATASETS)
    with pytest.raises(DatasetError, match="official"):
        load_dataset("digits", split="official")


def test_load_dataset_dispatch(tmp_path):
    make_idx_folder(tmp_path, n_train=10020, n_t10k=5, rows=2, cols=2)
    ds = load_dataset("MNIST", data_dir=tmp_path, seed=1)
    assert ds.name == "mnist" and (ds.n_train, ds.n_test) == (20, 10000)
    ds = load_dataset("fashion_mnist", data_dir=tmp_path, split="official")
    assert ds.name == "fashion-mnist" and ds.n_test == 5
    assert load_dataset("digits").name == "digits"


# ---------------------------------------------------------------------------- digits


def test_digits_thermometer_default():
    ds = load_digits()
    assert ds.n_inputs == 512 and ds.n_classes == 10 and ds.info["encoding"] == "thermometer"
    from sklearn.datasets import load_digits as sk
    x, _ = sk(return_X_y=True)
    perm = np.random.default_rng(42).permutation(1797)
    xtr = x[perm[: ds.n_train]]
    # slow reference: pixel p, level t -> bit 8 p + t, set iff pixel > 2 t
    ref = np.zeros((ds.n_train, 512), np.uint8)
    for s_ in range(ds.n_train):
        for p_ in range(64):
            for t in range(8):
                ref[s_, 8 * p_ + t] = xtr[s_, p_] > 2 * t
    np.testing.assert_array_equal(ds.x_train, ref)
    with pytest.raises(DatasetError, match="encoding"):
        load_digits(encoding="gray")


def test_digits():
    ds = load_digits(encoding="median")
    assert ds.n_inputs == 64 and ds.n_classes == 10
    assert ds.n_train + ds.n_test == 1797
    assert ds.n_test == round(1797 * 0.2)
    for x in (ds.x_train, ds.x_test):
        assert x.dtype == np.uint8 and x.flags.c_contiguous
        assert set(np.unique(x)) <= {0, 1}
    assert set(np.unique(np.concatenate([ds.y_train, ds.y_test]))) == set(range(10))
    assert 0.2 < ds.x_train.mean() < 0.8
    # global median over the training part, x > median
    from sklearn.datasets import load_digits as sk
    x, y = sk(return_X_y=True)
    perm = np.random.default_rng(42).permutation(1797)
    xtr = x[perm[: ds.n_train]]
    med = np.median(xtr)
    assert ds.info["median"] == med
    np.testing.assert_array_equal(ds.x_train, (xtr > med).astype(np.uint8))
    np.testing.assert_array_equal(ds.y_test, y[perm[ds.n_train:]])
    other = load_digits(seed=1, encoding="median")
    assert not np.array_equal(other.y_train, ds.y_train)
    np.testing.assert_array_equal(load_digits(encoding="median").x_test, ds.x_test)


# ---------------------------------------------------------------------------- prototypes


@pytest.fixture(scope="module")
def prototypes():
    return make_prototypes()


def test_prototypes_shapes_and_uniqueness(prototypes):
    ds = prototypes
    assert ds.x_train.shape == (10000, 1000) and ds.x_test.shape == (2000, 1000)
    assert ds.n_inputs == 1000 and ds.n_classes == 10
    assert ds.x_train.dtype == np.uint8 and set(np.unique(ds.x_train)) <= {0, 1}
    y = np.concatenate([ds.y_train, ds.y_test])
    np.testing.assert_array_equal(np.bincount(y, minlength=10), [1200] * 10)
    x = np.concatenate([ds.x_train, ds.x_test])
    assert np.unique(x, axis=0).shape[0] == 12000
    # shuffled: not sorted by class
    assert (np.diff(ds.y_train) != 0).sum() > 1000


def test_prototypes_flip_rate(prototypes):
    ds = prototypes
    protos = ds.info["prototypes"]
    assert protos.shape == (10, 1000)
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    rate = (x != protos[y]).mean()
    assert abs(rate - 0.44) < 0.005
    # each sample is closer to its own prototype than to the others (on average, clearly)
    per_sample = (x != protos[y]).mean(axis=1)
    assert per_sample.std() < 0.03


def test_prototypes_deterministic(prototypes):
    again = make_prototypes(seed=42)
    for f in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(again, f), getattr(prototypes, f))
    other = make_prototypes(seed=43, per_class=20, n_test=50)
    assert other.x_train.shape == (150, 1000)
    assert not np.array_equal(other.info["prototypes"], prototypes.info["prototypes"])


def test_prototypes_dedup_in_small_dimension():
    # dim 8 has 256 distinct vectors: 10 classes x 20 = 200 unique samples force redraws
    ds = make_prototypes(seed=0, dim=8, flip=0.5, per_class=20, n_test=40)
    x = np.concatenate([ds.x_train, ds.x_test])
    assert np.unique(x, axis=0).shape[0] == 200
    assert ds.info["duplicates_redrawn"] > 0
    with pytest.raises(DatasetError, match="unique"):
        make_prototypes(dim=4, per_class=10, n_test=5)


# ---------------------------------------------------------------------------- Dataset


def test_dataset_validation():
    x = np.zeros((3, 4), np.uint8)
    y = np.zeros(3, np.int64)
    ds = Dataset("t", x, y, x, y, 2, {})
    assert ds.n_inputs == 4
    with pytest.raises(DatasetError, match="bits"):
        Dataset("t", x + 2, y, x, y, 2, {})
    with pytest.raises(DatasetError, match="int64"):
        Dataset("t", x, y.astype(np.int32), x, y, 2, {})
    with pytest.raises(DatasetError, match="labels"):
        Dataset("t", x, y + 5, x, y, 2, {})
    with pytest.raises(DatasetError, match="inputs"):
        Dataset("t", x, y, np.zeros((3, 5), np.uint8), y, 2, {})
    with pytest.raises(Exception):
        ds.name = "u"  # frozen


# ---------------------------------------------------------------------------- real data


@pytest.mark.skipif(not FASHION_DIR.is_dir(),
                    reason=f"{FASHION_DIR} absent (apt-get install dataset-fashion-mnist)")
def test_real_fashion_mnist_paper_split():
    ds = load_fashion_mnist()
    assert ds.x_train.shape == (50000, 784) and ds.x_test.shape == (10000, 784)
    assert ds.n_inputs == 784 and ds.n_classes == 10
    assert ds.x_train.dtype == np.uint8 and ds.x_train.flags.c_contiguous
    assert set(np.unique(ds.y_train)) == set(range(10))
    counts = np.bincount(ds.y_test, minlength=10)
    assert counts.min() > 800 and counts.max() < 1200
    assert 0.2 < ds.x_train.mean() < 0.8
    assert ds.info["split"] == "paper"
