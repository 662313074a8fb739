#!/usr/bin/python3
"""Train a small classifier on a dataset bundled with scikit-learn (no download).

Part of slurm-ml's sample ML project (see README.md for the contract):

  python3 train.py --config config.json

writes model.onnx, model.json and labels.json to $SLURM_ML_ARTIFACT_DIR, the
test-set metrics to $SLURM_ML_METRICS_FILE, and `SLURM_ML_PROGRESS k/n` lines
to stdout while it trains. The ONNX graph is written by hand with onnx.helper
(no skl2onnx) and checked numerically against the scikit-learn model before
anything is written.

Exit codes: 0 ok, 2 bad config or environment, 3 the config asked to fail.
"""
import argparse
import json
import math
import os
import sys
import time
import warnings

DEFAULTS = {
    "dataset": "digits",   # digits | iris | wine (all bundled with scikit-learn)
    "model": "logistic",   # logistic | mlp
    "C": 1.0,              # logistic: inverse regularisation strength
    "max_iter": 200,       # logistic: L-BFGS iterations; mlp: epochs
    "hidden": 32,          # mlp: hidden units (one ReLU layer)
    "alpha": 1e-4,         # mlp: L2 penalty
    "test_size": 0.25,
    "seed": 0,
    "progress_steps": 10,  # how many SLURM_ML_PROGRESS steps at most
    "step_delay_s": 0.0,   # sleep after each step (makes progress watchable in demos)
    "fail": False,         # true: fail on purpose (exit 3) after the first step
}
DATASETS = ("digits", "iris", "wine")
MODELS = ("logistic", "mlp")
MAX_PROB_DIFF = 1e-5


def log(msg):
    print(msg, flush=True)


def die(msg, code=2):
    print("train.py: error: " + msg, file=sys.stderr, flush=True)
    sys.exit(code)


def run_dir():
    return os.environ.get("SLURM_ML_RUN_DIR") or os.getcwd()


def read_config(arg):
    """--config PATH, else $SLURM_ML_CONFIG (a path, or inline JSON), else defaults."""
    src = arg or os.environ.get("SLURM_ML_CONFIG") or ""
    cfg = dict(DEFAULTS)
    if not src:
        return cfg, "(defaults)"
    try:
        if src.lstrip().startswith("{"):
            user = json.loads(src)
        else:
            with open(src, encoding="utf-8") as f:
                user = json.load(f)
    except (OSError, ValueError) as e:
        die("cannot read config %s: %s" % (src, e))
    if not isinstance(user, dict):
        die("config %s: expected a JSON object" % src)
    for k in user:
        if k not in DEFAULTS:
            log("warning: unknown config key %r ignored" % k)
    cfg.update({k: v for k, v in user.items() if k in DEFAULTS})
    return cfg, src


def check_config(cfg):
    if cfg["dataset"] not in DATASETS:
        die("config: dataset must be one of %s, not %r" % (", ".join(DATASETS), cfg["dataset"]))
    if cfg["model"] not in MODELS:
        die("config: model must be one of %s, not %r" % (", ".join(MODELS), cfg["model"]))
    num = lambda k, lo, hi: isinstance(cfg[k], (int, float)) and not isinstance(cfg[k], bool) and lo <= cfg[k] <= hi
    if not num("C", 1e-9, 1e9):
        die("config: C must be a number > 0")
    if not (isinstance(cfg["max_iter"], int) and 1 <= cfg["max_iter"] <= 100000):
        die("config: max_iter must be an integer >= 1")
    if not (isinstance(cfg["hidden"], int) and 1 <= cfg["hidden"] <= 4096):
        die("config: hidden must be an integer in 1..4096")
    if not num("alpha", 0, 1e6):
        die("config: alpha must be a number >= 0")
    if not num("test_size", 0.05, 0.95):
        die("config: test_size must be in 0.05..0.95")
    if not isinstance(cfg["seed"], int) or isinstance(cfg["seed"], bool):
        die("config: seed must be an integer")
    if not (isinstance(cfg["progress_steps"], int) and 1 <= cfg["progress_steps"] <= 1000):
        die("config: progress_steps must be an integer in 1..1000")
    if not num("step_delay_s", 0, 3600):
        die("config: step_delay_s must be a number >= 0")
    if not isinstance(cfg["fail"], bool):
        die("config: fail must be true or false")


