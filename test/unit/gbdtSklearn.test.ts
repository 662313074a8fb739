// Cross-check of the TypeScript quantile GBDT against an independent
// implementation: scikit-learn's HistGradientBoostingRegressor(loss='quantile')
// from Debian's python3-sklearn (/usr/bin/python3), same data, same settings.
// The test set's pinball loss must be within 10 % of scikit-learn's for each quantile.
// Skipped where /usr/bin/python3 cannot import sklearn.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { trainQuantileGbdt, type Dataset } from '../../daemon/runtime/gbdt';
import { seededRandom } from '../../daemon/util/random';

const PYTHON = '/usr/bin/python3';
const QS = [0.1, 0.5, 0.9];

function hasSklearn(): boolean {
  try {
    execFileSync(PYTHON, ['-c', 'import sklearn.ensemble'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/** Runtime-like data: skewed (log-normal-ish) noise, integer and continuous features, a feature missing for 30 % of rows. */
function synth(n: number, seed: number): Dataset {
  const r = seededRandom(seed);
  const d = 8;
  const X = new Float64Array(n * d);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const x = [r(), r(), Math.floor(r() * 64), r() < 0.3 ? NaN : r() * 10, r(), r(), Math.floor(r() * 8), r()];
    X.set(x, i * d);
    const noise = -Math.log(1 - r()) * (0.3 + x[4]); // exponential: right-skewed, spread depends on x4
    y[i] = 3 * x[0] + Math.log1p(x[2]) + (Number.isNaN(x[3]) ? 1.5 : Math.sin(x[3])) + 0.2 * x[6] + noise;
  }
  return { n, d, X, y, featureNames: ['a', 'b', 'cpus', 'maybe', 'spread', 'e', 'queue', 'f'] };
}

function pinball(pred: Float64Array, y: Float64Array, q: number, j: number, alpha: number): number {
  let s = 0;
  for (let i = 0; i < y.length; i++) {
    const r = y[i] - pred[i * q + j];
    s += r >= 0 ? alpha * r : (alpha - 1) * r;
  }
  return s / y.length;
}

const SCRIPT = `
import sys, numpy as np
from sklearn.ensemble import HistGradientBoostingRegressor
dir, d = sys.argv[1], int(sys.argv[2])
X = np.fromfile(dir + '/Xtr.f64').reshape(-1, d); y = np.fromfile(dir + '/ytr.f64')
Xte = np.fromfile(dir + '/Xte.f64').reshape(-1, d)
out = []
for a in [0.1, 0.5, 0.9]:
    m = HistGradientBoostingRegressor(loss='quantile', quantile=a, max_iter=200, max_leaf_nodes=31,
        learning_rate=0.05, min_samples_leaf=20, max_bins=255, l2_regularization=0.0,
        early_stopping=False, random_state=0)
    out.append(m.fit(X, y).predict(Xte))
np.stack(out, axis=1).astype(np.float64).tofile(dir + '/pred.f64')
`;

test('pinball loss is within 10 % of scikit-learn HistGradientBoostingRegressor', { skip: hasSklearn() ? false : 'no sklearn in /usr/bin/python3', timeout: 300_000 }, (t) => {
  const tr = synth(20_000, 11);
  const te = synth(10_000, 12);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'gbdt-sk-'));
  try {
    fs.writeFileSync(path.join(dir, 'Xtr.f64'), tr.X);
    fs.writeFileSync(path.join(dir, 'ytr.f64'), tr.y);
    fs.writeFileSync(path.join(dir, 'Xte.f64'), te.X);
    // One OpenMP thread: the machine may be busy, and oversubscribed threads only slow it down.
    execFileSync(PYTHON, ['-c', SCRIPT, dir, String(tr.d)], { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, OMP_NUM_THREADS: '1' } });
    const sk = new Float64Array(fs.readFileSync(path.join(dir, 'pred.f64')).buffer.slice(0));
    assert.equal(sk.length, te.n * 3);
    const ours = trainQuantileGbdt(tr, { quantiles: QS, trees: 200, maxLeaves: 31, learningRate: 0.05, minSamplesLeaf: 20 }).predict(te.X, te.n);
    QS.forEach((alpha, j) => {
      const a = pinball(ours, te.y, 3, j, alpha);
      const b = pinball(sk, te.y, 3, j, alpha);
      t.diagnostic(`p${alpha * 100}: pinball ours ${a.toFixed(5)}, sklearn ${b.toFixed(5)} (ratio ${(a / b).toFixed(3)})`);
      assert.ok(a <= b * 1.1, `p${alpha * 100}: ${a} vs sklearn ${b}`);
    });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
