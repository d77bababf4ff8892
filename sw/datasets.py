"""Datasets of xnorlearn, binarised once before training (as the paper does).

Every loader returns a :class:`Dataset` whose inputs are ``uint8`` arrays of bits, one row per
sample: bit ``1`` stands for the value ``+1`` and bit ``0`` for ``-1``. Labels are ``int64``
class indices ``0 .. n_classes - 1``.

Datasets
--------
``digits``
    scikit-learn's bundled 8x8 digits (1797 samples, 64 inputs, 10 classes, no download);
    shuffled with the seed, the last 20 % is the test set; binarised with one global median over
    the training part.
``fashion-mnist`` / ``mnist``
    IDX files. ``split="paper"`` (the paper's protocol): only the 60 000-image training file,
    one global scalar median over all its pixels, shuffled with
    ``numpy.random.default_rng(seed).permutation``, the last 10 000 samples are the test set and
    the first 50 000 the training set. ``split="official"``: training file / t10k file, median
    over the training file. FashionMNIST defaults to ``/usr/share/datasets/fashion-mnist``
    (Debian package ``dataset-fashion-mnist``).
a ``.csv`` or ``.npz`` file
    one's own tabular data (:func:`load_table`): per numeric feature a quantile thermometer
    code (or a median bit), categorical columns one-hot, missing values filled with the
    column's mode; classes are the distinct labels.
``prototypes``
    the paper's synthetic set: 10 random +-1 prototypes of dimension 1000, each sample flips each
    bit of its class prototype with probability 0.44; 1200 unique samples per class, 10 000
    train / 2 000 test.

Binarisation rules: ``x_bin = 1 if x > median else 0`` (:func:`binarize_median`), and for
tabular data a thermometer code at training quantiles (:func:`thermometer_encode`) plus a +-1
one-hot code (:func:`one_hot_pm1`).

Every problem with the input (missing or malformed files, inconsistent labels, bad arguments)
raises :class:`DatasetError`, whose message names the file, when there is one, and what is
wrong.
"""

from __future__ import annotations

import gzip
import math
import os
import pathlib
import zlib
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "DATASETS",
    "DEFAULT_FASHION_MNIST_DIR",
    "Dataset",
    "DatasetError",
    "binarize_median",
    "load_dataset",
    "load_digits",
    "load_fashion_mnist",
    "load_idx_dataset",
    "load_mnist",
    "load_table",
    "is_table_path",
    "make_prototypes",
    "one_hot_pm1",
    "read_idx",
    "thermometer_encode",
]

DATASETS = ("digits", "fashion-mnist", "mnist", "prototypes")

#: file types of one's own tabular data (:func:`load_table`)
TABLE_SUFFIXES = (".csv", ".npz")

#: most classes a configuration allows (Config.n_classes)
MAX_CLASSES = 256

DEFAULT_FASHION_MNIST_DIR = pathlib.Path("/usr/share/datasets/fashion-mnist")

SPLITS = ("paper", "official")

# IDX type code -> big-endian NumPy dtype of the data as stored in the file.
_IDX_TYPES = {
    0x08: np.dtype(">u1"),
    0x09: np.dtype(">i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_IDX_TYPE_NAMES = {0x08: "uint8", 0x09: "int8", 0x0B: "int16", 0x0C: "int32",
                   0x0D: "float32", 0x0E: "float64"}

_IDX_TYPE_CODES = {dt: code for code, dt in _IDX_TYPES.items()}

_GZIP_MAGIC = b"\x1f\x8b"

# (train images, train labels, test images, test labels) base names of an IDX dataset folder.
_IDX_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
              "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")

_IDX_HINTS = {
    "fashion-mnist": "install it with `apt-get install dataset-fashion-mnist` "
                     f"(files go to {DEFAULT_FASHION_MNIST_DIR}) or pass the folder that holds "
                     "the IDX files",
    "mnist": "download the four MNIST IDX files (.gz or uncompressed) into one folder and pass "
             "it as data_dir",
}


class DatasetError(ValueError):
    """A dataset cannot be loaded; the message names the file (if any) and what is wrong."""


# --------------------------------------------------------------------------------------------
# Dataset
# --------------------------------------------------------------------------------------------

@dataclass(frozen=True, eq=False)
class Dataset:
    """A binarised dataset with a fixed train / test split.

    Attributes
    ----------
    name : str
        Dataset name, one of :data:`DATASETS`.
    x_train, x_test : numpy.ndarray
        ``uint8`` arrays of bits of shape ``(n, n_inputs)``, C-contiguous. Bit 1 means +1,
        bit 0 means -1.
    y_train, y_test : numpy.ndarray
        ``int64`` labels in ``0 .. n_classes - 1``, shape ``(n,)``.
    n_classes : int
        Number of classes.
    info : dict
        Provenance: source paths, split, seed, binarisation threshold, ...

    Notes
    -----
    Instances compare by identity (``eq=False``): NumPy arrays have no single truth value.
    """

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        where = f"dataset {self.name!r}"
        if not isinstance(self.n_classes, (int, np.integer)) or self.n_classes < 1:
            raise DatasetError(f"{where}: n_classes must be a positive integer, "
                               f"got {self.n_classes!r}")
        object.__setattr__(self, "n_classes", int(self.n_classes))
        n_inputs = None
        for part in ("train", "test"):
            x = getattr(self, f"x_{part}")
            y = getattr(self, f"y_{part}")
            if not isinstance(x, np.ndarray) or x.dtype != np.uint8 or x.ndim != 2:
                raise DatasetError(f"{where}: x_{part} must be a 2-D uint8 array of bits, got "
                                   f"{_describe(x)}")
            if not x.flags.c_contiguous:
                raise DatasetError(f"{where}: x_{part} must be C-contiguous")
            if x.size and x.max() > 1:
                raise DatasetError(f"{where}: x_{part} must hold only bits 0/1, "
                                   f"found {int(x.max())}")
            if n_inputs is None:
                n_inputs = x.shape[1]
            elif x.shape[1] != n_inputs:
                raise DatasetError(f"{where}: x_train has {n_inputs} inputs but x_test has "
                                   f"{x.shape[1]}")
            if not isinstance(y, np.ndarray) or y.dtype != np.int64 or y.ndim != 1:
                raise DatasetError(f"{where}: y_{part} must be a 1-D int64 array, got "
                                   f"{_describe(y)}")
            if y.shape[0] != x.shape[0]:
                raise DatasetError(f"{where}: {x.shape[0]} samples in x_{part} but "
                                   f"{y.shape[0]} labels in y_{part}")
            if y.size and (y.min() < 0 or y.max() >= self.n_classes):
                raise DatasetError(f"{where}: y_{part} labels must lie in 0..{self.n_classes - 1}, "
                                   f"found {int(y.min())}..{int(y.max())}")

    @property
    def n_inputs(self) -> int:
        """Number of input bits per sample."""
        return int(self.x_train.shape[1])

    @property
    def n_train(self) -> int:
        """Number of training samples."""
        return int(self.x_train.shape[0])

    @property
    def n_test(self) -> int:
        """Number of test samples."""
        return int(self.x_test.shape[0])

    def __repr__(self):
        return (f"Dataset(name={self.name!r}, n_train={self.n_train}, n_test={self.n_test}, "
                f"n_inputs={self.n_inputs}, n_classes={self.n_classes})")


