// ONNX export of the quantile GBDT (daemon/runtime/onnxExport.ts): the file
// loads in onnxruntime-node, computes what predictCalibrated computes (float32,
// NaN routing, calibration offsets, sorted quantiles), and passes the official
// onnx checker (Debian's python3-onnx; skipped where /usr/bin/python3 lacks it).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as ort from 'onnxruntime-node';
import { trainQuantileGbdt, type Dataset } from '../../daemon/runtime/gbdt';
import { calibrate, predictCalibrated } from '../../daemon/runtime/conformal';
import { exportOnnx } from '../../daemon/runtime/onnxExport';
import { seededRandom } from '../../daemon/util/random';

const PYTHON = '/usr/bin/python3';


/** Log-runtime-sized targets (up to ~12) so float32 rounding is exercised at its real scale; x2 is NaN for 40 % of rows. */
function synth(n: number, seed: number): Dataset {
  const r = seededRandom(seed);
  const d = 6;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = [r() * 1000, Math.floor(r() * 128), r() < 0.4 ? NaN : r(), r(), r() * 1e-3, r()];
    X.set(x, i * d);
    y[i] = 4 + Math.log1p(x[0]) + 0.01 * x[1] + (Number.isNaN(x[2]) ? -1 : x[2]) + 2 * x[3] * r();
  }
  return { n, d, X, y, featureNames: ['limit', 'cpus', 'maybe', 'spread', 'tiny', 'noise'] };
}

async function runOnnx(bytes: Uint8Array, X: Float64Array, n: number, d: number): Promise<{ data: Float32Array; dims: readonly number[] }> {
  const session = await ort.InferenceSession.create(bytes, { intraOpNumThreads: 1 });
  try {
    assert.deepEqual(session.inputNames, ['input']);
    assert.deepEqual(session.outputNames, ['quantiles']);
    const out = await session.run({ input: new ort.Tensor('float32', new Float32Array(X.subarray(0, n * d)), [n, d]) });
    return { data: out.quantiles.data as Float32Array, dims: out.quantiles.dims };
  } finally {
    await session.release();
  }
}

function maxAbsDiff(a: Float32Array, b: Float64Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

const train = synth(8_000, 21);
const cal = synth(3_000, 22);
const fresh = synth(1_000, 23);
// A NaN where training never had one: both sides must route it the same way.
for (let i = 0; i < 50; i++) fresh.X[i * fresh.d] = NaN;
const model = trainQuantileGbdt(train, { quantiles: [0.1, 0.5, 0.9], trees: 200 });
const calibration = calibrate(model, cal, 0.8);

test('onnxruntime gives predictCalibrated within 1e-5 on 1,000 rows (with calibration)', async (t) => {
  const { data, dims } = await runOnnx(exportOnnx(model, calibration), fresh.X, fresh.n, fresh.d);
  assert.deepEqual(dims, [fresh.n, 3]);
  const diff = maxAbsDiff(data, predictCalibrated(model, fresh.X, fresh.n, calibration));
  t.diagnostic(`max |onnx - ts| = ${diff.toExponential(2)}; offsets ${calibration.lower.toFixed(4)} / ${calibration.upper.toFixed(4)}`);
  assert.ok(diff < 1e-5, `max difference ${diff}`);
  assert.ok(calibration.lower !== 0 || calibration.upper !== 0, 'the offsets must be exercised');
});

test('without calibration the file computes the sorted raw predictions', async () => {
  const { data } = await runOnnx(exportOnnx(model), fresh.X, fresh.n, fresh.d);
  assert.ok(maxAbsDiff(data, predictCalibrated(model, fresh.X, fresh.n)) < 1e-5);
});

test('quantiles trained out of order come out in ascending columns', async () => {
  const m = trainQuantileGbdt(train, { quantiles: [0.9, 0.1, 0.5], trees: 20 });
  const { data } = await runOnnx(exportOnnx(m), fresh.X, fresh.n, fresh.d);
  const ts = predictCalibrated(m, fresh.X, fresh.n); // columns in the model's order: 0.9, 0.1, 0.5
  const reordered = new Float64Array(ts.length);
  for (let i = 0; i < fresh.n; i++) reordered.set([ts[i * 3 + 1], ts[i * 3 + 2], ts[i * 3]], i * 3);
  assert.ok(maxAbsDiff(data, reordered) < 1e-5);
});

const hasOnnx = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();

test('the file passes onnx.checker.check_model (full_check)', { skip: hasOnnx ? false : 'no onnx in /usr/bin/python3' }, () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gbdt-onnx-'));
  try {
    const file = path.join(dir, 'model.onnx');
    fs.writeFileSync(file, exportOnnx(model, calibration));
    const out = execFileSync(
      PYTHON,
      [
        '-c',
        'import sys, json, onnx; m = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True); ' +
          'print(json.dumps({p.key: p.value for p in m.metadata_props}))',
        file,
      ],
      { encoding: 'utf8' },
    );
    const meta = JSON.parse(out) as Record<string, string>;
    assert.deepEqual(JSON.parse(meta.feature_names), train.featureNames);
    assert.deepEqual(JSON.parse(meta.quantiles), [0.1, 0.5, 0.9]);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
