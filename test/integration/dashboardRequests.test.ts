// The daemon requests the dashboard adds, against the real cluster over real
// SSH through the built daemon: the partitions and node states from sinfo, and
// predicted against actual runtime for the cluster's finished jobs.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connectToRunningDaemon, type ConnectedDaemon } from '../../daemon/client';
import { ClustersPartitions, ErrorCode, RuntimeAccuracy } from '../../daemon/protocol';
import { statePaths } from '../../daemon/state';
import { loadClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import { ensureFinishedJobs, TEST_MIN_TRAINING_JOBS, TEST_RUNTIME_ENV } from '../cluster/history';

const h = new CliHarness({ prefix: 'slurm-ml-dash-', env: TEST_RUNTIME_ENV });
let d: ConnectedDaemon;

before(async () => {
  const env = loadClusterEnv();
  // runtime/accuracy trains a model on the cluster's finished jobs: make sure there are some.
  await ensureFinishedJobs();
  h.open();
  await h.addLocalCluster(env);
  const c = await connectToRunningDaemon({ paths: statePaths(h.env()), clientName: 'dashboard-test' });
  assert.ok(c, 'the CLI left its daemon running');
  d = c;
});

after(async () => {
  d?.rpc.close('done');
  await h.close();
});

test('clusters/partitions: every partition sinfo lists, with its node and CPU states', async () => {
  const r = await d.rpc.request(ClustersPartitions, { name: 'local' }, { timeoutMs: 60_000 });
  assert.equal(r.cluster, 'local');
  // What sinfo itself says on the cluster's host (the test cluster runs here).
  const names = execFileSync('sinfo', ['--noheader', '--format=%R'], { encoding: 'utf8' }).split('\n').map((l) => l.trim()).filter(Boolean);
  assert.deepEqual(r.partitions.map((p) => p.name).sort(), [...new Set(names)].sort());
  assert.equal(r.partitions.filter((p) => p.isDefault).length, 1, 'one default partition');
  for (const p of r.partitions) {
    assert.ok(p.nodes >= 1, `${p.name} has nodes`);
    const n = p.nodesByState!;
    assert.equal(n.allocated + n.idle + n.other, n.total, `${p.name}: node states add up`);
    assert.ok(p.cpusByState!.total >= p.nodes);
  }
  await assert.rejects(d.rpc.request(ClustersPartitions, { name: 'nowhere' }), (e: { code?: number }) => e.code === ErrorCode.NotFound);
});

test('runtime/accuracy: the model in use against the actual runtimes of finished jobs, and the baselines', async () => {
  const before = await d.rpc.request(RuntimeAccuracy, { cluster: 'local' }, { timeoutMs: 120_000 });
  if (before.modelVersion === null) assert.deepEqual(before.jobs, [], 'no model: nothing predicted');
  // Train one on the cluster's accounting (ensureFinishedJobs made sure it has jobs).
  await h.json(['runtime', 'train', '--cluster', 'local'], 0);
  const r = await d.rpc.request(RuntimeAccuracy, { cluster: 'local', limit: 50 }, { timeoutMs: 120_000 });
  assert.ok(r.modelVersion! >= 1);
  assert.ok(r.totalJobs >= TEST_MIN_TRAINING_JOBS, `${r.totalJobs} jobs in the stored accounting`);
  assert.equal(r.jobs.length, 50);
  for (let i = 1; i < r.jobs.length; i++) assert.ok(r.jobs[i - 1]!.submitTime <= r.jobs[i]!.submitTime, 'oldest first');
  for (const j of r.jobs) {
    assert.ok(j.actualSeconds > 0 && j.p10 <= j.p50 && j.p50 <= j.p90, JSON.stringify(j));
    assert.ok(Date.parse(j.endTime) >= Date.parse(j.submitTime));
  }
  // The newest 15 % were never trained on: the newest job is measured.
  assert.equal(r.jobs.at(-1)!.seenInTraining, false);
  const fresh = r.jobs.filter((j) => !j.seenInTraining).length;
  assert.equal(r.metrics.model!.n, fresh);
  assert.equal(r.metrics.lastTwo!.n, fresh);
  assert.equal(typeof r.metrics.requested!.mae_minutes, 'number');
});
