// A cluster of kind `local`: slurm-ml running where SLURM's commands are (a
// login node under Remote-SSH, a compute node in Open OnDemand). The CLI and
// its daemon run as the test cluster's own non-root user, from an installed
// copy, with a clean environment and no SSH anywhere: submit, follow, logs,
// an array with a task range cancelled, and a train/predict workflow. The
// sshd log proves no login was made.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, repoRoot } from './cliHarness';
import { stageInstall } from './localInstall';
import { sshdLogFile } from './faultKit';
import { ClustersDetectLocal, type ClusterInfo, type JobDetail, type JobInfo } from '../../daemon/protocol';
import { connectToRunningDaemon } from '../../daemon/client';
import { statePaths } from '../../daemon/state';

let env: ClusterEnv;
let install: string;
let h: CliHarness;
let loginsBefore: number;

/** Logins of the cluster user that sshd accepted so far. */
function logins(user: string): number {
  const text = fs.existsSync(sshdLogFile()) ? fs.readFileSync(sshdLogFile(), 'utf8') : '';
  return [...text.matchAll(new RegExp(`Accepted \\S+ for ${user} from`, 'g'))].length;
}

before(() => {
  env = loadClusterEnv();
  install = stageInstall();
  const home = execFileSync('getent', ['passwd', env.user], { encoding: 'utf8' }).split(':')[5]!;
  h = new CliHarness({ prefix: 'slurm-ml-localkind-', asUser: { user: env.user, home, install }, timeoutMs: 300_000, maxBuffer: 16 << 20 });
  h.open();
  loginsBefore = logins(env.user);
});

after(async () => {
  await h?.close();
  if (install) fs.rmSync(install, { recursive: true, force: true });
});

test('cluster add --local: this machine, as the daemon\'s own user, with the SLURM version it has', async () => {
  const added = await h.json<ClusterInfo>(['cluster', 'add', 'here', '--local']);
  assert.equal(added.kind, 'local');
  assert.equal(added.host, null);
  const bad = await h.run(['cluster', 'add', 'mixed', '--local', '--host', 'login.example']);
  assert.equal(bad.code, 2, bad.stderr);
  assert.match(bad.stderr, /--local .* takes no --host/);
  const t = await h.json<{ remoteUser: string; slurmVersion: string | null; slurm: { version: string; supported: boolean } | null; hostKeyFingerprint: string }>(['cluster', 'test', 'here']);
  assert.equal(t.remoteUser, env.user, 'commands run as the daemon\'s user');
  const printed = execFileSync('sinfo', ['--version'], { encoding: 'utf8' }).trim();
  assert.equal(t.slurmVersion, printed);
  assert.equal(t.slurm?.version, printed.split(' ').at(-1), 'the version is read from the local SLURM as from an SSH one');
  assert.equal(t.slurm?.supported, true);
  assert.match(t.hostKeyFingerprint, /no SSH/);
  const { clusters } = await h.json<{ clusters: ClusterInfo[] }>(['cluster', 'list']);
  assert.deepEqual(clusters.map((c) => [c.name, c.kind, c.connection.status]), [['here', 'local', 'ready']]);
});

test('the daemon finds SLURM on its own machine: what the editor offers on first start', async () => {
  const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'local-kind-test' });
  assert.ok(d, 'the CLI left its daemon running');
  try {
    const here = await d.rpc.request(ClustersDetectLocal, {}, { timeoutMs: 30_000 });
    assert.deepEqual(
      { available: here.available, slurmVersion: here.slurmVersion, user: here.user, why: here.why },
      { available: true, slurmVersion: execFileSync('sinfo', ['--version'], { encoding: 'utf8' }).trim(), user: env.user, why: null },
    );
  } finally {
    d.rpc.close();
  }
});

test('a job is submitted from a private run directory, followed to its end, and its log read', async () => {
  const job = await h.json<JobDetail>(['submit', h.script('hello.sh', 'echo "hello from $(hostname) as $(id -un)"; echo oops >&2'), '--cluster', 'here', '--wait']);
  assert.equal(job.state, 'COMPLETED');
  assert.equal(job.exitCode, 0);
  const home = execFileSync('getent', ['passwd', env.user], { encoding: 'utf8' }).split(':')[5]!;
  assert.ok(job.runDir.startsWith(`${home}/.slurm-ml/runs/`), job.runDir);
  const st = fs.statSync(job.runDir);
  assert.equal(st.mode & 0o777, 0o700, 'the run directory is the user\'s alone');
  assert.equal(st.uid, Number(execFileSync('id', ['-u', env.user], { encoding: 'utf8' })));
  const log = await h.run(['logs', job.id]);
  assert.equal(log.code, 0, log.stderr);
  assert.match(log.stdout, new RegExp(`^hello from \\S+ as ${env.user}\\n`));
  const detail = await h.json<JobDetail>(['job', job.slurmJobId!]);
  assert.equal(detail.id, job.id);
});