def _describe(a):
    if isinstance(a, np.ndarray):
        return f"{a.ndim}-D {a.dtype} array of shape {a.shape}"
    return type(a).__name__


# --------------------------------------------------------------------------------------------
# IDX files
# --------------------------------------------------------------------------------------------

def _dims_text(dims):
    return "x".join(str(d) for d in dims) if dims else "(scalar)"


def read_idx(path) -> np.ndarray:
    """Read an IDX file (the MNIST / FashionMNIST format), gzip-compressed or not.

    The file is decompressed when its name ends in ``.gz`` or when it starts with the gzip magic
    bytes ``1f 8b``. A file named ``*.gz`` that holds uncompressed IDX data (some browsers
    decompress downloads without renaming them) is read as it is.

    Parameters
    ----------
    path : str or os.PathLike
        The file.

    Returns
    -------
    numpy.ndarray
        A writable, C-contiguous array in native byte order with the shape the header gives.
        Supported IDX types: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
        0x0E float64.

    Raises
    ------
    DatasetError
        The file is missing or unreadable, the gzip stream is corrupt, the magic number is
        wrong, or the data is shorter (truncated) or longer (trailing bytes) than the header
        says. The message starts with the path.
    """
    path = pathlib.Path(os.fspath(path)).expanduser()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise DatasetError(f"{path}: is a folder, not an IDX file") from None
    except OSError as exc:
        raise DatasetError(f"{path}: cannot read: {exc.strerror or exc}") from None

    compressed = raw[:2] == _GZIP_MAGIC
    where = f"{path}"
    if compressed:
        try:
            data = gzip.decompress(raw)
        except (OSError, EOFError, zlib.error) as exc:
            extra = (" (garbage after the end of the gzip stream?)"
                     if "Not a gzipped file" in str(exc) else "")
            raise DatasetError(f"{path}: corrupt gzip data: {exc}{extra}") from None
        where = f"{path} (after gzip decompression)"
    else:
        data = raw
        if path.name.endswith(".gz") and not _looks_like_idx(raw):
            raise DatasetError(f"{path}: not a gzip file (it does not start with the gzip magic "
                               f"1f 8b, it starts with {raw[:4].hex(' ') or 'nothing: empty file'})"
                               f" and not an uncompressed IDX file either")
    return _parse_idx(data, path, where)


def _looks_like_idx(data):
    return len(data) >= 4 and data[0] == 0 and data[1] == 0 and data[2] in _IDX_TYPES


