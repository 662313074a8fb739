// Predicted against actual for the dashboard (daemon/runtime/accuracy.ts): a
// model trained on the older jobs of a synthetic cluster whose two job names
// take 1 and 10 minutes predicts the newer ones as it would have at their
// submission, marks what it trained on, and beats asking for an hour.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { runtimeAccuracy } from '../../daemon/runtime/accuracy';
import { calibrate } from '../../daemon/runtime/conformal';
import { FEATURE_COUNT, FEATURE_NAMES } from '../../daemon/runtime/features';
import { trainQuantileGbdt, type Dataset } from '../../daemon/runtime/gbdt';
import { replayFeatures } from '../../daemon/runtime/replay';
import type { JobRecord } from '../../daemon/runtime/traces';
import { seededRandom } from '../../daemon/util/random';

function jobs(n: number): JobRecord[] {
  const rnd = seededRandom(7);
  const out: JobRecord[] = [];
  for (let i = 0; i < n; i++) {
    const long = i % 2 === 1;
    const runtime = Math.round((long ? 600 : 60) * (0.9 + 0.2 * rnd()));
    const submit = 1_700_000_000 + i * 120;
    out.push({
      id: String(1000 + i),
      user: 'alice',
      jobName: long ? 'train' : 'prep',
      submit,
      start: submit,
      end: submit + runtime,
      runtime,
      requestedTime: 3600,
      cpus: long ? 8 : 1,
      nodes: 1,
      memMB: null,
      gpus: null,
      partition: 'debug',
      qos: null,
      account: null,
      state: 'COMPLETED',
      exit: 0,
    });
  }
  return out;
}

test('runtimeAccuracy: the newest jobs oldest first, what training saw marked, model and baselines measured on the rest', () => {
  const all = jobs(600);
  // Trained as RuntimeService.train does: on what accounting had (jobs ended) at training time.
  const trainedAt = (all[399]!.end + 1) * 1000;
  const known = all.filter((j) => j.end * 1000 < trainedAt);
  const seen = Math.floor(known.length * 0.85);
  const f = replayFeatures(known);
  const y = Float64Array.from(f.jobs, (j) => Math.log(j.runtime));
  const slice = (a: number, b: number): Dataset => ({ n: b - a, d: FEATURE_COUNT, X: f.X.slice(a * FEATURE_COUNT, b * FEATURE_COUNT), y: y.slice(a, b), featureNames: [...FEATURE_NAMES] });
  const model = trainQuantileGbdt(slice(0, Math.floor(known.length * 0.7)), { quantiles: [0.1, 0.5, 0.9], seed: 1, trees: 40 });
  const calibration = calibrate(model, slice(Math.floor(known.length * 0.7), seen), 0.8);

  const r = runtimeAccuracy(all, { model, calibration, trainedAt }, 300);
  assert.equal(r.jobs.length, 300);
  assert.equal(r.jobs[0]!.slurmJobId, '1300', 'the newest 300, oldest first');
  assert.equal(r.jobs.at(-1)!.slurmJobId, '1599');
  // The oldest 85 % of the known jobs (by submission) were seen: ids 1000 .. 1000 + seen - 1.
  assert.ok(seen > 300 && seen < 400);
  assert.deepEqual(
    r.jobs.filter((j) => j.seenInTraining).map((j) => j.slurmJobId),
    Array.from({ length: seen - 300 }, (_, k) => String(1300 + k)),
  );
  for (const j of r.jobs) assert.ok(j.p10 <= j.p50 && j.p50 <= j.p90, `${j.slurmJobId}: ${j.p10} ≤ ${j.p50} ≤ ${j.p90}`);
  const m = r.metrics.model!;
  assert.equal(m.n, 600 - seen, 'metrics only over jobs the model did not see');
  assert.equal(r.metrics.requested!.n, 600 - seen);
  assert.ok(m.mae_minutes! < r.metrics.requested!.mae_minutes! / 5, `model MAE ${m.mae_minutes} min vs requested ${r.metrics.requested!.mae_minutes} min`);
  assert.ok(m.coverage! > 0.5, `coverage ${m.coverage}`);
  const longOnes = r.jobs.filter((j) => j.name === 'train' && !j.seenInTraining);
  assert.ok(longOnes.every((j) => j.p50 > 300), 'the 10-minute job is predicted as long');
});

test('runtimeAccuracy: a limit larger than the history returns every job', () => {
  const all = jobs(300);
  const f = replayFeatures(all);
  const y = Float64Array.from(f.jobs, (j) => Math.log(j.runtime));
  const data: Dataset = { n: 300, d: FEATURE_COUNT, X: f.X, y, featureNames: [...FEATURE_NAMES] };
  const model = trainQuantileGbdt(data, { quantiles: [0.1, 0.5, 0.9], seed: 1, trees: 10 });
  const r = runtimeAccuracy(all, { model, calibration: calibrate(model, data, 0.8), trainedAt: Date.now() }, 10_000);
  assert.equal(r.jobs.length, 300);
  assert.equal(r.jobs.filter((j) => !j.seenInTraining).length, 300 - Math.floor(300 * 0.85));
});
