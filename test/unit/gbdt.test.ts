// The quantile GBDT trainer (daemon/runtime/gbdt.ts) and its conformal
// calibration (daemon/runtime/conformal.ts) on synthetic data whose true
// quantiles are known: y = f(x) + s(x)·z with z standard normal, so the
// alpha-quantile is f(x) + s(x)·Φ⁻¹(alpha).
// The cross-check against scikit-learn: gbdtSklearn.test.ts; ONNX: onnxExport.test.ts.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { modelFromJSON, trainInWorker, trainQuantileGbdt, type Dataset, type QuantileModel } from '../../daemon/runtime/gbdt';
import { applyCalibration, calibrate, predictCalibrated } from '../../daemon/runtime/conformal';
import { seededRandom } from '../../daemon/util/random';

const Z = { 0.1: -1.2815515655446004, 0.5: 0, 0.9: 1.2815515655446004 } as const;
const QS = [0.1, 0.5, 0.9];


function normal(r: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - r())) * Math.cos(2 * Math.PI * r());
}

/** Features: x0, x1 carry the mean, x2 the spread, x3 is NaN for about half the rows (NaN shifts y by +2, its value carries nothing), x4 is noise. */
function synth(n: number, seed: number): Dataset & { mean: Float64Array; scale: Float64Array } {
  const r = seededRandom(seed);
  const d = 5;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  const mean = new Float64Array(n);
  const scale = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = [r(), r(), r(), r() < 0.5 ? NaN : r(), r()];
    X.set(x, i * d);
    mean[i] = Math.sin(2 * Math.PI * x[0]) + 2 * x[1] + (Number.isNaN(x[3]) ? 2 : 0);
    scale[i] = 0.2 + 0.5 * x[2];
    y[i] = mean[i] + scale[i] * normal(r);
  }
  return { n, d, X, y, featureNames: ['x0', 'x1', 'spread', 'maybeMissing', 'noise'], mean, scale };
}

function coverage(pred: Float64Array, y: Float64Array, q: number, lo: number, hi: number): number {
  let inside = 0;
  for (let i = 0; i < y.length; i++) if (y[i] >= pred[i * q + lo] && y[i] <= pred[i * q + hi]) inside++;
  return inside / y.length;
}

const train = synth(20_000, 1);
const fresh = synth(20_000, 2);
const model = trainQuantileGbdt(train, { quantiles: QS, trees: 150, learningRate: 0.1 });