test('an array: its tasks are counted, a range is cancelled alone, then the rest', async () => {
  const job = await h.json<JobInfo>(['submit', h.script('array.sh', 'sleep 300'), '--cluster', 'here', '--', '--array=1-6%2']);
  await h.until('two tasks running', async () => {
    const j = await h.json<JobDetail>(['job', job.id]);
    return (j.array?.byState.RUNNING ?? 0) === 2 ? j : undefined;
  });
  const some = await h.run(['cancel', job.id, '--tasks', '3-4']);
  assert.equal(some.code, 0, some.stderr);
  const after2 = await h.until('tasks 3-4 cancelled', async () => {
    const j = await h.json<JobDetail>(['job', job.id]);
    return (j.array?.byState.CANCELLED ?? 0) === 2 ? j : undefined;
  });
  assert.equal(after2.terminal, false);
  const all = await h.run(['cancel', job.id]);
  assert.equal(all.code, 0, all.stderr);
  const done = await h.until('the array cancelled', async () => {
    const j = await h.json<JobDetail>(['job', job.id]);
    return j.terminal ? j : undefined;
  });
  assert.equal(done.state, 'CANCELLED');
  assert.equal(done.array?.total, 6);
  assert.equal(done.array?.byState.CANCELLED, 6);
});

test('train and predict: the workspace\'s files are copied into the run directory, the version is registered, predictions land in their own directory', async () => {
  // The sample project, in a workspace the user owns.
  const ws = path.join(h.work, 'ml');
  execFileSync('cp', ['-r', path.join(repoRoot, 'test', 'demo', 'ml'), ws]);
  execFileSync('chown', ['-R', env.user, ws]);
  const wf = ['--cluster', 'here', '--workspace', ws];
  const trained = await h.json<JobInfo>(['train', 'digits', ...wf, '--entrypoint', 'train.py', '--config', 'config.json', '--wait']);
  assert.equal(trained.state, 'COMPLETED');
  assert.equal(trained.modelVersion, 1);
  const copied = fs.readFileSync(path.join(trained.runDir, 'train.py'), 'utf8');
  assert.equal(copied, fs.readFileSync(path.join(ws, 'train.py'), 'utf8'), 'the entrypoint as the workspace has it');
  const { versions } = await h.json<{ versions: { version: number; artifacts: { path: string; size: number }[]; cluster: string }[] }>(['model', 'digits']);
  assert.equal(versions[0]!.cluster, 'here');
  for (const a of versions[0]!.artifacts) assert.equal(fs.statSync(a.path).size, a.size, a.path);
  const pred = await h.json<JobDetail>(['predict', 'digits@v1', ...wf, '--input', path.join(ws, 'inputs', 'sample.csv'), '--entrypoint', 'predict.py', '--wait']);
  assert.equal(pred.state, 'COMPLETED');
  assert.ok(pred.outputDir && pred.outputDir !== trained.outputDir);
  const rows = fs.readFileSync(path.join(pred.outputDir, 'predictions.csv'), 'utf8').trim().split('\n');
  assert.equal(rows.length, 21, 'a header and one row per input row');
});

test('no SSH anywhere: the daemon opened no connection and logged no SSH state', async () => {
  const { clusters } = await h.json<{ clusters: { name: string; connectionsLastMinute: number }[] }>(['budget']);
  assert.deepEqual(clusters.map((c) => [c.name, c.connectionsLastMinute]), [['here', 0]]);
  const log = fs.readFileSync(path.join(h.stateDir, 'daemon.log'), 'utf8');
  const ssh = log.split('\n').filter((l) => /"msg":"ssh /.test(l));
  assert.deepEqual(ssh, [], 'the daemon log has no SSH entries');
  assert.match(log, /"msg":"job submitted"/, 'the log is the one the daemon wrote while it worked');
  // sshd's log is shared with whatever else runs on this machine: only when
  // nothing else logged in meanwhile does it prove more (it does in CI).
  if (!process.env.SLURM_ML_SHARED_CLUSTER) assert.equal(logins(env.user) - loginsBefore, 0, 'sshd accepted a login of the cluster user during the local-cluster tests');
});
