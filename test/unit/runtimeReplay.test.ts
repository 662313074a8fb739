// Evaluation by replay on a 2,000-job sample of KTH-SP2: each model is
// trained only on jobs that ended before the first job it predicts; the
// interval is calibrated; the report is stable.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { trainQuantileGbdt } from '../../daemon/runtime/gbdt';
import { FEATURE_COUNT } from '../../daemon/runtime/features';
import { calibrate } from '../../daemon/runtime/conformal';
import { QUANTILES, accuracyPoint, replay, replayFeatures } from '../../daemon/runtime/replay';
import type { Dataset, QuantileModel, TrainOptions } from '../../daemon/runtime/replay';
import { readTrace } from '../../daemon/runtime/traces';
import { evaluationReport, formatReport } from '../../daemon/cli/runtime';

const KTH = path.join(__dirname, '..', 'fixtures', 'traces', 'KTH-SP2-first2000.swf.gz');

/** Stand-in trainer: each quantile of y, whatever the features. */
function constantQuantiles(data: Dataset, opts: TrainOptions): QuantileModel {
  const sorted = Float64Array.from(data.y).sort();
  const values = opts.quantiles.map((q) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] as number);
  return {
    featureNames: data.featureNames,
    quantiles: opts.quantiles,
    predict: (_X, n) => {
      const out = new Float64Array(n * values.length);
      for (let r = 0; r < n; r++) out.set(values, r * values.length);
      return out;
    },
    toJSON: () => ({ values }),
  };
}

test('each model trains on jobs that had ended before its first prediction, never later ones', async () => {
  const t = await readTrace(KTH);
  // Runtimes made unique (by under a millisecond) so that a training target names its job.
  t.jobs = t.jobs.map((j, i) => ({ ...j, runtime: j.runtime + i * 1e-7, end: j.start + j.runtime + i * 1e-7 }));
  const f = replayFeatures(t.jobs, t.info.utcOffsetSeconds);
  assert.equal(new Set(f.jobs.map((j) => j.runtime)).size, f.jobs.length);
  const endOf = new Map(f.jobs.map((j) => [Math.log(j.runtime), j.end]));
  const seen: { n: number; maxEnd: number }[] = [];
  const r = await replay(t.jobs, {
    train: (data, opts) => {
      let maxEnd = -Infinity;
      for (const y of data.y) maxEnd = Math.max(maxEnd, endOf.get(y) ?? Infinity);
      seen.push({ n: data.n, maxEnd });
      assert.equal(data.d, FEATURE_COUNT);
      assert.equal(data.X.length, data.n * data.d);
      return constantQuantiles(data, opts);
    },
    calibrate,
    retrainEvery: 400,
    minTrain: 200,
    concurrency: 1,
    utcOffsetSeconds: t.info.utcOffsetSeconds,
  });
  assert.equal(r.segments.length, seen.length);
  assert.ok(r.segments.length >= 4);
  for (const [k, s] of r.segments.entries()) {
    const firstSubmit = (r.jobs[s.from] as (typeof r.jobs)[number]).submit;
    assert.equal(s.trainRows + s.calibrationRows, f.endedBefore[s.from]);
    assert.ok((seen[k] as { maxEnd: number }).maxEnd < firstSubmit, `segment ${k} trained on a job that ended after ${firstSubmit}`);
    assert.ok(s.calibration !== null);
  }
  // Before the first model: last-2 (and no interval).
  const first = (r.segments[0] as { from: number }).from;
  assert.ok(first > 0);
  for (let i = 0; i < first; i++) {
    assert.equal(r.modelled[i], 0);
    assert.equal(r.p50[i], r.lastTwo[i]);
  }
  for (let i = first; i < r.jobs.length; i++) {
    assert.equal(r.modelled[i], 1);
    assert.ok((r.p10[i] as number) <= (r.p50[i] as number) && (r.p50[i] as number) <= (r.p90[i] as number));
  }
  assert.equal(r.metrics.jobs, 2000);
  assert.equal(r.metrics.modelledJobs, 2000 - first);
});