describe('quantile GBDT on data with known quantiles', () => {
  test('p10/p50/p90 are close to the true conditional quantiles', (t) => {
    const pred = model.predict(fresh.X, fresh.n);
    QS.forEach((alpha, j) => {
      let err = 0;
      for (let i = 0; i < fresh.n; i++) {
        const truth = fresh.mean[i] + fresh.scale[i] * Z[alpha as keyof typeof Z];
        err += Math.abs(pred[i * 3 + j] - truth);
      }
      err /= fresh.n;
      t.diagnostic(`p${alpha * 100}: mean |pred - true quantile| = ${err.toFixed(4)}`);
      // y spans about 6 units and its noise sd is 0.2–0.7; measured 0.07–0.09 (scikit-learn's fit is as close).
      assert.ok(err < 0.12, `p${alpha * 100} mean abs error ${err}`);
    });
    // Each quantile is exceeded by about its share of fresh rows (before calibration, outer quantiles sit ~2 points inward).
    QS.forEach((alpha, j) => {
      let below = 0;
      for (let i = 0; i < fresh.n; i++) if (fresh.y[i] <= pred[i * 3 + j]) below++;
      const share = below / fresh.n;
      t.diagnostic(`share of y ≤ p${alpha * 100}: ${share.toFixed(4)}`);
      assert.ok(Math.abs(share - alpha) < 0.035, `share below p${alpha * 100}: ${share}`);
    });
  });

  test('calibration brings an overfitted interval back to the target coverage', (t) => {
    // Few rows, tiny leaves, many trees: the interval is too narrow on new data.
    const small = synth(3_000, 3);
    const cal = synth(5_000, 4);
    const over = trainQuantileGbdt(small, { quantiles: QS, trees: 300, maxLeaves: 63, minSamplesLeaf: 2, learningRate: 0.2 });
    const raw = coverage(over.predict(fresh.X, fresh.n), fresh.y, 3, 0, 2);
    const c = calibrate(over, cal, 0.8);
    const after = coverage(predictCalibrated(over, fresh.X, fresh.n, c), fresh.y, 3, 0, 2);
    t.diagnostic(`overfitted: raw coverage ${raw.toFixed(4)}, calibrated ${after.toFixed(4)}, offsets ${c.lower.toFixed(4)} / ${c.upper.toFixed(4)}`);
    assert.ok(raw < 0.72, `the setup should under-cover, got ${raw}`);
    assert.ok(c.lower < 0 && c.upper > 0, 'both ends widen');
    assert.ok(Math.abs(after - 0.8) < 0.025, `calibrated coverage ${after}`);
    assert.equal(c.coverage, 0.8);
    assert.equal(c.n, 5_000);
    assert.ok(Math.abs(c.calibratedCoverage! - 0.8) < 0.01);
  });

  test('a well-fitted model keeps about 80 % after calibration, and each end misses about 10 %', (t) => {
    const cal = synth(5_000, 5);
    const c = calibrate(model, cal, 0.8);
    const pred = predictCalibrated(model, fresh.X, fresh.n, c);
    const cov = coverage(pred, fresh.y, 3, 0, 2);
    let above = 0;
    for (let i = 0; i < fresh.n; i++) if (fresh.y[i] > pred[i * 3 + 2]) above++;
    t.diagnostic(`coverage ${cov.toFixed(4)} (raw on cal ${c.rawCoverage?.toFixed(4)}), above p90 ${(above / fresh.n).toFixed(4)}`);
    assert.ok(Math.abs(cov - 0.8) < 0.025, `coverage ${cov}`);
    assert.ok(Math.abs(above / fresh.n - 0.1) < 0.02, `share above the upper bound ${above / fresh.n}`);
  });

  test('the misses can be split unevenly: 82 % coverage with only 8 % above the upper bound', (t) => {
    const cal = synth(5_000, 5);
    const c = calibrate(model, cal, 0.82, 0.08);
    const pred = predictCalibrated(model, fresh.X, fresh.n, c);
    let above = 0;
    let below = 0;
    for (let i = 0; i < fresh.n; i++) {
      if (fresh.y[i] > pred[i * 3 + 2]) above++;
      if (fresh.y[i] < pred[i * 3]) below++;
    }
    t.diagnostic(`above p90 ${(above / fresh.n).toFixed(4)}, below p10 ${(below / fresh.n).toFixed(4)}`);
    assert.ok(Math.abs(above / fresh.n - 0.08) < 0.02, `share above the upper bound ${above / fresh.n}`);
    assert.ok(Math.abs(below / fresh.n - 0.1) < 0.02, `share below the lower bound ${below / fresh.n}`);
    assert.throws(() => calibrate(model, cal, 0.8, 0.2), /upperMisses/);
  });

  test('applyCalibration orders crossing quantiles and leaves the input alone', () => {
    const pred = Float64Array.of(3, 2, 1, 0, 1, 2);
    const out = applyCalibration(pred, 2, QS, { lower: 0.5, upper: -0.5, coverage: 0.8 });
    // Row 1: 3.5, 2, 0.5 after the offsets, then sorted.
    assert.deepEqual(Array.from(out), [0.5, 2, 3.5, 0.5, 1, 1.5]);
    assert.deepEqual(Array.from(pred), [3, 2, 1, 0, 1, 2]);
    // Columns follow the model's quantile order even when that is not ascending.
    const mixed = applyCalibration(Float64Array.of(1, 5, 3), 1, [0.9, 0.1, 0.5]);
    assert.deepEqual(Array.from(mixed), [5, 1, 3]);
  });
});

