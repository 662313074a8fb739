// The sample ML project (test/demo/ml) that the demo and the cluster tests run:
// train.py, predict.py and evaluate.py run here with Debian's /usr/bin/python3
// (python3-sklearn, python3-onnx, python3-numpy; test/cluster/up.sh installs
// them) in a temp dir, and their outputs follow the contract in its README.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const PY = '/usr/bin/python3';
const ML = path.join(__dirname, '..', 'demo', 'ml');
// Rows 0..19 of the held-out split (seed 0, test_size 0.25) are inputs/sample.csv; their true digits:
const SAMPLE_TRUTH = ['2', '0', '4', '9', '4', '1', '2', '4', '6', '7', '9', '1', '8', '0', '9', '8', '2', '9', '7', '7'];
const SCRIPT_BUDGET_MS = 20_000;

let tmp = '';
before(() => {
  tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sample-'));
});
after(() => {
  if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
});

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

let pythonChecked: string | null = null;
/** Fails (never skips) when Debian's python lacks the packages. */
function requirePython(): void {
  if (pythonChecked === 'ok') return;
  if (pythonChecked === null) {
    const r = spawnSync(PY, ['-c', 'import sklearn, onnx, numpy; print(sklearn.__version__, onnx.__version__)'], {
      encoding: 'utf8',
      env: cleanEnv({}),
    });
    pythonChecked =
      r.status === 0
        ? 'ok'
        : `${PY} cannot import sklearn/onnx/numpy (${(r.error?.message ?? r.stderr).trim().split('\n').at(-1)}): ` +
          'run test/cluster/up.sh as root, which installs python3-sklearn python3-onnx python3-numpy';
  }
  if (pythonChecked !== 'ok') assert.fail(pythonChecked);
}

/** The parent's environment without SLURM_ML_* and PYTHON{PATH,HOME} (pyenv), plus `vars`. */
function cleanEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('SLURM_ML_') || k === 'PYTHONPATH' || k === 'PYTHONHOME') continue;
    env[k] = v;
  }
  return { ...env, ...vars };
}

function py(script: string, args: string[], vars: Record<string, string>): Run {
  requirePython();
  const t = Date.now();
  const r = spawnSync(PY, [path.join(ML, script), ...args], {
    encoding: 'utf8',
    cwd: tmp,
    env: cleanEnv(vars),
    timeout: 60_000,
  });
  const run = { status: r.status, stdout: r.stdout, stderr: r.stderr, ms: Date.now() - t };
  assert.ok(run.ms < SCRIPT_BUDGET_MS, `${script} took ${run.ms} ms (budget ${SCRIPT_BUDGET_MS})`);
  return run;
}

function ok(run: Run, what: string): Run {
  assert.equal(run.status, 0, `${what} exited ${run.status}\n--- stdout\n${run.stdout}\n--- stderr\n${run.stderr}`);
  return run;
}

const readJson = (p: string): any => JSON.parse(fs.readFileSync(p, 'utf8'));

function assertNumbers(obj: Record<string, unknown>, keys: string[], what: string): void {
  for (const k of keys) {
    assert.equal(typeof obj[k], 'number', `${what}: ${k} is a number (got ${JSON.stringify(obj[k])})`);
    assert.ok(Number.isFinite(obj[k] as number), `${what}: ${k} is finite`);
  }
  for (const [k, v] of Object.entries(obj)) assert.equal(typeof v, 'number', `${what} is flat numbers: ${k}`);
}

/** SLURM_ML_PROGRESS k/n lines, as [k, n]. */
function progress(stdout: string): [number, number][] {
  return [...stdout.matchAll(/^SLURM_ML_PROGRESS (\d+)\/(\d+)$/gm)].map((m) => [Number(m[1]), Number(m[2])]);
}

