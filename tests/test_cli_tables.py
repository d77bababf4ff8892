"""One's own data: ``--dataset PATH`` for .csv and .npz tables, with the paper's tabular
encoding (quantile thermometer per numeric feature, one-hot ±1 categorical columns, missing
values filled with the column's mode) or median bits; classes from the data."""

import csv
import json

import numpy as np
import pytest

from xnorlearn.sw.cli import main
from xnorlearn.sw.datasets import DatasetError, load_dataset, load_table


def _write_csv(path, header, rows):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        if header:
            w.writerow(header)
        w.writerows(rows)
    return path


@pytest.fixture
def wine_csv(tmp_path):
    """scikit-learn's bundled wine table (178 x 13, 3 classes), as a CSV with named labels."""
    from sklearn.datasets import load_wine
    d = load_wine()
    rows = [list(x) + [d.target_names[y]] for x, y in zip(d.data, d.target)]
    return _write_csv(tmp_path / "wine.csv", list(d.feature_names) + ["cultivar"], rows)


def test_train_on_a_csv_from_the_cli(wine_csv, tmp_path, capsys):
    out, ck = tmp_path / "r.json", tmp_path / "wine.npz"
    assert main(["train", "--dataset", str(wine_csv), "--label-column", "cultivar",
                 "--levels", "8", "--layers", "64", "--group-size", "8", "--epochs", "10",
                 "--no-progress", "--json", str(out), "--save", str(ck)]) == 0
    r = json.loads(out.read_text())
    assert r["config"]["n_inputs"] == 13 * 7 and r["config"]["n_classes"] == 3
    assert r["dataset"]["name"] == "wine" and r["dataset"]["n_train"] == 142
    assert r["final_test_accuracy"] > 0.8, r["final_test_accuracy"]
    assert "3 classes" in capsys.readouterr().out
    # eval reloads the table with the training run's flags; class names come from the data
    ev = tmp_path / "e.json"
    assert main(["eval", "--checkpoint", str(ck), "--json", str(ev)]) == 0
    e = json.loads(ev.read_text())
    assert e["accuracy"] == r["final_test_accuracy"] and e["samples"] == 36
    assert e["classes"] == ["class_0", "class_1", "class_2"]
    assert "class_0" in capsys.readouterr().out


def test_encoding_rules(tmp_path):
    # numeric a (one missing), categorical colour (one missing), label in the middle
    rows = [[1.0, "red", "yes"], [2.0, "blue", "no"], ["", "red", "yes"], [4.0, "", "no"],
            [5.0, "green", "yes"], [6.0, "red", "no"], [7.0, "blue", "yes"], [8.0, "red", "no"],
            [9.0, "red", "yes"], [10.0, "blue", "no"]]
    rows = [[r[0], r[2], r[1]] for r in rows]
    path = _write_csv(tmp_path / "t.csv", ["a", "label", "colour"], rows)
    ds = load_table(path, label_column="label", levels=4, test_fraction=0.2, seed=1)
    assert ds.n_classes == 2 and ds.info["classes"] == ["no", "yes"]
    cols = {c["name"]: c for c in ds.info["columns"]}
    assert cols["colour"]["kind"] == "categorical" and cols["colour"]["missing_filled"] == "red"
    assert cols["a"]["kind"] == "numeric" and len(cols["a"]["thresholds"]) == 3
    n_cats = len(cols["colour"]["categories"])
    assert ds.n_inputs == 3 + n_cats
    x = np.concatenate([ds.x_train, ds.x_test])
    onehot = x[:, 3:]
    assert (onehot.sum(axis=1) <= 1).all() and onehot.sum() >= len(ds.x_train)
    # thermometer bits are monotone: bit t set implies every lower bit set
    therm = x[:, :3]
    assert (np.diff(therm.astype(int), axis=1) <= 0).all()
    # label column by index (negative from the end) = by name
    same = load_table(path, label_column=1, levels=4, test_fraction=0.2, seed=1)
    assert (same.x_train == ds.x_train).all()
    med = load_table(path, label_column="label", encoding="median", test_fraction=0.2, seed=1)
    assert med.n_inputs == 1 + n_cats and "median" in med.info["columns"][0]


def test_npz_table_and_median(tmp_path):
    from sklearn.datasets import load_iris
    x, y = load_iris(return_X_y=True)
    path = tmp_path / "iris.npz"
    np.savez(path, x=x, y=y + 3)                    # labels need not start at 0
    ds = load_dataset(str(path), levels=5)
    assert (ds.n_inputs, ds.n_classes, ds.info["classes"]) == (16, 3, ["3", "4", "5"])
    med = load_dataset(str(path), encoding="median")
    assert med.n_inputs == 4
    # NaN is a missing value: filled with the column's mode over the training part
    x = x.copy()
    x[::7, 2] = np.nan
    np.savez(path, x=x, y=y)
    ds = load_dataset(str(path), levels=5)
    col = ds.info["columns"][2]
    train_rows = np.random.default_rng(42).permutation(len(y))[:ds.n_train]
    vals, counts = np.unique(x[train_rows, 2][~np.isnan(x[train_rows, 2])],
                             return_counts=True)
    assert col["missing_filled"] == vals[np.argmax(counts)]
    assert main(["train", "--dataset", str(path), "--encoding", "median", "--layers", "30",
                 "--group-size", "10", "--epochs", "3", "--no-progress"]) == 0
    with pytest.raises(DatasetError, match="labels are its array 'y'"):
        load_table(path, label_column=0)


@pytest.mark.parametrize("make,needle", [
    (lambda p: _write_csv(p / "x.csv", ["a", "b"], [[1, 0], [2, 1]] * 5), "no column named"),
    (lambda p: _write_csv(p / "x.csv", ["a", "b"], [[1, 0], [2]] * 5), "has 1 fields"),
    (lambda p: _write_csv(p / "x.csv", ["a", "b"], [[1, 0]] * 10), "at least 2 classes"),
    (lambda p: _write_csv(p / "x.csv", ["a", "b"], [[1, ""], [2, 1]] * 5), "missing values"),
    (lambda p: (p / "x.npz").write_bytes(b"junk") and p / "x.npz", "cannot read .npz"),
])
def test_table_errors(make, needle, tmp_path, capsys):
    path = make(tmp_path)
    extra = ["--label-column", "nope"] if needle == "no column named" else []
    assert main(["train", "--dataset", str(path), "--epochs", "1", "--no-progress",
                 *extra]) == 2
    err = capsys.readouterr().err
    assert err.startswith("xnorlearn: error:") and needle in err and str(path) in err


def test_headerless_csv_and_bad_suffix(tmp_path, capsys):
    rows = [[i, i % 3, ["a", "b", "c"][i % 3]] for i in range(30)]
    path = _write_csv(tmp_path / "h.csv", None, rows)
    ds = load_table(path)                               # last column, no header row
    assert ds.n_classes == 3 and ds.info["label_column"] == "2"
    with pytest.raises(DatasetError, match="no column named"):
        load_table(path, label_column="label")
    other = tmp_path / "data.txt"
    other.write_text("1,2\n")
    assert main(["train", "--dataset", str(other), "--epochs", "1"]) == 2
    assert "must be .csv or .npz" in capsys.readouterr().err
