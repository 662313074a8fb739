// Serving runtime models with onnxruntime-node in a worker thread
// (daemon/runtime/serve.ts): on real trace rows (KTH-SP2, Parallel Workloads
// Archive) the served ONNX file gives the quantiles the TypeScript trees give,
// whether a request runs in the worker or (a few rows) in this thread, and a
// large batch goes in chunks, so a request asked meanwhile does not wait for
// the whole batch.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { calibrate, predictCalibrated } from '../../daemon/runtime/conformal';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../daemon/runtime/features';
import { trainQuantileGbdt, type Dataset } from '../../daemon/runtime/gbdt';
import { exportOnnx } from '../../daemon/runtime/onnxExport';
import { replayFeatures } from '../../daemon/runtime/replay';
import { CHUNK_ROWS, IN_THREAD_ROWS, RuntimePredictor } from '../../daemon/runtime/serve';
import { readTrace } from '../../daemon/runtime/traces';
import { createLogger } from '../../daemon/log';

const KTH = '/work/shared/data/traces/KTH-SP2-1996-2.1-cln.swf.gz';
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-serve-'));
const predictor = new RuntimePredictor(createLogger({ level: 'warn', write() {} }));
after(async () => {
  await predictor.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function realRows(): Promise<{ train: Dataset; cal: Dataset; fresh: Dataset }> {
  const trace = await readTrace(KTH, { limit: 9_000 });
  const f = replayFeatures(trace.jobs, trace.info.utcOffsetSeconds);
  const slice = (from: number, to: number): Dataset => ({
    n: to - from,
    d: FEATURE_COUNT,
    X: f.X.slice(from * FEATURE_COUNT, to * FEATURE_COUNT),
    y: Float64Array.from(f.jobs.slice(from, to), (j) => Math.log(j.runtime)),
    featureNames: [...FEATURE_NAMES],
  });
  return { train: slice(0, 5_000), cal: slice(5_000, 6_500), fresh: slice(6_500, f.jobs.length) };
}

test('on real trace rows the served ONNX model gives the quantiles the TypeScript trees give', { skip: fs.existsSync(KTH) ? false : `no ${KTH}` }, async () => {
  const { train, cal, fresh } = await realRows();
  const model = trainQuantileGbdt(train, { quantiles: [0.1, 0.5, 0.9], trees: 80, seed: 3 });
  const calibration = calibrate(model, cal, 0.8);
  const file = path.join(dir, 'model.onnx');
  fs.writeFileSync(file, exportOnnx(model, calibration));
  const served = await predictor.load(file);
  assert.deepEqual({ features: served.features, quantiles: served.quantiles }, { features: FEATURE_COUNT, quantiles: 3 });
  // Real rows have missing values (NaN history features for first-time users): both must route them alike.
  let missing = 0;
  for (let i = 0; i < fresh.n * FEATURE_COUNT; i++) if (Number.isNaN(fresh.X[i])) missing++;
  assert.ok(missing > 0, 'the rows exercise missing values');
  const onnx = await predictor.predict(served, fresh.X, fresh.n);
  const ts = predictCalibrated(model, fresh.X, fresh.n, calibration);
  assert.equal(onnx.length, ts.length);
  let worst = 0;
  for (let i = 0; i < ts.length; i++) worst = Math.max(worst, Math.abs(onnx[i]! - ts[i]!));
  // Log runtime; float32 output: 1e-4 is a runtime within 0.01 %.
  assert.ok(worst < 1e-4, `max |ONNX − TS| on ${fresh.n} rows: ${worst}`);
  for (let i = 0; i < fresh.n; i++) assert.ok(onnx[i * 3]! <= onnx[i * 3 + 1]! && onnx[i * 3 + 1]! <= onnx[i * 3 + 2]!, `row ${i} ascending`);
  // A few rows (an estimate while editing) run on a session in this thread: the same numbers.
  for (const rows of [1, IN_THREAD_ROWS]) {
    const small = await predictor.predict(served, fresh.X.subarray(0, rows * FEATURE_COUNT), rows);
    assert.equal(small.length, rows * 3);
    for (let i = 0; i < rows * 3; i++) assert.ok(Math.abs(small[i]! - ts[i]!) < 1e-4, `${rows} rows, value ${i}: ${small[i]} vs ${ts[i]}`);
  }
});

test('a batch larger than a chunk is answered in full, and a smaller batch asked meanwhile comes back before it', { skip: fs.existsSync(KTH) ? false : `no ${KTH}` }, async () => {
  const { train } = await realRows();
  const model = trainQuantileGbdt(train, { quantiles: [0.1, 0.5, 0.9], trees: 40, seed: 4 });
  const file = path.join(dir, 'batch.onnx');
  fs.writeFileSync(file, exportOnnx(model));
  const served = await predictor.load(file);
  const n = 3 * CHUNK_ROWS + 17;
  const X = new Float64Array(n * FEATURE_COUNT);
  for (let i = 0; i < n; i++) X.set(train.X.subarray((i % train.n) * FEATURE_COUNT, (i % train.n + 1) * FEATURE_COUNT), i * FEATURE_COUNT);
  const order: string[] = [];
  const batch = predictor.predict(served, X, n).then((r) => (order.push('batch'), r));
  // Too many rows for this thread: it goes to the worker too, between two chunks of the batch.
  const m = IN_THREAD_ROWS + 1;
  const one = predictor.predict(served, train.X.subarray(0, m * FEATURE_COUNT), m).then((r) => (order.push('small'), r));
  const [all, single] = await Promise.all([batch, one]);
  assert.deepEqual(order, ['small', 'batch']);
  assert.equal(all.length, n * 3);
  // The last row (in the last, partial chunk) is the same job as row (n-1) % train.n.
  const ref = predictCalibrated(model, train.X, train.n);
  const last = (n - 1) % train.n;
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(all[(n - 1) * 3 + j]! - ref[last * 3 + j]!) < 1e-4);
  for (let j = 0; j < 3; j++) assert.ok(Math.abs(single[j]! - ref[j]!) < 1e-4);
});

test('a file that is not a runtime model is refused with a clear error', async () => {
  const file = path.join(dir, 'not-a-model.onnx');
  fs.writeFileSync(file, 'this is not ONNX');
  await assert.rejects(predictor.load(file), /onnxruntime/);
});
