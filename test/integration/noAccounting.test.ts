// A cluster without accounting (no slurmdbd: sacct fails): the second test
// cluster, test/cluster/noacct.sh, which forgets finished jobs 30 s after
// they end. slurm-ml reaches it as a local cluster (SLURM_CONF names its
// config) as the cluster user. A job followed to its end gets its final state
// and exit code from scontrol; a job that ended while no daemon was watching,
// and that SLURM has forgotten since, reads ENDED ("final state unknown"):
// never a guessed COMPLETED or FAILED. Runtime estimates come from the jobs
// the daemon saw end itself.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, repoRoot } from './cliHarness';
import { stageInstall } from './localInstall';
import type { JobDetail, JobInfo, RuntimeEstimate } from '../../daemon/protocol';

const SLURM_CONF = '/etc/slurm-noacct/slurm.conf';
let env: ClusterEnv;
let install: string;
let h: CliHarness;

function scontrolKnows(id: string): boolean {
  try {
    execFileSync('scontrol', ['show', 'job', id], { env: { ...process.env, SLURM_CONF }, stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

before(() => {
  env = loadClusterEnv();
  execFileSync('bash', [`${repoRoot}/test/cluster/noacct.sh`], { stdio: 'inherit' });
  install = stageInstall();
  const home = execFileSync('getent', ['passwd', env.user], { encoding: 'utf8' }).split(':')[5]!;
  h = new CliHarness({ prefix: 'slurm-ml-noacct-', asUser: { user: env.user, home, install }, env: { SLURM_CONF }, timeoutMs: 300_000 });
  h.open();
});

after(async () => {
  await h?.close();
  if (install) fs.rmSync(install, { recursive: true, force: true });
});

test('the cluster has no accounting: sacct fails there', async () => {
  assert.throws(() => execFileSync('sacct', ['-n', '-X'], { env: { ...process.env, SLURM_CONF }, stdio: 'pipe' }), /accounting storage is disabled/);
  const added = await h.run(['cluster', 'add', 'noacct', '--local']);
  assert.equal(added.code, 0, added.stderr);
});

test('jobs followed to their end get their final state and exit code from scontrol', async () => {
  const [ok, bad] = await Promise.all([
    h.json<JobInfo>(['submit', h.script('ok.sh', 'sleep 1; echo fine'), '--cluster', 'noacct', '--name', 'noacct-runtime', '--wait']),
    h.json<JobInfo>(['submit', h.script('bad.sh', 'sleep 1; exit 3'), '--cluster', 'noacct', '--name', 'noacct-runtime', '--wait'], 4),
  ]);
  assert.deepEqual([ok.state, ok.exitCode], ['COMPLETED', 0]);
  assert.deepEqual([bad.state, bad.exitCode], ['FAILED', 3]);
  assert.ok(ok.startTime && ok.endTime, 'start and end times from the controller');
});

test('a job that ended unwatched and that SLURM forgot reads ENDED, final state unknown', { timeout: 300_000 }, async () => {
  const job = await h.json<JobInfo>(['submit', h.script('unwatched.sh', 'sleep 2'), '--cluster', 'noacct']);
  const stop = await h.run(['daemon', 'stop']);
  assert.equal(stop.code, 0, stop.stderr);
  // MinJobAge is 30 s; the controller purges finished jobs on its own period after that.
  await h.until('the controller forgot the job', () => (scontrolKnows(job.slurmJobId!) ? undefined : true), 240_000, 2_000);
  const ended = await h.until(
    'the restarted daemon to settle the job',
    async () => {
      const j = await h.json<JobDetail>(['job', job.id]);
      return j.terminal ? j : undefined;
    },
    120_000,
    1_000,
  );
  assert.equal(ended.state, 'ENDED');
  assert.equal(ended.exitCode, null, 'no exit code is made up');
  assert.match(ended.reason ?? '', /final state unknown: SLURM no longer remembers job \d+ and noacct keeps no accounting/);
});

test('runtime estimates come from the jobs the daemon saw end', async () => {
  const script = h.script('next.sh', '#SBATCH --job-name=noacct-runtime\n#SBATCH --time=30\nsleep 1');
  const e = await h.json<RuntimeEstimate>(['estimate', script, '--cluster', 'noacct']);
  assert.equal(e.source, 'history', JSON.stringify(e));
  assert.ok(e.p50 !== null && e.p50 >= 1 && e.p50 <= 10, JSON.stringify(e));
});