test('with the real trainer the sample beats the requested time, and the interval is calibrated', async () => {
  const t = await readTrace(KTH);
  const r = await replay(t.jobs, {
    train: trainQuantileGbdt,
    calibrate,
    retrainEvery: 500,
    trainOptions: { trees: 40 },
    utcOffsetSeconds: t.info.utcOffsetSeconds,
  });
  const m = r.metrics;
  assert.deepEqual(QUANTILES, [0.1, 0.5, 0.9]);
  assert.ok(m.model.accuracy > m.requested.accuracy, `${m.model.accuracy} vs requested ${m.requested.accuracy}`);
  assert.ok(m.interval.coverage > 0.6 && m.interval.coverage < 0.95, `coverage ${m.interval.coverage}`);
  assert.ok(m.interval.upperUnderRate < 0.25, `above p90 ${m.interval.upperUnderRate}`);
  const report = evaluationReport('KTH-SP2-first2000.swf.gz', t.info, r, 1);
  assert.deepEqual(
    report.predictors.map((p) => p.name),
    ['model p50', 'requested limit', 'last-2 per user', 'last-2 (notes: last 2 submitted, leaks)'],
  );
  assert.deepEqual(report.goals.map((g) => g.name), ['accuracy', 'mae', 'p90_under', 'coverage_p10_p90']);
  assert.deepEqual(Object.keys(report), ['trace', 'settings', 'jobs', 'modelledJobs', 'predictors', 'interval', 'goals', 'segments', 'seconds']);
  const text = formatReport(report);
  assert.match(text, /goals:\n  [✓✗] accuracy/);
  assert.match(text, /acknowledge: Lars Malinowsky/);
});

test('`slurm-ml runtime evaluate` on a sample: JSON, usage errors, --check', async () => {
  const { runtimeCommand } = await import('../../daemon/cli/runtime');
  const lanl = path.join(__dirname, '..', 'fixtures', 'traces', 'LANL-CM5-first2000.swf');
  const out: string[] = [];
  const write = process.stdout.write;
  // Only the command's own JSON; the test runner writes to stdout too.
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('{')) {
      out.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  let code: number;
  let checked: number;
  try {
    code = await runtimeCommand(['evaluate', '--trace', lanl, '--trees', '10', '--retrain-every', '500', '--json']);
    checked = await runtimeCommand(['evaluate', '--trace', lanl, '--limit', '600', '--trees', '5', '--check', '--json']);
  } finally {
    process.stdout.write = write;
  }
  assert.equal(code, 0);
  const report = JSON.parse(out[0] as string);
  assert.equal(report.trace.format, 'swf');
  assert.equal(report.jobs, 1897);
  assert.deepEqual(report.trace.skipped, { 'requested<=0': 103 });
  assert.equal(report.predictors[1].metrics.n, 1897);
  assert.equal(report.predictors[0].name, 'model (accuracy point)');
  // The models' median, listed for reference beside the point the goals judge.
  assert.equal(report.predictors.at(-1).name, 'model p50 (reference)');
  assert.equal(report.predictors.at(-1).metrics.n, 1897);
  assert.deepEqual(report.settings, { point: 'accuracy', calibrationTarget: 0.82, calibrationUpperMisses: 0.08, retrainEvery: 500, window: 40000, trees: 10, maxLeaves: 15, minSamplesLeaf: 50 });
  const second = JSON.parse(out[1] as string);
  assert.equal(checked, second.goals.every((g: { ok: boolean }) => g.ok) ? 0 : 1);
  await assert.rejects(runtimeCommand(['evaluate']), /missing --trace/);
  await assert.rejects(runtimeCommand(['evaluate', '--trace', lanl, '--format', 'csv']), /--format/);
  await assert.rejects(runtimeCommand(['frobnicate']), /unknown runtime command/);
});

test('the accuracy point: the median of a symmetric distribution, toward the dense side of a skewed one, never past the median by shrink 0', () => {
  const at = (deciles: number[], shrink?: number) => accuracyPoint(Float64Array.from(deciles), 0, [0, 1, 2, 3, 4, 5, 6, 7, 8], shrink);
  const symmetric = [6, 6.5, 7, 7.5, 8, 8.5, 9, 9.5, 10];
  assert.ok(Math.abs(at(symmetric) - 8) < 1e-9);
  // Most of the mass just below the median, a long tail above (log seconds): a job that usually
  // takes ~20 minutes but sometimes hours. The best-accuracy point sits in the dense part.
  const skewed = [6.9, 7.0, 7.05, 7.1, 7.15, 7.6, 8.3, 9.0, 10.0];
  const p = at(skewed);
  assert.ok(p < 7.15 && p >= 6.9, `point ${p}`);
  assert.equal(at(skewed, 0), 7.15);
  assert.ok(Math.abs(at(skewed, 0.5) - (7.15 + 0.5 * (at(skewed, 1) - 7.15))) < 1e-12);
  // Deciles that cross (separately trained ensembles) are read sorted.
  assert.equal(at([7.0, 6.9, 7.1, 7.05, 7.15, 7.6, 9.0, 8.3, 10.0]), p);
});
