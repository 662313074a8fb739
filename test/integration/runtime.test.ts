// Runtime estimates on the real cluster: finished jobs are read from its
// accounting, and `slurm-ml estimate` uses them for a script before it is
// submitted, with the expected start from `sbatch --test-only`.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import type { JobInfo, RuntimeEstimate, RuntimeModelInfo } from '../../daemon/protocol';
import { ensureFinishedJobs, TEST_MIN_TRAINING_JOBS, TEST_RUNTIME_ENV } from '../cluster/history';

const h = new CliHarness({ prefix: 'slurm-ml-runtime-', env: TEST_RUNTIME_ENV });
let env: ClusterEnv;
const name = `rt-estimate-${process.pid}`;

before(async () => {
  env = loadClusterEnv();
  // `runtime train` below needs a history of finished jobs, which a fresh cluster lacks.
  await ensureFinishedJobs();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

test('estimates come from the same job\'s last runs, with warnings about the limit and the expected start', async () => {
  // Two runs of the same job, 3 s and 7 s.
  const runs = await Promise.all(
    [3, 7].map((s) => h.json<JobInfo>(['submit', h.script(`run-${s}.sh`, `sleep ${s}`), '--cluster', 'local', '--name', name, '--wait'])),
  );
  assert.ok(runs.every((j) => j.state === 'COMPLETED'));
  // Accounting has both with their end times before the first estimate reads it.
  await h.until('sacct has both runs', () => {
    const out = execFileSync('sacct', ['--noheader', '--parsable2', '-a', `--name=${name}`, '-X', '--format=JobID,End', '-S', 'now-1hour'], { encoding: 'utf8' });
    return out.split('\n').filter((l) => /\|\d{4}-/.test(l)).length >= 2 ? true : undefined;
  });
  const script = h.script('next.sh', `#SBATCH --job-name=${name}\n#SBATCH --partition=long\n#SBATCH --time=30\nsleep 5`);
  const e = await h.json<RuntimeEstimate>(['estimate', script, '--cluster', 'local', '--start']);
  assert.equal(e.source, 'history');
  assert.equal(e.timeLimitSeconds, 1800);
  // Elapsed is counted in whole seconds and sleeps take a little longer than asked.
  assert.ok(e.p10! >= 3 && e.p10! <= 5, `p10 ${e.p10}`);
  assert.ok(e.p90! >= 7 && e.p90! <= 9, `p90 ${e.p90}`);
  assert.equal(e.p50, (e.p10! + e.p90!) / 2);
  assert.deepEqual(e.warnings.map((w) => w.kind), ['over-request'], 'half an hour for a job that takes seconds');
  assert.equal(e.warnings[0]!.suggestedLimit, '00:01:00');
  assert.ok(e.expectedStart && Math.abs(Date.parse(e.expectedStart) - Date.now()) < 3600_000, `expected start ${e.expectedStart}`);
  assert.deepEqual(e.problems, []);
  // Options given to sbatch override the script's: here a limit below p90.
  const short = await h.json<RuntimeEstimate>(['estimate', script, '--cluster', 'local', '--', '--time=0:05']);
  assert.equal(short.timeLimitSeconds, 60, 'SLURM rounds limits up to whole minutes');
  const info = await h.json<{ clusters: RuntimeModelInfo[] }>(['runtime', 'info']);
  assert.ok(info.clusters[0]!.jobs >= 2 && info.clusters[0]!.lastIngestAt);
});

test('a script sbatch cannot read gets a report with line and column, and exit 1', async () => {
  const bad = h.script('bad.sh', '#SBATCH --time=soon\n#SBATCH --nodes=two\necho hi');
  const r = await h.run(['estimate', bad, '--cluster', 'local', '--json']);
  assert.equal(r.code, 1, r.stderr);
  const e = JSON.parse(r.stdout) as RuntimeEstimate;
  const errors = e.problems.filter((p) => p.severity === 'error').map((p) => [p.line, p.option]);
  assert.deepEqual(errors, [
    [2, 'time'],
    [3, 'nodes'],
  ]);
  // Binary garbage is a report too, never a crash of the daemon.
  const garbage = h.script('garbage.sh', '\u0000\u0001\u00ff#SBATCH --time=1');
  const g = await h.run(['estimate', garbage, '--cluster', 'local', '--json']);
  assert.equal(g.code, 1);
  assert.ok((JSON.parse(g.stdout) as RuntimeEstimate).problems.length > 0);
  assert.equal((await h.run(['daemon', 'status'])).code, 0, 'the daemon is still there');
});

test('runtime train learns from the cluster\'s finished jobs; the first version is used, the next is gated', async () => {
  const first = await h.json<{ version: number; jobs: number; promoted: boolean; gate: unknown; metrics: Record<string, number> }>(['runtime', 'train', '--cluster', 'local'], 0);
  assert.equal(first.version, 1);
  assert.ok(first.jobs >= TEST_MIN_TRAINING_JOBS, `trained on ${first.jobs} jobs`);
  assert.equal(first.promoted, true);
  assert.equal(first.gate, null, 'nothing to compare the first model with');
  for (const k of ['mae_minutes', 'accuracy', 'coverage', 'p90_under_rate']) assert.equal(typeof first.metrics[k], 'number', k);
  const info = await h.json<{ clusters: RuntimeModelInfo[] }>(['runtime', 'info', '--cluster', 'local']);
  assert.equal(info.clusters[0]!.modelVersion, 1);
  // Estimates now come from the model, with an interval.
  const script = h.script('model.sh', `#SBATCH --job-name=${name}\n#SBATCH --partition=long\n#SBATCH --time=30\nsleep 5`);
  const e = await h.json<RuntimeEstimate>(['estimate', script, '--cluster', 'local']);
  assert.equal(e.source, 'model');
  assert.equal(e.modelVersion, 1);
  assert.ok(e.p10! > 0 && e.p10! <= e.p50! && e.p50! <= e.p90!, JSON.stringify(e));
  // A retrain is a new version that must pass the gate against the one in use.
  const second = await h.json<{ version: number; promoted: boolean; gate: { pass: boolean; baseline: number; rules: { metric: string }[] } | null }>(['runtime', 'train', '--cluster', 'local']);
  assert.equal(second.version, 2);
  assert.ok(second.gate);
  assert.equal(second.gate.baseline, 1);
  assert.deepEqual(second.gate.rules.map((r) => r.metric), ['mae_minutes', 'p90_under_rate', 'coverage_gap']);
  assert.equal(second.promoted, second.gate.pass);
  const model = await h.json<{ model: { aliases: Record<string, number> } }>(['model', 'runtime-local']);
  assert.equal(model.model.aliases.prod, second.promoted ? 2 : 1);
});