interface Trained {
  dir: string;
  artifacts: string;
  metrics: any;
  run: Run;
}
const trainedRuns = new Map<string, Trained>();
function train(config: string): Trained {
  const hit = trainedRuns.get(config);
  if (hit) return hit;
  const dir = path.join(tmp, `train-${config.replace(/\W/g, '_')}`);
  const artifacts = path.join(dir, 'artifacts');
  const metricsFile = path.join(dir, 'metrics.json');
  const run = ok(
    py('train.py', ['--config', path.join(ML, config)], {
      SLURM_ML_RUN_DIR: dir,
      SLURM_ML_ARTIFACT_DIR: artifacts,
      SLURM_ML_METRICS_FILE: metricsFile,
    }),
    `train.py --config ${config}`,
  );
  const t = { dir, artifacts, metrics: readJson(metricsFile), run };
  trainedRuns.set(config, t);
  return t;
}

test('train.py config.json: progress lines, flat numeric metrics, artifacts', () => {
  const { run, metrics, artifacts } = train('config.json');
  const p = progress(run.stdout);
  assert.ok(p.length >= 3, `at least 3 progress lines:\n${run.stdout}`);
  const n = p[0][1];
  assert.ok(p.every(([k, m]) => m === n && k >= 0 && k <= n), 'k/n with one n');
  assert.ok(p.every(([k], i) => i === 0 || k >= p[i - 1][0]), 'progress never goes back');
  assert.deepEqual(p.at(-1), [n, n], 'ends at n/n');

  assertNumbers(metrics, ['accuracy', 'f1_macro', 'train_seconds', 'n_train', 'n_test'], 'metrics.json');
  assert.equal(metrics.n_train + metrics.n_test, 1797, 'all of digits');
  assert.equal(metrics.n_test, 450);
  assert.ok(metrics.accuracy > 0.9 && metrics.accuracy <= 1, `accuracy ${metrics.accuracy}`);
  assert.ok(metrics.f1_macro > 0.9 && metrics.f1_macro <= 1, `f1_macro ${metrics.f1_macro}`);
  assert.ok(metrics.train_seconds >= 0 && metrics.train_seconds < 15);
  assert.ok(metrics.onnx_max_prob_diff < 1e-5, 'train.py checked its graph');

  assert.deepEqual(readJson(path.join(artifacts, 'labels.json')), ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const model = readJson(path.join(artifacts, 'model.json'));
  assert.equal(model.n_features, 64);
  assert.equal(model.layers.length, 1);
  assert.equal(model.layers[0].W.length, 64);
  assert.equal(model.layers[0].W[0].length, 10);
  assert.equal(model.layers[0].b.length, 10);
  assert.equal(model.layers[0].activation, 'softmax');
  assert.equal(model.coef.length, 10, 'logistic: coef is classes x features');
  assert.equal(model.config.seed, 0);
});

test('model.onnx passes onnx.checker (full check) and is MatMul, Add, Softmax, ArgMax at opset 13', () => {
  const { artifacts } = train('config.json');
  const onnxPath = path.join(artifacts, 'model.onnx');
  const code = `
import json, sys, onnx
m = onnx.load(sys.argv[1])
onnx.checker.check_model(m, full_check=True)
dims = lambda v: [d.dim_param or d.dim_value for d in v.type.tensor_type.shape.dim]
print(json.dumps({
  "opset": [o.version for o in m.opset_import if o.domain in ("", "ai.onnx")],
  "ops": [n.op_type for n in m.graph.node],
  "inputs": [[i.name, i.type.tensor_type.elem_type, dims(i)] for i in m.graph.input],
  "outputs": [[o.name, o.type.tensor_type.elem_type, dims(o)] for o in m.graph.output],
  "init": {t.name: list(t.dims) for t in m.graph.initializer},
  "labels": json.loads({p.key: p.value for p in m.metadata_props}["labels"]),
}))`;
  const r = spawnSync(PY, ['-c', code, onnxPath], { encoding: 'utf8', env: cleanEnv({}) });
  assert.equal(r.status, 0, r.stderr);
  const info = JSON.parse(r.stdout);
  assert.deepEqual(info.opset, [13]);
  assert.deepEqual(info.ops, ['MatMul', 'Add', 'Softmax', 'ArgMax']);
  assert.deepEqual(info.inputs, [['input', 1, ['N', 64]]], 'float [N, 64]');
  assert.deepEqual(info.outputs, [
    ['probabilities', 1, ['N', 10]],
    ['label', 7, ['N']],
  ]);
  assert.deepEqual(info.init, { coef_T: [64, 10], intercept: [10] });
  assert.equal(info.labels.length, 10);
});

test('config-better.json is not worse than config.json', () => {
  const base = train('config.json').metrics;
  const better = train('config-better.json').metrics;
  assert.ok(better.accuracy >= base.accuracy, `accuracy ${better.accuracy} >= ${base.accuracy}`);
  assert.ok(better.f1_macro >= base.f1_macro, `f1_macro ${better.f1_macro} >= ${base.f1_macro}`);
});

test('config-fail.json: exit 3 with a clear error, no metrics, no model', () => {
  const dir = path.join(tmp, 'train-fail');
  const run = py('train.py', ['--config', path.join(ML, 'config-fail.json')], {
    SLURM_ML_RUN_DIR: dir,
    SLURM_ML_ARTIFACT_DIR: path.join(dir, 'artifacts'),
    SLURM_ML_METRICS_FILE: path.join(dir, 'metrics.json'),
  });
  assert.equal(run.status, 3, `exit 3\n${run.stdout}\n${run.stderr}`);
  assert.match(run.stderr, /error: .*"fail": true/);
  assert.ok(progress(run.stdout).length >= 1, 'it got going before failing');
  assert.ok(!fs.existsSync(path.join(dir, 'metrics.json')));
  assert.ok(!fs.existsSync(path.join(dir, 'artifacts', 'model.onnx')));
});

test('train.py reads $SLURM_ML_CONFIG when --config is not given', () => {
  const dir = path.join(tmp, 'train-env-config');
  const run = py('train.py', [], {
    SLURM_ML_CONFIG: path.join(ML, 'config-fail.json'),
    SLURM_ML_ARTIFACT_DIR: path.join(dir, 'artifacts'),
    SLURM_ML_METRICS_FILE: path.join(dir, 'metrics.json'),
  });
  assert.equal(run.status, 3, 'the failing config came from the environment');
});

test('predict.py: 20 rows of inputs/sample.csv -> predictions.csv, summary.json, metrics', () => {
  const { artifacts } = train('config.json');
  const out = path.join(tmp, 'predict', 'output');
  const metricsFile = path.join(tmp, 'predict', 'metrics.json');
  const run = ok(
    py('predict.py', [], {
      SLURM_ML_RUN_DIR: path.join(tmp, 'predict'),
      SLURM_ML_MODEL_DIR: artifacts,
      SLURM_ML_INPUT: path.join(ML, 'inputs', 'sample.csv'),
      SLURM_ML_OUTPUT_DIR: out,
      SLURM_ML_METRICS_FILE: metricsFile,
    }),
    'predict.py',
  );
  assert.deepEqual(progress(run.stdout).at(-1), [1, 1]);
  const lines = fs.readFileSync(path.join(out, 'predictions.csv'), 'utf8').trimEnd().split('\n');
  assert.equal(lines[0], 'row,label,probability');
  const rows = lines.slice(1).map((l) => l.split(','));
  assert.equal(rows.length, 20);
  rows.forEach(([row, label, prob], i) => {
    assert.equal(Number(row), i);
    assert.match(label, /^[0-9]$/);
    const p = Number(prob);
    assert.ok(p > 0.1 && p <= 1, `probability ${prob}`); // max of 10 classes >= 0.1
  });
  const right = rows.filter(([, label], i) => label === SAMPLE_TRUTH[i]).length;
  assert.ok(right >= 18, `${right}/20 sample rows predicted right`);

  const summary = readJson(path.join(out, 'summary.json'));
  assert.equal(summary.rows, 20);
  assert.equal(summary.n_features, 64);
  assert.equal(Object.values(summary.label_counts as Record<string, number>).reduce((a, b) => a + b, 0), 20);
  const metrics = readJson(metricsFile);
  assertNumbers(metrics, ['rows', 'seconds'], 'predict metrics');
  assert.equal(metrics.rows, 20);
});

test('predict.py: no model dir, or a CSV of the wrong width, exits 2 with a message', () => {
  const noModel = py('predict.py', [], { SLURM_ML_INPUT: path.join(ML, 'inputs', 'sample.csv') });
  assert.equal(noModel.status, 2);
  assert.match(noModel.stderr, /SLURM_ML_MODEL_DIR/);
  const bad = path.join(tmp, 'bad.csv');
  fs.writeFileSync(bad, '1,2,3\n4,5,6\n');
  const wrong = py('predict.py', [], {
    SLURM_ML_MODEL_DIR: train('config.json').artifacts,
    SLURM_ML_INPUT: bad,
    SLURM_ML_OUTPUT_DIR: path.join(tmp, 'bad-out'),
  });
  assert.equal(wrong.status, 2);
  assert.match(wrong.stderr, /expected 64 feature columns/);
});

const EVAL_KEYS = ['accuracy', 'f1_macro', 'latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms', 'throughput_rows_per_s', 'n'];

test('evaluate.py on digits: the held-out split of training, quality equal to train.py, latency, throughput', () => {
  const trained = train('config.json');
  const metricsFile = path.join(tmp, 'evaluate', 'metrics.json');
  const run = ok(
    py('evaluate.py', [], {
      SLURM_ML_MODEL_DIR: trained.artifacts,
      SLURM_ML_DATASET: 'digits',
      SLURM_ML_METRICS_FILE: metricsFile,
    }),
    'evaluate.py',
  );
  assert.deepEqual(progress(run.stdout).at(-1), [3, 3]);
  const m = readJson(metricsFile);
  assertNumbers(m, EVAL_KEYS, 'evaluate metrics');
  assert.equal(m.n, trained.metrics.n_test);
  assert.ok(Math.abs(m.accuracy - trained.metrics.accuracy) < 1e-9, `accuracy ${m.accuracy} = ${trained.metrics.accuracy}`);
  assert.ok(Math.abs(m.f1_macro - trained.metrics.f1_macro) < 1e-9, `f1_macro ${m.f1_macro} = ${trained.metrics.f1_macro}`);
  assert.ok(m.latency_p50_ms > 0 && m.latency_p50_ms <= m.latency_p95_ms && m.latency_p95_ms <= m.latency_p99_ms);
  assert.ok(m.latency_p99_ms < 100, `p99 ${m.latency_p99_ms} ms`);
  assert.ok(m.throughput_rows_per_s > 1000, `throughput ${m.throughput_rows_per_s}`);
});

test('evaluate.py on a CSV with a label column', () => {
  const csv = fs.readFileSync(path.join(ML, 'inputs', 'sample.csv'), 'utf8').trimEnd().split('\n');
  const labelled = [`${csv[0]},label`, ...csv.slice(1).map((l, i) => `${l},${SAMPLE_TRUTH[i]}`)].join('\n') + '\n';
  const file = path.join(tmp, 'labelled.csv');
  fs.writeFileSync(file, labelled);
  const metricsFile = path.join(tmp, 'evaluate-csv', 'metrics.json');
  ok(
    py('evaluate.py', [], {
      SLURM_ML_MODEL_DIR: train('config.json').artifacts,
      SLURM_ML_DATASET: file,
      SLURM_ML_METRICS_FILE: metricsFile,
    }),
    'evaluate.py on CSV',
  );
  const m = readJson(metricsFile);
  assertNumbers(m, EVAL_KEYS, 'evaluate metrics');
  assert.equal(m.n, 20);
  assert.ok(m.accuracy >= 0.9, `accuracy ${m.accuracy}`);
});
