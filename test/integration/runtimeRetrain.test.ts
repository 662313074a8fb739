// The scheduled runtime retrain on the real cluster: once a runtime model is
// in use, the daemon retrains by itself when enough new jobs finished
// (SLURM_ML_RUNTIME_RETRAIN_AFTER; here 3, so a test can get there), reading
// the accounting after the poller saw jobs end; the new version goes through
// the same gate as `runtime train`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { loadClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import type { GateResult, JobInfo, ModelVersionInfo } from '../../daemon/protocol';
import { ensureFinishedJobs, TEST_RUNTIME_ENV } from '../cluster/history';

const h = new CliHarness({ prefix: 'slurm-ml-retrain-', env: { ...TEST_RUNTIME_ENV, SLURM_ML_RUNTIME_RETRAIN_AFTER: '3' } });

before(async () => {
  await ensureFinishedJobs();
  h.open();
  await h.addLocalCluster(loadClusterEnv());
});

after(() => h.close());

interface ModelView {
  model: { aliases: Record<string, number> };
  versions: ModelVersionInfo[];
  gates: GateResult[];
}

test('after 3 new jobs finished the daemon trains a new runtime version on its own, gated against the one in use', async () => {
  const first = await h.json<{ version: number; promoted: boolean; metrics: Record<string, number> }>(['runtime', 'train', '--cluster', 'local']);
  assert.equal(first.version, 1);
  assert.equal(first.promoted, true);
  // Nothing new has finished: no retrain on its own.
  const before = await h.json<ModelView>(['model', 'runtime-local']);
  assert.deepEqual(before.versions.map((v) => v.version), [1]);
  assert.equal(before.versions[0]!.tags.trigger, 'on demand');
  assert.equal(typeof before.versions[0]!.metrics.jobs_seen, 'number');

  const done = await Promise.all(
    [1, 2, 3].map((i) => h.json<JobInfo>(['submit', h.script(`quick-${i}.sh`, 'sleep 1'), '--cluster', 'local', '--name', `rt-retrain-${process.pid}`, '--wait'])),
  );
  assert.ok(done.every((j) => j.state === 'COMPLETED'));

  // The poller saw them end; within half a minute of the last accounting read the daemon reads it again and retrains.
  const view = await h.until(
    'a second version trained on schedule',
    async () => {
      const m = await h.json<ModelView>(['model', 'runtime-local']);
      return m.versions.some((v) => v.version === 2) ? m : undefined;
    },
    240_000,
    3_000,
  );
  const v2 = view.versions.find((v) => v.version === 2)!;
  assert.equal(v2.tags.trigger, 'scheduled');
  assert.ok(v2.metrics.jobs_seen! >= before.versions[0]!.metrics.jobs_seen! + 3, `v1 saw ${before.versions[0]!.metrics.jobs_seen} jobs, v2 ${v2.metrics.jobs_seen}`);
  for (const k of ['mae_minutes', 'coverage', 'p90_under_rate']) assert.equal(typeof v2.metrics[k], 'number', k);
  // Gated like an on-demand retrain: a gate of v2 against v1, and prod moved only if it passed.
  const gate = view.gates.find((g) => g.candidate === 2);
  assert.ok(gate, 'the gate result is recorded');
  assert.equal(gate.baseline, 1);
  assert.equal(view.model.aliases.prod, gate.pass ? 2 : 1);
});
