#!/usr/bin/python3
"""Evaluate a model made by train.py: quality and prediction latency.

Part of slurm-ml's sample ML project (see README.md for the contract):

  SLURM_ML_MODEL_DIR=... SLURM_ML_DATASET=digits SLURM_ML_METRICS_FILE=... python3 evaluate.py

$SLURM_ML_DATASET is "digits" (or "iris", "wine"): the held-out split that
train.py used (same seed and test_size, read from model.json), or a CSV path
with a label column. Writes accuracy, f1_macro, per-row latency percentiles,
batch throughput and n to $SLURM_ML_METRICS_FILE (a flat JSON object of numbers).

Exit codes: 0 ok, 2 bad dataset, model or environment.
"""
import argparse
import csv
import json
import os
import sys
import time

LATENCY_ROWS = 200     # single-row predictions timed
WARMUP_ROWS = 20
THROUGHPUT_MIN_S = 0.25
LABEL_COLUMNS = ("label", "target", "y", "class")


def log(msg):
    print(msg, flush=True)


def die(msg, code=2):
    print("evaluate.py: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(code)


def load_model(model_dir):
    import numpy as np
    path = os.path.join(model_dir, "model.json")
    try:
        with open(path, encoding="utf-8") as f:
            m = json.load(f)
        layers = [(np.asarray(l["W"], dtype=np.float64), np.asarray(l["b"], dtype=np.float64), l["activation"])
                  for l in m["layers"]]
        labels = [str(x) for x in m["labels"]]
    except (OSError, ValueError, KeyError, TypeError) as e:
        die("cannot read model %s: %s" % (path, e))
    if layers[-1][2] != "softmax" or layers[-1][0].shape[1] != len(labels):
        die("model %s: last layer must be a softmax over %d labels" % (path, len(labels)))
    return m, layers, labels


def forward(layers, X):
    """Probabilities [N, K]: the same graph as model.onnx, in float64."""
    import numpy as np
    h = X
    for W, b, act in layers:
        h = h @ W + b
        if act == "relu":
            h = np.maximum(h, 0.0)
        elif act == "softmax":
            h = np.exp(h - h.max(axis=1, keepdims=True))
            h /= h.sum(axis=1, keepdims=True)
    return h


def norm_label(s):
    """'3', '3.0' and ' 3 ' are the same label."""
    s = str(s).strip()
    try:
        f = float(s)
        if f.is_integer():
            return str(int(f))
    except ValueError:
        pass
    return s


def bundled_split(name, meta):
    """The held-out rows of train.py's split for a bundled dataset."""
    import numpy as np
    from sklearn import datasets
    from sklearn.model_selection import train_test_split
    cfg = meta.get("config") or {}
    if meta.get("dataset") != name:
        log("warning: model was trained on %r, evaluating on %r" % (meta.get("dataset"), name))
    ds = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine}[name]()
    _, X_test, _, y_test = train_test_split(
        ds.data.astype(np.float64), ds.target, test_size=cfg.get("test_size", 0.25),
        random_state=cfg.get("seed", 0), stratify=ds.target)
    names = [str(t) for t in ds.target_names]
    return X_test, [names[t] for t in y_test]


def read_labelled_csv(path, n_features):
    """CSV with n_features feature columns and a label column: named
    label/target/y/class in a header row, or (without a header) the last one."""
    import numpy as np
    try:
        with open(path, newline="", encoding="utf-8-sig") as f:
            rows = [r for r in csv.reader(f) if r and any(c.strip() for c in r)]
    except (OSError, UnicodeDecodeError, csv.Error) as e:
        die("cannot read %s: %s" % (path, e))
    if not rows:
        die("%s: no rows" % path)

    def numeric(c):
        try:
            float(c)
            return True
        except ValueError:
            return False

    header = None
    if not all(numeric(c) for c in rows[0]):
        header, rows = [c.strip().lower() for c in rows[0]], rows[1:]
    ncol = len(header) if header else len(rows[0])
    if header:
        label_col = next((i for i, h in enumerate(header) if h in LABEL_COLUMNS), None)
        if label_col is None:
            die("%s: no label column (a header column named %s)" % (path, "/".join(LABEL_COLUMNS)))
    else:
        label_col = ncol - 1
    feat = [i for i in range(ncol) if i != label_col]
    if len(feat) != n_features:
        die("%s: expected %d feature columns plus a label column, found %d columns" % (path, n_features, ncol))
    X = np.empty((len(rows), n_features), dtype=np.float64)
    y = []
    for k, r in enumerate(rows):
        if len(r) != ncol:
            die("%s: data row %d has %d cells, expected %d" % (path, k + 1, len(r), ncol))
        try:
            X[k] = [float(r[i]) for i in feat]
        except ValueError as e:
            die("%s: data row %d: %s" % (path, k + 1, e))
        y.append(r[label_col])
    return X, y