def _parse_idx(data, path, where):
    if len(data) == 0:
        raise DatasetError(f"{where}: empty file")
    if len(data) < 4:
        raise DatasetError(f"{where}: truncated header: {len(data)} bytes, an IDX file starts "
                           f"with a 4-byte magic number")
    magic = int.from_bytes(data[:4], "big")
    code, ndim = data[2], data[3]
    types = ", ".join(f"0x{c:02X} {n}" for c, n in _IDX_TYPE_NAMES.items())
    if data[0] != 0 or data[1] != 0 or code not in _IDX_TYPES:
        raise DatasetError(f"{where}: bad magic number 0x{magic:08X}: an IDX file starts with two "
                           f"zero bytes, a type code ({types}) and the number of dimensions")
    if ndim == 0:
        raise DatasetError(f"{where}: bad magic number 0x{magic:08X}: zero dimensions")
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DatasetError(f"{where}: truncated header: magic 0x{magic:08X} announces {ndim} "
                           f"dimensions, i.e. a {header}-byte header, file has {len(data)} bytes")
    dims = tuple(int.from_bytes(data[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    dtype = _IDX_TYPES[code]
    count = math.prod(dims)
    expected = count * dtype.itemsize
    have = len(data) - header
    if have != expected:
        what = "truncated" if have < expected else "trailing bytes"
        size = (f"{_dims_text(dims)} = {expected} bytes" if dtype.itemsize == 1 else
                f"{_dims_text(dims)} {_IDX_TYPE_NAMES[code]} = {expected} bytes")
        extra = f" ({have - expected} too many)" if have > expected else ""
        raise DatasetError(f"{where}: {what}: header says {size} of data, file has {have}"
                           f"{extra} after the {header}-byte header")
    arr = np.frombuffer(data, dtype=dtype, count=count, offset=header).reshape(dims)
    # Copy into native byte order: writable, C-contiguous, independent of the file buffer.
    return arr.astype(dtype.newbyteorder("="), copy=True)


# --------------------------------------------------------------------------------------------
# Binarisation
# --------------------------------------------------------------------------------------------

def _median(values: np.ndarray) -> float:
    """Median of all values of an array, exact and equal to ``np.median`` (faster on 8-bit)."""
    flat = values.reshape(-1)
    n = flat.size
    if flat.dtype in (np.uint8, np.int8, np.bool_):
        # Histogram of the 256 byte values, in chunks (bincount widens to intp internally).
        u8 = flat.view(np.uint8)
        offset = 128 if flat.dtype == np.int8 else 0
        counts = np.zeros(256, dtype=np.int64)
        for start in range(0, n, 1 << 22):
            counts += np.bincount(u8[start:start + (1 << 22)], minlength=256)
        if offset:  # int8 viewed as uint8: 128..255 are -128..-1, put them first
            counts = np.concatenate([counts[128:], counts[:128]])
        cum = np.cumsum(counts)
        lo = int(np.searchsorted(cum, (n - 1) // 2, side="right")) - offset
        hi = int(np.searchsorted(cum, n // 2, side="right")) - offset
        return (lo + hi) / 2.0
    return float(np.median(flat))


def _as_numeric(a, what):
    try:
        arr = np.asarray(a)
    except Exception as exc:  # noqa: BLE001 - anything that is not array-like
        raise DatasetError(f"{what}: not an array: {exc}") from None
    if arr.dtype == np.bool_:
        arr = arr.view(np.uint8)
    if not (np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)):
        raise DatasetError(f"{what}: expected numbers, got dtype {arr.dtype}")
    return arr


def _bits(mask: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(mask).view(np.uint8)


def binarize_median(train, *others):
    """Binarise with one global scalar median of the training data (the paper's binarisation).

    ``bit = 1 if x > median else 0`` (bit 1 stands for +1), where ``median`` is the median of
    *all* values of ``train`` (for images: over all pixels of all training images). The same
    threshold is applied to ``others``.

    Parameters
    ----------
    train : array_like
        Training data, any shape; defines the threshold.
    *others : array_like
        Further arrays (test data, ...) binarised with the same threshold.

    Returns
    -------
    bits : list of numpy.ndarray
        ``[train_bits, *other_bits]``: ``uint8`` 0/1 arrays with the shapes of the inputs,
        C-contiguous.
    threshold : float
        The median (a half-integer when the two middle values of integer data differ).
    """
    train = _as_numeric(train, "binarize_median: train")
    if train.size == 0:
        raise DatasetError("binarize_median: train is empty, its median is undefined")
    if np.issubdtype(train.dtype, np.floating) and np.isnan(train).any():
        raise DatasetError("binarize_median: train contains NaN")
    threshold = _median(train)
    out = [_bits(train > threshold)]
    for i, other in enumerate(others):
        other = _as_numeric(other, f"binarize_median: others[{i}]")
        out.append(_bits(other > threshold))
    return out, threshold


def thermometer_encode(train_features, *others, levels=32):
    """Thermometer code of numeric features at quantiles of the training columns.

    Each feature gets ``levels - 1`` thresholds, the quantiles ``k / levels`` for
    ``k = 1 .. levels - 1`` of its training column (``numpy.quantile``, linear interpolation).
    Bit ``t`` of a feature is 1 iff ``value > threshold_t``, so a value is coded by how many
    thresholds it exceeds, one of ``levels`` levels ``0 .. levels - 1``. Bits are laid out
    feature-major: feature ``f`` occupies columns ``f * (levels - 1) .. (f + 1) * (levels - 1) - 1``.

    Parameters
    ----------
    train_features : array_like
        2-D ``(n_samples, n_features)`` numeric training data.
    *others : array_like
        Further 2-D arrays with the same number of features, coded with the same thresholds.
    levels : int, default 32
        Number of levels (the paper uses 32); ``levels - 1`` bits per feature.

    Returns
    -------
    bits : list of numpy.ndarray
        ``[train_bits, *other_bits]``, ``uint8`` 0/1 arrays of shape
        ``(n_samples, n_features * (levels - 1))``, C-contiguous.
    thresholds : numpy.ndarray
        ``float64`` array of shape ``(n_features, levels - 1)``, non-decreasing along axis 1.
    """
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise DatasetError(f"thermometer_encode: levels must be an integer >= 2, got {levels!r}")
    train = _as_numeric(train_features, "thermometer_encode: train_features")
    if train.ndim != 2 or train.shape[0] == 0:
        raise DatasetError(f"thermometer_encode: train_features must be a non-empty 2-D array "
                           f"(n_samples, n_features), got shape {train.shape}")
    train = train.astype(np.float64, copy=False)
    if np.isnan(train).any():
        raise DatasetError("thermometer_encode: train_features contains NaN")
    qs = np.arange(1, levels) / levels
    thresholds = np.ascontiguousarray(np.quantile(train, qs, axis=0).T)  # (n_features, levels-1)

    def encode(x):
        bits = x[:, :, None] > thresholds[None, :, :]
        return _bits(bits.reshape(x.shape[0], -1))

    out = [encode(train)]
    for i, other in enumerate(others):
        other = _as_numeric(other, f"thermometer_encode: others[{i}]")
        if other.ndim != 2 or other.shape[1] != train.shape[1]:
            raise DatasetError(f"thermometer_encode: others[{i}] must be 2-D with "
                               f"{train.shape[1]} features, got shape {other.shape}")
        out.append(encode(other.astype(np.float64, copy=False)))
    return out, thresholds


def one_hot_pm1(categories, n_categories):
    """One-hot code of a categorical feature, as +-1 bits.

    Parameters
    ----------
    categories : array_like of int
        1-D category indices in ``0 .. n_categories - 1``.
    n_categories : int
        Number of categories.

    Returns
    -------
    numpy.ndarray
        ``uint8`` array of shape ``(n, n_categories)``: bit 1 (+1) at the sample's category,
        bit 0 (-1) elsewhere.
    """
    if isinstance(n_categories, bool) or not isinstance(n_categories, (int, np.integer)) \
            or n_categories < 1:
        raise DatasetError(f"one_hot_pm1: n_categories must be a positive integer, "
                           f"got {n_categories!r}")
    cats = np.asarray(categories)
    if cats.ndim != 1 or not (np.issubdtype(cats.dtype, np.integer) or cats.size == 0):
        raise DatasetError(f"one_hot_pm1: categories must be a 1-D integer array, got "
                           f"{_describe(cats)}")
    cats = cats.astype(np.int64)
    if cats.size and (cats.min() < 0 or cats.max() >= n_categories):
        raise DatasetError(f"one_hot_pm1: categories must lie in 0..{n_categories - 1}, found "
                           f"{int(cats.min())}..{int(cats.max())}")
    out = np.zeros((cats.size, int(n_categories)), dtype=np.uint8)
    out[np.arange(cats.size), cats] = 1
    return out


# --------------------------------------------------------------------------------------------
# Loaders
# --------------------------------------------------------------------------------------------

def _check_seed(seed, where):
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise DatasetError(f"{where}: seed must be a non-negative integer, got {seed!r}")
    return int(seed)


DIGITS_LEVELS = (0, 2, 4, 6, 8, 10, 12, 14)
DIGITS_ENCODINGS = ("thermometer", "median")


def load_digits(seed=42, test_fraction=0.2, encoding="thermometer") -> Dataset:
    """scikit-learn's bundled 8x8 digits (no download).

    The 1797 samples are shuffled with ``numpy.random.default_rng(seed).permutation``; the last
    ``round(1797 * test_fraction)`` (359 by default) are the test set. Pixels (0..16) are encoded
    as bits in one of two ways:

    * ``"thermometer"`` (default): an 8-level thermometer code per pixel, bit ``t`` set iff the
      pixel is ``> DIGITS_LEVELS[t]`` (0, 2, …, 14); 512 inputs laid out pixel by pixel. The 64
      median-binarised bits lose too much of these tiny images (about 80 % test accuracy).
    * ``"median"``: the paper's ``x > median`` with one global median over all pixels of the
      training part; 64 inputs.

    Parameters
    ----------
    seed : int, default 42
        Shuffling seed.
    test_fraction : float, default 0.2
        Fraction of samples in the test set, in (0, 1).
    encoding : {"thermometer", "median"}
        Bit encoding of the pixels.

    Returns
    -------
    Dataset
        512 (thermometer) or 64 (median) inputs, 10 classes.
    """
    seed = _check_seed(seed, "load_digits")
    if encoding not in DIGITS_ENCODINGS:
        raise DatasetError(f"load_digits: unknown encoding {encoding!r}, expected one of "
                           f"{', '.join(DIGITS_ENCODINGS)}")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise DatasetError(f"load_digits: test_fraction must lie strictly between 0 and 1, "
                           f"got {test_fraction!r}")
    try:
        from sklearn.datasets import load_digits as _sk_load_digits
    except ImportError as exc:  # pragma: no cover - scikit-learn is a dependency
        raise DatasetError(f"digits: scikit-learn is needed for the bundled digits: {exc}") \
            from None
    x, y = _sk_load_digits(return_X_y=True)
    n = x.shape[0]
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise DatasetError(f"load_digits: test_fraction={test_fraction} leaves an empty "
                           f"train or test set")
    perm = np.random.default_rng(seed).permutation(n)
    x, y = x[perm], y[perm].astype(np.int64)
    n_train = n - n_test
    if encoding == "median":
        (xtr, xte), thr = binarize_median(x[:n_train], x[n_train:])
        coding = {"median": thr,
                  "binarisation": "x > median (global median over the training part)"}
    else:
        levels = np.asarray(DIGITS_LEVELS, dtype=np.float64)
        xtr, xte = (np.ascontiguousarray((part[:, :, None] > levels).reshape(len(part), -1),
                                         dtype=np.uint8) for part in (x[:n_train], x[n_train:]))
        coding = {"binarisation": "8-level thermometer per pixel: bit t = pixel > "
                                  + ",".join(map(str, DIGITS_LEVELS))}
    return Dataset(
        name="digits",
        x_train=xtr, y_train=np.ascontiguousarray(y[:n_train]),
        x_test=xte, y_test=np.ascontiguousarray(y[n_train:]),
        n_classes=10,
        info={"source": "sklearn.datasets.load_digits", "split": "paper", "seed": seed,
              "test_fraction": test_fraction, "encoding": encoding, **coding},
    )


def _find_idx(folder: pathlib.Path, base: str, name: str) -> pathlib.Path:
    plain, gz = folder / base, folder / f"{base}.gz"
    for candidate in (plain, gz):  # uncompressed first: it reads faster
        if candidate.is_file():
            return candidate
    hint = _IDX_HINTS.get(name, "")
    raise DatasetError(f"{folder}: {name} file not found: looked for {base} and {base}.gz"
                       + (f"; {hint}" if hint else ""))


def _read_images_labels(folder, base_images, base_labels, name):
    img_path = _find_idx(folder, base_images, name)
    lbl_path = _find_idx(folder, base_labels, name)
    images = read_idx(img_path)
    labels = read_idx(lbl_path)
    for path, arr in ((img_path, images), (lbl_path, labels)):
        if arr.dtype != np.uint8:
            raise DatasetError(f"{path}: IDX type {arr.dtype} (type byte 0x"
                               f"{_IDX_TYPE_CODES[arr.dtype.newbyteorder('>')]:02X}): only "
                               f"unsigned byte data (type 0x08) is supported")
    if images.ndim != 3:
        raise DatasetError(f"{img_path}: expected 3-D images (n, rows, cols), header gives "
                           f"{images.ndim} dimensions {_dims_text(images.shape)}")
    if labels.ndim != 1:
        raise DatasetError(f"{lbl_path}: expected 1-D labels, header gives {labels.ndim} "
                           f"dimensions {_dims_text(labels.shape)}")
    if not np.issubdtype(labels.dtype, np.integer):
        raise DatasetError(f"{lbl_path}: labels must be integers, file holds {labels.dtype}")
    if labels.shape[0] != images.shape[0]:
        raise DatasetError(f"{lbl_path}: {labels.shape[0]} labels but {img_path.name} holds "
                           f"{images.shape[0]} images")
    if labels.size and labels.max() >= MAX_CLASSES:
        raise DatasetError(f"{lbl_path}: labels must lie in 0..{MAX_CLASSES - 1}, found "
                           f"{int(labels.max())}")
    if images.shape[0] == 0:
        raise DatasetError(f"{img_path}: holds no images")
    return images, labels.astype(np.int64), img_path, lbl_path


def load_idx_dataset(name, data_dir, split="paper", seed=42, n_test=10000) -> Dataset:
    """Load an MNIST-style IDX dataset folder and median-binarise it.

    Parameters
    ----------
    name : {"fashion-mnist", "mnist"}
        Dataset name (used in messages and in the result).
    data_dir : str or os.PathLike
        Folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
        ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte``, each ``.gz`` or uncompressed
        (the uncompressed file is used when both exist).
    split : {"paper", "official"}, default "paper"
        ``"paper"``: only the training file; threshold = global median over all its pixels;
        samples shuffled with ``numpy.random.default_rng(seed).permutation``; the last
        ``n_test`` are the test set, the rest (first 50 000 for 60 000 images) the training set.
        The t10k files are not needed. ``"official"``: training file / t10k file, threshold =
        median over the training file, no shuffling.
    seed : int, default 42
        Shuffling seed (paper split).
    n_test : int, default 10000
        Test-set size of the paper split.

    Returns
    -------
    Dataset
        ``rows * cols`` inputs (784); classes: the largest label + 1 (10 for MNIST and
        FashionMNIST). Only unsigned-byte IDX files (type 0x08) are accepted.
    """
    if name not in ("fashion-mnist", "mnist"):
        raise DatasetError(f"load_idx_dataset: unknown IDX dataset {name!r}, expected "
                           f"'fashion-mnist' or 'mnist'")
    if split not in SPLITS:
        raise DatasetError(f"{name}: unknown split {split!r}, expected one of {SPLITS}")
    seed = _check_seed(seed, name)
    if data_dir is None:
        raise DatasetError(f"{name}: no data_dir given; {_IDX_HINTS[name]}")
    folder = pathlib.Path(os.fspath(data_dir)).expanduser()
    if not folder.is_dir():
        what = "is not a folder" if folder.exists() else "folder does not exist"
        raise DatasetError(f"{folder}: {what}; expected the {name} IDX files "
                           f"{', '.join(b + '[.gz]' for b in _IDX_FILES)}; {_IDX_HINTS[name]}")

    images, labels, img_path, lbl_path = _read_images_labels(folder, _IDX_FILES[0],
                                                             _IDX_FILES[1], name)
    n, rows, cols = images.shape
    info = {"source": {"train_images": str(img_path), "train_labels": str(lbl_path)},
            "data_dir": str(folder), "split": split, "image_shape": (rows, cols),
            "binarisation": "x > median (one global scalar median over the training file)"}

    if split == "paper":
        if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) \
                or not 0 < n_test < n:
            raise DatasetError(f"{img_path}: paper split needs 0 < n_test < {n} (the number of "
                               f"training images), got n_test={n_test!r}")
        n_test = int(n_test)
        (bits,), thr = binarize_median(images)
        bits = bits.reshape(n, rows * cols)
        perm = np.random.default_rng(seed).permutation(n)
        tr, te = perm[: n - n_test], perm[n - n_test:]
        x_train, y_train = bits[tr], labels[tr]
        x_test, y_test = bits[te], labels[te]
        info.update(seed=seed, n_test=n_test)
    else:
        t_images, t_labels, t_img_path, t_lbl_path = _read_images_labels(
            folder, _IDX_FILES[2], _IDX_FILES[3], name)
        top = int(labels.max())
        if t_labels.size and t_labels.max() > top:
            bad = t_labels[t_labels > top]
            raise DatasetError(f"{t_lbl_path}: labels must lie in 0..{top} (the classes of the "
                               f"training file), found {bad.size} outside (e.g. "
                               f"{int(bad[0])})")
        if t_images.shape[1:] != (rows, cols):
            raise DatasetError(f"{t_img_path}: images are {_dims_text(t_images.shape[1:])} but "
                               f"the training images are {rows}x{cols}")
        (bits, t_bits), thr = binarize_median(images, t_images)
        x_train, y_train = bits.reshape(n, rows * cols), labels
        x_test, y_test = t_bits.reshape(t_images.shape[0], rows * cols), t_labels
        info["source"].update(test_images=str(t_img_path), test_labels=str(t_lbl_path))
        info.update(seed=None)
    info["median"] = thr
    # the number of classes comes from the data: one more than the largest label
    n_classes = int(max(y_train.max(initial=0), y_test.max(initial=0))) + 1
    return Dataset(name=name,
                   x_train=np.ascontiguousarray(x_train), y_train=np.ascontiguousarray(y_train),
                   x_test=np.ascontiguousarray(x_test), y_test=np.ascontiguousarray(y_test),
                   n_classes=n_classes, info=info)


def load_fashion_mnist(data_dir=None, split="paper", seed=42, n_test=10000) -> Dataset:
    """FashionMNIST, by default from ``/usr/share/datasets/fashion-mnist`` (Debian package
    ``dataset-fashion-mnist``). See :func:`load_idx_dataset` for the splits."""
    if data_dir is None:
        data_dir = DEFAULT_FASHION_MNIST_DIR
    return load_idx_dataset("fashion-mnist", data_dir, split=split, seed=seed, n_test=n_test)


def load_mnist(data_dir=None, split="paper", seed=42, n_test=10000) -> Dataset:
    """MNIST from the IDX files in ``data_dir`` (required: there is no default folder).
    See :func:`load_idx_dataset` for the splits."""
    if data_dir is None:
        raise DatasetError("mnist: data_dir is required (MNIST has no default folder); "
                           + _IDX_HINTS["mnist"])
    return load_idx_dataset("mnist", data_dir, split=split, seed=seed, n_test=n_test)


def make_prototypes(seed=42, n_classes=10, dim=1000, flip=0.44, per_class=1200,
                    n_test=2000) -> Dataset:
    """The paper's synthetic prototype set.

    ``n_classes`` random +-1 prototypes of dimension ``dim``; every sample of class ``c`` is the
    prototype of ``c`` with each bit flipped independently with probability ``flip``. Samples
    are unique within their class and overall (duplicates are dropped and redrawn until each
    class has ``per_class`` of them). All samples are shuffled; the last ``n_test`` are the test
    set. Deterministic for a given seed (``numpy.random.default_rng(seed)``).

    Parameters
    ----------
    seed : int, default 42
    n_classes : int, default 10
    dim : int, default 1000
    flip : float, default 0.44
        Per-bit flip probability, in [0, 1].
    per_class : int, default 1200
    n_test : int, default 2000

    Returns
    -------
    Dataset
        ``n_classes * per_class - n_test`` (10 000) training and ``n_test`` (2 000) test
        samples of ``dim`` bits; ``info["prototypes"]`` holds the prototypes as bits,
        shape ``(n_classes, dim)``.
    """
    seed = _check_seed(seed, "prototypes")
    for label, v in (("n_classes", n_classes), ("dim", dim), ("per_class", per_class)):
        if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
            raise DatasetError(f"prototypes: {label} must be a positive integer, got {v!r}")
    if not isinstance(flip, (int, float)) or not 0 <= flip <= 1:
        raise DatasetError(f"prototypes: flip must lie in [0, 1], got {flip!r}")
    total = n_classes * per_class
    if isinstance(n_test, bool) or not isinstance(n_test, (int, np.integer)) \
            or not 0 < n_test < total:
        raise DatasetError(f"prototypes: n_test must lie in 1..{total - 1}, got {n_test!r}")
    if dim < 64 and total > 2 ** dim:
        raise DatasetError(f"prototypes: {total} unique samples do not exist in dimension {dim}")

    rng = np.random.default_rng(seed)
    protos = rng.integers(0, 2, size=(n_classes, dim), dtype=np.uint8)
    x = np.empty((total, dim), dtype=np.uint8)
    y = np.repeat(np.arange(n_classes, dtype=np.int64), per_class)
    seen = set()
    redrawn = 0
    for c in range(n_classes):
        have, stalls = 0, 0
        while have < per_class:
            need = per_class - have
            draws = protos[c] ^ (rng.random((need, dim)) < flip).view(np.uint8)
            added = 0
            for row in draws:
                key = np.packbits(row).tobytes()
                if key in seen:
                    redrawn += 1
                    continue
                seen.add(key)
                x[c * per_class + have] = row
                have += 1
                added += 1
            stalls = 0 if added else stalls + 1
            if stalls > 1000:
                raise DatasetError(f"prototypes: cannot draw {per_class} unique samples for "
                                   f"class {c} (dim={dim}, flip={flip})")
    perm = rng.permutation(total)
    x, y = x[perm], y[perm]
    n_train = total - int(n_test)
    return Dataset(
        name="prototypes",
        x_train=np.ascontiguousarray(x[:n_train]), y_train=np.ascontiguousarray(y[:n_train]),
        x_test=np.ascontiguousarray(x[n_train:]), y_test=np.ascontiguousarray(y[n_train:]),
        n_classes=int(n_classes),
        info={"source": "synthetic prototypes", "split": "paper", "seed": seed, "dim": int(dim),
              "flip": float(flip), "per_class": int(per_class), "n_test": int(n_test),
              "duplicates_redrawn": redrawn, "prototypes": protos},
    )


# ------------------------------------------------------------------------------ tables
TABLE_ENCODINGS = ("thermometer", "median")
_MISSING = {"", "na", "nan", "n/a", "?", "null", "none", "-"}


def _is_number(text):
    try:
        float(text)
    except ValueError:
        return False
    return True


def _label_order(values):
    """Distinct labels sorted (numerically when they are all numbers)."""
    uniq = set(values)
    if all(_is_number(v) for v in uniq):
        return sorted(uniq, key=float)
    return sorted(uniq)


def _looks_like_header(rows):
    """The first row is a header if a column holds numbers below a non-number in it, or if
    none of its fields appears again in its column (names, not values)."""
    first, rest = [c.strip() for c in rows[0]], rows[1:]
    if all(_is_number(c) for c in first):
        return False
    if not rest:
        return True
    for j, name in enumerate(first):
        below = [r[j].strip() for r in rest if j < len(r)]
        present = [v for v in below if v.lower() not in _MISSING]
        if not _is_number(name) and present and all(_is_number(v) for v in present):
            return True
    return all(name not in {r[j].strip() for r in rest if j < len(r)}
               for j, name in enumerate(first))


def _read_csv(path, label_column):
    import csv
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        raise DatasetError(f"{path}: cannot read CSV: {e}") from None
    if not rows:
        raise DatasetError(f"{path}: empty CSV file")
    header = None
    if _looks_like_header(rows):
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    if not rows:
        raise DatasetError(f"{path}: no data rows after the header")
    width = len(header) if header else len(rows[0])
    for i, r in enumerate(rows):
        if len(r) != width:
            raise DatasetError(f"{path}: row {i + 1 + (header is not None)} has {len(r)} "
                               f"fields, expected {width}")
    names = header or [str(i) for i in range(width)]
    if label_column is None:
        col = width - 1
    elif isinstance(label_column, str) and header and label_column in header:
        col = header.index(label_column)
    else:
        try:
            col = int(label_column)
        except (TypeError, ValueError):
            raise DatasetError(f"{path}: no column named {label_column!r}"
                               + (f"; columns: {', '.join(header)}" if header else
                                  " (the file has no header row; give the column index)"))\
                from None
        if not -width <= col < width:
            raise DatasetError(f"{path}: label column index {col} out of range: the file has "
                               f"{width} columns")
        col %= width
    labels = [r[col].strip() for r in rows]
    if any(v.lower() in _MISSING for v in labels):
        raise DatasetError(f"{path}: column {names[col]!r} (the labels) has missing values")
    features = [[r[j].strip() for j in range(width) if j != col] for r in rows]
    return features, labels, [n for j, n in enumerate(names) if j != col], names[col]


def _read_npz(path):
    try:
        with np.load(path, allow_pickle=False) as z:
            arrays = {k: z[k] for k in z.files}
    except FileNotFoundError:
        raise DatasetError(f"{path}: no such file") from None
    except Exception as e:  # noqa: BLE001 - zip / format errors
        raise DatasetError(f"{path}: cannot read .npz: {e}") from None
    missing = [k for k in ("x", "y") if k not in arrays]
    if missing:
        raise DatasetError(f"{path}: needs arrays 'x' (samples x features) and 'y' (labels); "
                           f"missing {', '.join(missing)}; has {', '.join(arrays) or 'none'}")
    x, y = arrays["x"], arrays["y"]
    if x.ndim != 2 or y.ndim != 1 or len(x) != len(y):
        raise DatasetError(f"{path}: 'x' must be 2-D and 'y' 1-D with one label per row, got "
                           f"shapes {x.shape} and {y.shape}")
    if not (np.issubdtype(x.dtype, np.number) or x.dtype == np.bool_):
        raise DatasetError(f"{path}: 'x' must hold numbers, got dtype {x.dtype}")
    # numbers stay numbers (NaN = missing): a float matrix instead of rows of strings
    return x.astype(np.float64), [str(v) for v in y.tolist()], \
        [str(i) for i in range(x.shape[1])], "y"


def load_table(path, label_column=None, encoding="thermometer", levels=32, seed=42,
               test_fraction=0.2) -> Dataset:
    """One's own tabular data, encoded as in the paper's tabular experiments.

    Parameters
    ----------
    path : str or os.PathLike
        ``.csv`` (the first row is a header if a column holds numbers below a non-number,
        or if none of its fields appears again in its column) or ``.npz``
        with arrays ``x`` (samples x features, numbers) and ``y`` (labels).
    label_column : str or int, optional
        CSV: the label column's name (header) or index (negative counts from the end);
        default: the last column.
    encoding : {"thermometer", "median"}
        Numeric features: a thermometer code at the training column's quantiles with
        ``levels`` levels (``levels - 1`` bits, :func:`thermometer_encode`), or one bit
        ``x > median of the training column``. A column with any non-numeric value is
        categorical: one-hot ±1 over its training categories (a category seen only in the
        test part codes as all −1). Missing values (empty, ``NA``, ``nan``, ``?``, ``null``)
        are filled with the column's mode over the training part.
    levels : int, default 32
    seed : int, default 42
        Shuffling seed; the last ``round(n * test_fraction)`` samples are the test set.
    test_fraction : float, default 0.2

    Returns
    -------
    Dataset
        named after the file's stem; classes are the distinct labels (sorted, numerically
        if they are numbers), listed in ``info["classes"]``.
    """
    path = pathlib.Path(os.fspath(path)).expanduser()
    seed = _check_seed(seed, str(path))
    if encoding not in TABLE_ENCODINGS:
        raise DatasetError(f"{path}: unknown encoding {encoding!r}, expected one of "
                           f"{', '.join(TABLE_ENCODINGS)}")
    if isinstance(levels, bool) or not isinstance(levels, (int, np.integer)) or levels < 2:
        raise DatasetError(f"{path}: levels must be an integer >= 2, got {levels!r}")
    if not isinstance(test_fraction, (int, float)) or not 0 < test_fraction < 1:
        raise DatasetError(f"{path}: test_fraction must lie strictly between 0 and 1, "
                           f"got {test_fraction!r}")
    if path.is_dir():
        raise DatasetError(f"{path}: is a folder, expected a .csv or .npz file")
    if path.suffix.lower() == ".csv":
        features, labels, names, label_name = _read_csv(path, label_column)
    elif path.suffix.lower() == ".npz":
        if label_column is not None:
            raise DatasetError(f"{path}: a .npz table's labels are its array 'y'; "
                               f"label_column is for .csv files")
        features, labels, names, label_name = _read_npz(path)
    else:
        raise DatasetError(f"{path}: unknown table format {path.suffix!r} (use .csv or .npz)")
    n = len(labels)
    n_test = int(round(n * test_fraction))
    if not 0 < n_test < n:
        raise DatasetError(f"{path}: {n} samples: test_fraction={test_fraction} leaves an empty "
                           f"train or test set")
    classes = _label_order(labels)
    if len(classes) < 2:
        raise DatasetError(f"{path}: column {label_name!r} has {len(classes)} distinct label(s); "
                           f"at least 2 classes are needed")
    if len(classes) > MAX_CLASSES:
        raise DatasetError(f"{path}: column {label_name!r} has {len(classes)} distinct labels, "
                           f"at most {MAX_CLASSES} classes are supported")
    index = {c: i for i, c in enumerate(classes)}
    y = np.array([index[v] for v in labels], dtype=np.int64)
    perm = np.random.default_rng(seed).permutation(n)
    tr, te = perm[:n - n_test], perm[n - n_test:]
    blocks_tr, blocks_te, columns = [], [], []
    matrix = isinstance(features, np.ndarray)
    for j, name in enumerate(names):
        if matrix:
            vals = features[:, j].copy()
            if np.isnan(vals[tr]).all():
                raise DatasetError(f"{path}: column {name!r} has no values in the training "
                                   f"part")
            numeric = True
        else:
            col = [row[j] for row in features]
            present = [v for v in col if v.lower() not in _MISSING]
            train_present = [col[i] for i in tr if col[i].lower() not in _MISSING]
            if not train_present:
                raise DatasetError(f"{path}: column {name!r} has no values in the training "
                                   f"part")
            numeric = all(_is_number(v) for v in present)
            if numeric:
                vals = np.array([float(v) if v.lower() not in _MISSING else np.nan
                                 for v in col])
        if numeric:
            if not np.isfinite(vals[~np.isnan(vals)]).all():
                raise DatasetError(f"{path}: column {name!r} holds infinite values")
            uniq, counts = np.unique(vals[tr][~np.isnan(vals[tr])], return_counts=True)
            mode = float(uniq[np.argmax(counts)])
            vals[np.isnan(vals)] = mode
            part_tr, part_te = vals[tr][:, None], vals[te][:, None]
            if encoding == "thermometer":
                (btr, bte), thr = thermometer_encode(part_tr, part_te, levels=levels)
                columns.append({"name": name, "kind": "numeric", "missing_filled": mode,
                                "thresholds": thr[0].tolist()})
            else:
                med = float(np.median(part_tr))
                btr, bte = _bits(part_tr > med), _bits(part_te > med)
                columns.append({"name": name, "kind": "numeric", "missing_filled": mode,
                                "median": med})
        else:
            uniq, counts = np.unique(np.array(train_present), return_counts=True)
            mode = str(uniq[np.argmax(counts)])
            filled = [mode if v.lower() in _MISSING else v for v in col]
            cats = sorted(set(filled[i] for i in tr))
            cidx = {c: k for k, c in enumerate(cats)}
            onehot = np.zeros((n, len(cats)), dtype=np.uint8)
            for i, v in enumerate(filled):
                if v in cidx:
                    onehot[i, cidx[v]] = 1
            btr, bte = onehot[tr], onehot[te]
            columns.append({"name": name, "kind": "categorical", "missing_filled": mode,
                            "categories": cats})
        blocks_tr.append(btr)
        blocks_te.append(bte)
    x_train = np.ascontiguousarray(np.concatenate(blocks_tr, axis=1), dtype=np.uint8)
    x_test = np.ascontiguousarray(np.concatenate(blocks_te, axis=1), dtype=np.uint8)
    return Dataset(
        name=path.stem, x_train=x_train, y_train=np.ascontiguousarray(y[tr]),
        x_test=x_test, y_test=np.ascontiguousarray(y[te]), n_classes=len(classes),
        info={"source": "table", "path": str(path), "split": "paper", "seed": seed,
              "test_fraction": test_fraction, "encoding": encoding,
              "levels": int(levels) if encoding == "thermometer" else None,
              "label_column": label_name, "classes": classes, "columns": columns,
              "binarisation": ("per-feature quantile thermometer" if encoding == "thermometer"
                               else "per-feature x > median") +
                              ", categorical one-hot, missing -> column mode"},
    )


def is_table_path(name):
    """True if ``name`` names a table file (:data:`TABLE_SUFFIXES`) rather than a dataset."""
    return isinstance(name, (str, os.PathLike)) and \
        pathlib.Path(os.fspath(name)).suffix.lower() in TABLE_SUFFIXES


_ALIASES = {"fashion-mnist": "fashion-mnist", "fashionmnist": "fashion-mnist",
            "fmnist": "fashion-mnist", "mnist": "mnist", "digits": "digits",
            "prototypes": "prototypes"}


def load_dataset(name, data_dir=None, split="paper", seed=42, encoding="thermometer", *,
                 label_column=None, levels=32, test_fraction=0.2) -> Dataset:
    """Load a dataset by name.

    Parameters
    ----------
    name : str
        One of :data:`DATASETS` (case-insensitive; ``_`` may stand for ``-``), or the path of
        a ``.csv`` / ``.npz`` table (:func:`load_table`, which takes ``label_column``,
        ``levels`` and ``test_fraction``).
    data_dir : str or os.PathLike, optional
        Folder of the IDX files (FashionMNIST: defaults to the Debian folder; MNIST: required).
        Ignored by ``digits`` and ``prototypes``.
    split : {"paper", "official"}, default "paper"
        ``"official"`` exists only for ``fashion-mnist`` and ``mnist``.
    seed : int, default 42
        Shuffling / generation seed.
    encoding : {"thermometer", "median"}
        Pixel encoding of ``digits`` (see :func:`load_digits`); ignored by the others.

    Returns
    -------
    Dataset
    """
    if is_table_path(name):
        if split != "paper":
            raise DatasetError(f"{name}: only split='paper' exists for tables")
        return load_table(name, label_column=label_column, encoding=encoding, levels=levels,
                          seed=seed, test_fraction=test_fraction)
    key = _ALIASES.get(str(name).strip().lower().replace("_", "-")) if isinstance(name, str) \
        else None
    if key is None:
        raise DatasetError(f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}, "
                           f"or the path of a .csv / .npz table")
    if split not in SPLITS:
        raise DatasetError(f"{key}: unknown split {split!r}, expected one of {SPLITS}")
    if key in ("digits", "prototypes") and split != "paper":
        raise DatasetError(f"{key}: only split='paper' exists; split='official' is for "
                           f"fashion-mnist and mnist")
    if key == "digits":
        return load_digits(seed=seed, encoding=encoding)
    if key == "prototypes":
        return make_prototypes(seed=seed)
    if key == "fashion-mnist":
        return load_fashion_mnist(data_dir, split=split, seed=seed)
    return load_mnist(data_dir, split=split, seed=seed)
