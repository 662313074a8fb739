#!/usr/bin/python3
"""Batch prediction with a model made by train.py (numpy only, no scikit-learn).

Part of slurm-ml's sample ML project (see README.md for the contract):

  SLURM_ML_MODEL_DIR=... SLURM_ML_INPUT=inputs/sample.csv SLURM_ML_OUTPUT_DIR=... python3 predict.py

reads model.json from $SLURM_ML_MODEL_DIR, the rows from $SLURM_ML_INPUT (CSV
with or without a header row, or .npy), and writes predictions.csv (row, label,
probability) and summary.json to $SLURM_ML_OUTPUT_DIR; with
$SLURM_ML_METRICS_FILE set, also rows/seconds there.

Exit codes: 0 ok, 2 bad input, model or environment.
"""
import argparse
import csv
import json
import os
import sys
import time

CHUNK = 5000  # rows per forward pass (one SLURM_ML_PROGRESS step each)
LABEL_COLUMNS = ("label", "target", "y", "class")


def log(msg):
    print(msg, flush=True)


def die(msg, code=2):
    print("predict.py: error: " + msg, file=sys.stderr, flush=True)
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


def read_rows(path, n_features):
    """(X float64 [N, F], y list[str] or None). CSV: an optional header row (any
    non-numeric cell); a header column named label/target/y/class is the label;
    without a header, F + 1 columns means the last one is the label."""
    import numpy as np
    if path.endswith(".npy"):
        try:
            X = np.load(path, allow_pickle=False)
        except (OSError, ValueError) as e:
            die("cannot read %s: %s" % (path, e))
        if X.ndim == 1:
            X = X.reshape(1, -1)
        if X.ndim != 2 or X.shape[1] != n_features:
            die("%s: expected shape [N, %d], got %s" % (path, n_features, list(X.shape)))
        return X.astype(np.float64), None
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
        header, rows = [c.strip() for c in rows[0]], rows[1:]
    ncol = len(header) if header else len(rows[0]) if rows else 0
    label_col = None
    if header:
        for i, name in enumerate(header):
            if name.lower() in LABEL_COLUMNS:
                label_col = i
                break
    elif ncol == n_features + 1:
        label_col = ncol - 1
    feat_cols = [i for i in range(ncol) if i != label_col]
    if len(feat_cols) != n_features:
        die("%s: expected %d feature columns (plus an optional label column), found %d"
            % (path, n_features, len(feat_cols)))
    X = np.empty((len(rows), n_features), dtype=np.float64)
    y = [] if label_col is not None else None
    for r_i, r in enumerate(rows):
        if len(r) != ncol:
            die("%s: line %d has %d cells, expected %d" % (path, r_i + 1 + (header is not None), len(r), ncol))
        try:
            X[r_i] = [float(r[i]) for i in feat_cols]
        except ValueError as e:
            die("%s: line %d: %s" % (path, r_i + 1 + (header is not None), e))
        if y is not None:
            y.append(r[label_col].strip())
    if not np.all(np.isfinite(X)):
        die("%s: non-finite feature values" % path)
    return X, y


def write_json(path, obj):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path + ".tmp", "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")
    os.replace(path + ".tmp", path)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model-dir", default=os.environ.get("SLURM_ML_MODEL_DIR"))
    ap.add_argument("--input", default=os.environ.get("SLURM_ML_INPUT"))
    ap.add_argument("--output-dir", default=os.environ.get("SLURM_ML_OUTPUT_DIR"))
    # The templates pass --config when one was given; the model's own settings come from model.json.
    ap.add_argument("--config", default=os.environ.get("SLURM_ML_CONFIG") or None)
    args = ap.parse_args()
    if not args.model_dir:
        die("no model: set SLURM_ML_MODEL_DIR (a directory with model.json from train.py)")
    if not args.input:
        die("no input: set SLURM_ML_INPUT (a CSV of feature columns, or .npy)")
    out_dir = args.output_dir or os.path.join(os.environ.get("SLURM_ML_RUN_DIR") or os.getcwd(), "output")

    import numpy as np
    t0 = time.perf_counter()
    meta, layers, labels = load_model(args.model_dir)
    n_features = layers[0][0].shape[0]
    X, _ = read_rows(args.input, n_features)  # a label column, if any, is ignored
    n = len(X)
    log("predict.py: %d rows from %s, model %s/%s from %s" % (
        n, args.input, meta.get("dataset"), meta.get("model"), args.model_dir))

    steps = max(1, -(-n // CHUNK))
    log("SLURM_ML_PROGRESS 0/%d" % steps)
    idx = np.empty(n, dtype=np.int64)
    prob = np.empty(n, dtype=np.float64)
    t1 = time.perf_counter()
    for k in range(steps):
        s = slice(k * CHUNK, min(n, (k + 1) * CHUNK))
        p = forward(layers, X[s])
        idx[s] = np.argmax(p, axis=1)
        prob[s] = p[np.arange(len(p)), idx[s]]
        if k + 1 < steps:
            log("SLURM_ML_PROGRESS %d/%d" % (k + 1, steps))
    predict_seconds = time.perf_counter() - t1

    os.makedirs(out_dir, exist_ok=True)
    pred_path = os.path.join(out_dir, "predictions.csv")
    with open(pred_path + ".tmp", "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["row", "label", "probability"])
        for i in range(n):
            w.writerow([i, labels[idx[i]], "%.6f" % prob[i]])
    os.replace(pred_path + ".tmp", pred_path)

    seconds = time.perf_counter() - t0
    counts = {lab: int(np.sum(idx == j)) for j, lab in enumerate(labels) if np.any(idx == j)}
    summary = {
        "rows": int(n),
        "n_features": int(n_features),
        "input": os.path.abspath(args.input),
        "model_dir": os.path.abspath(args.model_dir),
        "model": {"dataset": meta.get("dataset"), "model": meta.get("model"), "created": meta.get("created")},
        "label_counts": counts,
        "mean_probability": float(prob.mean()) if n else None,
        "min_probability": float(prob.min()) if n else None,
        "low_confidence_rows": int(np.sum(prob < 0.5)),
        "seconds": round(seconds, 4),
        "predictions": "predictions.csv",
    }
    write_json(os.path.join(out_dir, "summary.json"), summary)
    metrics_file = os.environ.get("SLURM_ML_METRICS_FILE")
    if metrics_file:
        write_json(metrics_file, {
            "rows": int(n),
            "seconds": round(seconds, 4),
            "rows_per_s": round(n / predict_seconds, 1) if predict_seconds > 0 else 0.0,
            "mean_probability": float(prob.mean()) if n else 0.0,
        })
    log("SLURM_ML_PROGRESS %d/%d" % (steps, steps))
    log("predict.py: wrote %s (%d rows) and summary.json in %.3f s" % (pred_path, n, seconds))


if __name__ == "__main__":
    main()