def f1_macro(y_true, y_pred):
    """scikit-learn's f1_score(average='macro') over the labels in y_true or y_pred."""
    f1s = []
    for c in sorted(set(y_true) | set(y_pred)):
        tp = sum(1 for t, p in zip(y_true, y_pred) if t == c and p == c)
        fp = sum(1 for t, p in zip(y_true, y_pred) if t != c and p == c)
        fn = sum(1 for t, p in zip(y_true, y_pred) if t == c and p != c)
        f1s.append(2 * tp / (2 * tp + fp + fn) if tp else 0.0)
    return sum(f1s) / len(f1s) if f1s else 0.0


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=os.environ.get("SLURM_ML_MODEL_DIR"))
    ap.add_argument("--dataset", default=os.environ.get("SLURM_ML_DATASET") or "digits")
    # The templates pass --config when one was given; the model's own settings come from model.json.
    ap.add_argument("--config", default=os.environ.get("SLURM_ML_CONFIG") or None)
    args = ap.parse_args()
    if not args.model_dir:
        die("no model: set SLURM_ML_MODEL_DIR (a directory with model.json from train.py)")
    metrics_file = os.environ.get("SLURM_ML_METRICS_FILE") or os.path.join(
        os.environ.get("SLURM_ML_RUN_DIR") or os.getcwd(), "metrics.json")

    import numpy as np
    meta, layers, labels = load_model(args.model_dir)
    n_features = layers[0][0].shape[0]
    log("SLURM_ML_PROGRESS 0/3")
    if args.dataset in ("digits", "iris", "wine"):
        X, y_true = bundled_split(args.dataset, meta)
    elif os.path.isfile(args.dataset):
        X, y_true = read_labelled_csv(args.dataset, n_features)
    else:
        die("SLURM_ML_DATASET=%r is neither digits/iris/wine nor an existing CSV file" % args.dataset)
    if X.shape[1] != n_features:
        die("dataset has %d features, the model expects %d" % (X.shape[1], n_features))
    n = len(X)
    if n == 0:
        die("dataset %s has no rows" % args.dataset)
    y_true = [norm_label(v) for v in y_true]
    log("evaluate.py: %d rows from %s, model %s/%s from %s" % (
        n, args.dataset, meta.get("dataset"), meta.get("model"), args.model_dir))
    log("SLURM_ML_PROGRESS 1/3")

    # Quality, one batch.
    proba = forward(layers, X)
    y_pred = [norm_label(labels[i]) for i in np.argmax(proba, axis=1)]
    accuracy = sum(1 for t, p in zip(y_true, y_pred) if t == p) / n
    f1 = f1_macro(y_true, y_pred)
    log("SLURM_ML_PROGRESS 2/3")

    # Latency: one row at a time (what an online caller sees), after a warm-up.
    rows = [X[i % n:i % n + 1] for i in range(WARMUP_ROWS + LATENCY_ROWS)]
    for r in rows[:WARMUP_ROWS]:
        forward(layers, r)
    lat = np.empty(LATENCY_ROWS)
    for k, r in enumerate(rows[WARMUP_ROWS:]):
        t = time.perf_counter()
        p = forward(layers, r)
        int(np.argmax(p[0]))
        lat[k] = (time.perf_counter() - t) * 1000.0
    # Throughput: the whole set as one batch, repeated for at least THROUGHPUT_MIN_S.
    reps, t0 = 0, time.perf_counter()
    while True:
        np.argmax(forward(layers, X), axis=1)
        reps += 1
        el = time.perf_counter() - t0
        if el >= THROUGHPUT_MIN_S:
            break
    metrics = {
        "accuracy": accuracy,
        "f1_macro": f1,
        "latency_p50_ms": round(float(np.percentile(lat, 50)), 4),
        "latency_p95_ms": round(float(np.percentile(lat, 95)), 4),
        "latency_p99_ms": round(float(np.percentile(lat, 99)), 4),
        "throughput_rows_per_s": round(reps * n / el, 1),
        "n": n,
        "mean_probability": float(np.mean(np.max(proba, axis=1))),
    }
    os.makedirs(os.path.dirname(os.path.abspath(metrics_file)), exist_ok=True)
    with open(metrics_file + ".tmp", "w", encoding="utf-8") as f:
        json.dump(metrics, f, indent=2)
        f.write("\n")
    os.replace(metrics_file + ".tmp", metrics_file)
    log("SLURM_ML_PROGRESS 3/3")
    log("evaluate.py: accuracy %.4f, f1_macro %.4f, p50 %.3f ms, p99 %.3f ms, %.0f rows/s; wrote %s" % (
        accuracy, f1, metrics["latency_p50_ms"], metrics["latency_p99_ms"],
        metrics["throughput_rows_per_s"], metrics_file))


if __name__ == "__main__":
    main()