describe('missing values', () => {
  test('NaN-ness that carries signal is learned (y is 2 higher where x3 is NaN)', (t) => {
    const rows = 1_000;
    const withNaN = Float64Array.from(fresh.X.subarray(0, rows * 5));
    const withValue = Float64Array.from(withNaN);
    for (let i = 0; i < rows; i++) {
      withNaN[i * 5 + 3] = NaN;
      withValue[i * 5 + 3] = 0.5;
    }
    const a = model.predict(withNaN, rows);
    const b = model.predict(withValue, rows);
    let diff = 0;
    for (let i = 0; i < rows; i++) diff += a[i * 3 + 1] - b[i * 3 + 1];
    diff /= rows;
    t.diagnostic(`mean p50 shift NaN vs present: ${diff.toFixed(4)} (true 2)`);
    assert.ok(Math.abs(diff - 2) < 0.15, `shift ${diff}`);
  });

  test('NaN in a feature that had none in training still gives finite predictions', () => {
    const X = Float64Array.from(fresh.X.subarray(0, 500));
    for (let i = 0; i < 100; i++) {
      X[i * 5] = NaN;
      X[i * 5 + 1] = NaN;
    }
    for (const v of model.predict(X, 100)) assert.ok(Number.isFinite(v));
  });
});

describe('determinism and persistence', () => {
  const small = synth(5_000, 6);
  const opts = { quantiles: QS, trees: 40, subsample: 0.7, seed: 7 };
  const bytes = (m: QuantileModel) => Buffer.from(m.predict(fresh.X, 2_000).buffer);

  test('the same seed gives bit-identical predictions; another seed does not', () => {
    const a = trainQuantileGbdt(small, opts);
    const b = trainQuantileGbdt(small, opts);
    assert.ok(bytes(a).equals(bytes(b)));
    const c = trainQuantileGbdt(small, { ...opts, seed: 8 });
    assert.ok(!bytes(a).equals(bytes(c)), 'the seed must drive the subsampling');
  });

  test('toJSON → JSON text → modelFromJSON predicts the same', () => {
    const a = trainQuantileGbdt(small, opts);
    const b = modelFromJSON(JSON.parse(JSON.stringify(a.toJSON())));
    assert.deepEqual(b.featureNames, small.featureNames);
    assert.deepEqual(b.quantiles, QS);
    assert.ok(bytes(a).equals(bytes(b)));
  });

  test('modelFromJSON rejects what is not a model, and trees that loop', () => {
    assert.throws(() => modelFromJSON({ format: 'x' }), /not a quantile GBDT model/);
    const json = trainQuantileGbdt(small, { ...opts, trees: 1 }).toJSON() as {
      ensembles: Array<{ trees: Array<{ left: number[] }> }>;
    };
    json.ensembles[0].trees[0].left[1] = 0;
    assert.throws(() => modelFromJSON(json), /bad child index/);
  });

  test('bad input is refused with a message', () => {
    assert.throws(() => trainQuantileGbdt({ ...small, n: 10 }, opts), /X has/);
    assert.throws(() => trainQuantileGbdt(small, { ...opts, quantiles: [1.5] }), /quantiles/);
    assert.throws(() => trainQuantileGbdt(small, { ...opts, bins: 256 }), /bins/);
    const y = Float64Array.from(small.y);
    y[3] = NaN;
    assert.throws(() => trainQuantileGbdt({ ...small, y }, opts), /y\[3\]/);
    const X = Float64Array.from(small.X);
    X[7] = 1e39; // beyond float32
    assert.throws(() => trainQuantileGbdt({ ...small, X }, opts), /X\[1\]\[2\] is infinite/);
  });
});

describe('trainInWorker', () => {
  test('trains off the main thread, to the same model as the synchronous call', { timeout: 120_000 }, async () => {
    const data = synth(30_000, 9);
    const o = { quantiles: QS, trees: 60, subsample: 0.8, seed: 3 };
    const expected = trainQuantileGbdt(synth(30_000, 9), o).predict(fresh.X, 2_000);
    let ticks = 0;
    const timer = setInterval(() => ticks++, 5);
    const m = await trainInWorker(data, o);
    clearInterval(timer);
    // The event loop ran while the worker trained.
    assert.ok(ticks > 0, 'main loop was blocked');
    // X and y went to the worker, not a copy.
    assert.equal(data.X.length, 0);
    assert.ok(Buffer.from(m.predict(fresh.X, 2_000).buffer).equals(Buffer.from(expected.buffer)));
  });

  test('a training error comes back as a rejection', { timeout: 60_000 }, async () => {
    const data = synth(100, 10);
    await assert.rejects(trainInWorker(data, { quantiles: [0.5], bins: 999 }), /gbdt training failed: bins/);
  });
});