def out_paths():
    rd = run_dir()
    art = os.environ.get("SLURM_ML_ARTIFACT_DIR") or os.path.join(rd, "artifacts")
    met = os.environ.get("SLURM_ML_METRICS_FILE") or os.path.join(rd, "metrics.json")
    return art, met


def write_json(path, obj, indent=None):
    d = os.path.dirname(os.path.abspath(path))
    os.makedirs(d, exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as f:
        json.dump(obj, f, indent=indent)
        f.write("\n")
    os.replace(tmp, path)


def write_bytes(path, data):
    tmp = path + ".tmp"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


# ----------------------------------------------------------------------------- model -> layers
def fold_scaler(layers, mean, scale):
    """The model sees (x - mean) / scale; fold that into the first layer so the
    exported graph takes raw features: W' = W / scale, b' = b - (mean / scale) @ W."""
    first = dict(layers[0])
    W, b = first["W"], first["b"]
    first["W"] = W / scale[:, None]
    first["b"] = b - (mean / scale) @ W
    return [first] + layers[1:]


def layers_of(model):
    """[{W: (n_in, n_out) float64, b: (n_out,), activation}], the last one softmax."""
    import numpy as np
    if hasattr(model, "coef_"):  # LogisticRegression (multinomial)
        if model.coef_.shape[0] == 1:
            raise SystemExit("binary problems are not supported by this sample")
        return [{"W": model.coef_.T.astype(np.float64), "b": model.intercept_.astype(np.float64),
                 "activation": "softmax"}]
    out = []  # MLPClassifier
    for i, (W, b) in enumerate(zip(model.coefs_, model.intercepts_)):
        last = i == len(model.coefs_) - 1
        if not last and model.activation != "relu":
            raise SystemExit("only relu hidden layers are exported")
        out.append({"W": W.astype(np.float64), "b": b.astype(np.float64),
                    "activation": "softmax" if last else "relu"})
    if model.out_activation_ != "softmax":
        raise SystemExit("MLP output is %s, not softmax" % model.out_activation_)
    return out


# ----------------------------------------------------------------------------- ONNX by hand
def build_onnx(layers, labels, meta):
    """input float [N, F] -> (MatMul W -> Add b -> Relu)* -> MatMul W -> Add b ->
    Softmax -> `probabilities` [N, K]; ArgMax(axis 1) -> `label` int64 [N]. Opset 13."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    n_features = layers[0]["W"].shape[0]
    n_classes = layers[-1]["W"].shape[1]
    nodes, inits = [], []
    cur = "input"
    single = len(layers) == 1
    for i, layer in enumerate(layers):
        w = "coef_T" if single else "W%d" % i
        b = "intercept" if single else "b%d" % i
        inits.append(numpy_helper.from_array(np.ascontiguousarray(layer["W"], dtype=np.float32), w))
        inits.append(numpy_helper.from_array(np.ascontiguousarray(layer["b"], dtype=np.float32), b))
        mm, z = "matmul%d" % i, ("logits" if layer["activation"] == "softmax" else "z%d" % i)
        nodes.append(helper.make_node("MatMul", [cur, w], [mm], name="MatMul%d" % i))
        nodes.append(helper.make_node("Add", [mm, b], [z], name="Add%d" % i))
        if layer["activation"] == "relu":
            cur = "h%d" % i
            nodes.append(helper.make_node("Relu", [z], [cur], name="Relu%d" % i))
        else:
            cur = z
    nodes.append(helper.make_node("Softmax", [cur], ["probabilities"], name="Softmax", axis=1))
    nodes.append(helper.make_node("ArgMax", ["probabilities"], ["label"], name="ArgMax", axis=1, keepdims=0))
    graph = helper.make_graph(
        nodes, "slurm_ml_%s_%s" % (meta["dataset"], meta["model"]),
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", n_features])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", n_classes]),
         helper.make_tensor_value_info("label", TensorProto.INT64, ["N"])],
        initializer=inits,
        doc_string="raw features in (feature scaling is folded into the first layer); "
                   "label is an index into metadata 'labels'",
    )
    model = helper.make_model(graph, producer_name="slurm-ml-sample", producer_version="1",
                              opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8  # onnx 1.12 default; readable by any onnxruntime >= 1.10
    model.model_version = 1
    helper.set_model_props(model, {"labels": json.dumps(labels), **{k: str(v) for k, v in meta.items()}})
    onnx.checker.check_model(model, full_check=True)
    return model.SerializeToString()


def run_onnx_numpy(model_bytes, X):
    """Evaluate the serialized graph node by node in float32 numpy (no onnxruntime
    in Debian): what is checked is exactly what gets written."""
    import numpy as np
    import onnx
    from onnx import numpy_helper

    m = onnx.load_model_from_string(model_bytes)
    onnx.checker.check_model(m)
    env = {t.name: numpy_helper.to_array(t) for t in m.graph.initializer}
    env[m.graph.input[0].name] = np.asarray(X, dtype=np.float32)
    for n in m.graph.node:
        a = {x.name: onnx.helper.get_attribute_value(x) for x in n.attribute}
        i = [env[x] for x in n.input]
        if n.op_type == "MatMul":
            r = i[0] @ i[1]
        elif n.op_type == "Add":
            r = i[0] + i[1]
        elif n.op_type == "Relu":
            r = np.maximum(i[0], np.float32(0))
        elif n.op_type == "Softmax":
            ax = a.get("axis", -1)
            e = np.exp(i[0] - i[0].max(axis=ax, keepdims=True))
            r = e / e.sum(axis=ax, keepdims=True)
        elif n.op_type == "ArgMax":
            r = np.argmax(i[0], axis=a.get("axis", 0))
            if a.get("keepdims", 1):
                r = np.expand_dims(r, a.get("axis", 0))
            r = r.astype(np.int64)
        else:
            raise ValueError("unexpected op " + n.op_type)
        env[n.output[0]] = r
    return {o.name: env[o.name] for o in m.graph.output}


# ----------------------------------------------------------------------------- main
def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--config", help="JSON config (default: $SLURM_ML_CONFIG, else built-in defaults)")
    args = ap.parse_args()
    cfg, cfg_src = read_config(args.config)
    check_config(cfg)
    art_dir, metrics_file = out_paths()
    steps = cfg["progress_steps"]
    log("train.py: config %s: %s" % (cfg_src, json.dumps(cfg, sort_keys=True)))

    import numpy as np
    import sklearn
    from sklearn import datasets
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.metrics import accuracy_score, f1_score, log_loss
    from sklearn.model_selection import train_test_split
    from sklearn.preprocessing import StandardScaler

    loader = {"digits": datasets.load_digits, "iris": datasets.load_iris, "wine": datasets.load_wine}[cfg["dataset"]]
    ds = loader()
    X, y = ds.data.astype(np.float64), ds.target
    labels = [str(t) for t in ds.target_names]
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=cfg["test_size"], random_state=cfg["seed"], stratify=y)
    log("train.py: dataset %s: %d train / %d test rows, %d features, %d classes"
        % (cfg["dataset"], len(X_train), len(X_test), X.shape[1], len(labels)))

    scaler = StandardScaler().fit(X_train)
    A, B = scaler.transform(X_train), scaler.transform(X_test)

    # Train in `steps` chunks (warm start) so progress can be reported between them.
    total = cfg["max_iter"]
    chunk = max(1, math.ceil(total / steps))
    n_steps = math.ceil(total / chunk)
    if cfg["model"] == "logistic":
        from sklearn.linear_model import LogisticRegression
        model = LogisticRegression(C=cfg["C"], max_iter=chunk, warm_start=True, random_state=cfg["seed"])
    else:
        from sklearn.neural_network import MLPClassifier
        model = MLPClassifier(hidden_layer_sizes=(cfg["hidden"],), activation="relu", alpha=cfg["alpha"],
                              max_iter=chunk, warm_start=True, random_state=cfg["seed"],
                              n_iter_no_change=total + 1, tol=0.0)

    log("SLURM_ML_PROGRESS 0/%d" % n_steps)
    t0 = time.perf_counter()
    done_iter, converged = 0, False
    for k in range(1, n_steps + 1):
        model.max_iter = min(chunk, total - done_iter)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(A, y_train)
        if cfg["model"] == "logistic":  # n_iter_ counts this fit only; < max_iter: converged
            it = int(np.max(model.n_iter_))
            done_iter += it
            converged = it < model.max_iter
        else:  # MLP with warm_start: n_iter_ counts all epochs so far
            done_iter = int(model.n_iter_)
        loss = log_loss(y_train, model.predict_proba(A), labels=model.classes_)
        log("step %d/%d: iterations %d, train loss %.5f%s"
            % (k, n_steps, done_iter, loss, " (converged)" if converged else ""))
        if converged:
            break
        log("SLURM_ML_PROGRESS %d/%d" % (k, n_steps))
        if cfg["fail"]:
            print("train.py: error: failing on purpose because the config says \"fail\": true "
                  "(the sample project's failing-training case); exit code 3", file=sys.stderr, flush=True)
            sys.exit(3)
        if cfg["step_delay_s"]:
            time.sleep(cfg["step_delay_s"])
    train_seconds = time.perf_counter() - t0

    proba = model.predict_proba(B)
    pred = model.classes_[np.argmax(proba, axis=1)]
    metrics = {
        "accuracy": float(accuracy_score(y_test, pred)),
        "f1_macro": float(f1_score(y_test, pred, average="macro")),
        "log_loss": float(log_loss(y_test, proba, labels=model.classes_)),
        "train_accuracy": float(accuracy_score(y_train, model.predict(A))),
        "train_seconds": round(train_seconds, 4),
        "n_train": int(len(X_train)),
        "n_test": int(len(X_test)),
        "n_iter": int(done_iter),
    }

    # Export: fold the scaler into the weights, build the graph, check it against sklearn.
    if list(model.classes_) != list(range(len(labels))):
        die("unexpected classes %s" % list(model.classes_), 1)
    layers = fold_scaler(layers_of(model), scaler.mean_, scaler.scale_)
    meta = {"dataset": cfg["dataset"], "model": cfg["model"], "seed": cfg["seed"],
            "test_size": cfg["test_size"], "sklearn_version": sklearn.__version__}
    onnx_bytes = build_onnx(layers, labels, meta)
    out = run_onnx_numpy(onnx_bytes, X_test)
    diff = float(np.max(np.abs(out["probabilities"].astype(np.float64) - proba)))
    agree = float(np.mean(out["label"] == np.argmax(proba, axis=1)))
    log("train.py: ONNX check: max |p_onnx - p_sklearn| = %.2e over %d rows, labels agree %.4f"
        % (diff, len(X_test), agree))
    if not diff < MAX_PROB_DIFF:
        die("ONNX graph does not match the scikit-learn model (max prob diff %.3e >= %g)" % (diff, MAX_PROB_DIFF), 1)
    metrics["onnx_max_prob_diff"] = diff

    os.makedirs(art_dir, exist_ok=True)
    write_bytes(os.path.join(art_dir, "model.onnx"), onnx_bytes)
    model_json = {
        "format": "slurm-ml-sample-mlp/1",
        "description": "softmax(... relu(x @ W0 + b0) ... @ Wn + bn); x = raw features "
                       "(scaling folded in); W is n_in x n_out; output index i means labels[i]",
        "labels": labels,
        "n_features": int(X.shape[1]),
        "layers": [{"activation": l["activation"], "W": l["W"].tolist(), "b": l["b"].tolist()} for l in layers],
        "config": cfg,
        "dataset": cfg["dataset"],
        "model": cfg["model"],
        "scaler": {"mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(), "folded": True},
        "metrics": metrics,
        "sklearn_version": sklearn.__version__,
        "numpy_version": np.__version__,
        "created": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "onnx": {"file": "model.onnx", "opset": 13, "input": "input",
                 "outputs": ["probabilities", "label"]},
    }
    if cfg["model"] == "logistic":  # the raw coefficients, as sklearn holds them (on scaled inputs)
        model_json["coef"] = model.coef_.tolist()
        model_json["intercept"] = model.intercept_.tolist()
    write_json(os.path.join(art_dir, "model.json"), model_json)
    write_json(os.path.join(art_dir, "labels.json"), labels)
    write_json(metrics_file, metrics, indent=2)
    log("SLURM_ML_PROGRESS %d/%d" % (n_steps, n_steps))
    log("train.py: accuracy %.4f, f1_macro %.4f, %d iterations in %.2f s; wrote %s and %s"
        % (metrics["accuracy"], metrics["f1_macro"], done_iter, train_seconds, art_dir, metrics_file))


if __name__ == "__main__":
    main()
