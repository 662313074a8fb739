// Records the SLURM fixtures in test/fixtures/slurm/ from the local test
// cluster (test/cluster/up.sh): submits jobs as hpcuser over ssh that end in
// every state worth parsing, and saves the verbatim stdout of the exact
// commands daemon/slurm/commands.ts builds (quoted by daemon/ssh/quote.ts,
// as the daemon sends them), plus a manifest telling which job is which.
//
//   node --import tsx test/cluster/record-fixtures.ts     (about 3 minutes)
//
// Reads SLURM_ML_TEST_* from the environment, or from
// ${SLURM_ML_CLUSTER_DIR:-/var/tmp/slurm-ml-cluster}/env.sh. Other jobs on the
// cluster are left alone: every query names our job ids.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  sacctCommand,
  sacctSinceCommand,
  sbatchCommand,
  sbatchVersionCommand,
  scancelCommand,
  scontrolShowJobCommand,
  sinfoCommand,
  squeueCommand,
  squeueMineCommand,
  squeuePathsCommand,
  squeueVersionCommand,
} from '../../daemon/slurm/commands';
import { shellCommand, shellCommandInDir } from '../../daemon/ssh/quote';
import { slurmVersionCommand } from '../../daemon/slurm/version';

const OUT_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/slurm');
const TERMINAL = new Set(['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'NODE_FAIL', 'PREEMPTED', 'BOOT_FAIL', 'DEADLINE']);

interface Env {
  host: string;
  port: string;
  user: string;
  identity: string;
  knownHosts: string;
}

interface ExecResult {
  code: number;
  stdout: Buffer;
  stderr: string;
}

interface FixtureEntry {
  file: string;
  argv: string[];
  command: string;
  exitCode: number;
  stderr: string;
  recordedAt: string;
}

function loadEnv(): Env {
  const file = path.join(process.env.SLURM_ML_CLUSTER_DIR ?? '/var/tmp/slurm-ml-cluster', 'env.sh');
  const vars: Record<string, string> = {};
  if (fs.existsSync(file)) {
    for (const line of fs.readFileSync(file, 'utf8').split('\n')) {
      const m = /^export ([A-Z_]+)='([^']*)'$/.exec(line);
      if (m) vars[m[1] as string] = m[2] as string;
    }
  }
  const get = (k: string): string => {
    const v = process.env[k] ?? vars[k];
    if (!v) throw new Error(`${k} is not set and not in ${file}: is the cluster up (test/cluster/up.sh)?`);
    return v;
  };
  return {
    host: get('SLURM_ML_TEST_HOST'),
    port: get('SLURM_ML_TEST_PORT'),
    user: get('SLURM_ML_TEST_USER'),
    identity: get('SLURM_ML_TEST_IDENTITY'),
    knownHosts: get('SLURM_ML_TEST_KNOWN_HOSTS'),
  };
}

const env = loadEnv();

function ssh(command: string, stdin?: string): Promise<ExecResult> {
  const args = [
    '-p', env.port,
    '-i', env.identity,
    '-o', `UserKnownHostsFile=${env.knownHosts}`,
    '-o', 'StrictHostKeyChecking=yes',
    '-o', 'BatchMode=yes',
    '-o', 'LogLevel=ERROR',
    `${env.user}@${env.host}`,
    command,
  ];
  return new Promise((resolve, reject) => {
    const child = spawn('ssh', args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => err.push(b));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout: Buffer.concat(out), stderr: Buffer.concat(err).toString('utf8') }));
    child.stdin.end(stdin ?? '');
  });
}

async function run(argv: string[], cwd?: string): Promise<ExecResult> {
  return ssh(cwd === undefined ? shellCommand(argv) : shellCommandInDir(cwd, argv));
}

async function must(argv: string[], cwd?: string): Promise<string> {
  const r = await run(argv, cwd);
  if (r.code !== 0) throw new Error(`${shellCommand(argv)} failed (${r.code}): ${r.stderr}`);
  return r.stdout.toString('utf8');
}

const manifest: {
  recordedAt: string;
  slurmVersion: string;
  clusterTimeZone: string;
  recorderTimeZone: string;
  remoteDir: string;
  jobs: Record<string, { jobId: string; name: string; sbatchArgs: string[]; note: string }>;
  fixtures: FixtureEntry[];
} = {
  recordedAt: new Date().toISOString(),
  slurmVersion: '',
  clusterTimeZone: '',
  recorderTimeZone: Intl.DateTimeFormat().resolvedOptions().timeZone,
  remoteDir: '',
  jobs: {},
  fixtures: [],
};

/** Runs argv and saves its stdout byte for byte (stderr and exit status go to the manifest). */
async function record(file: string, argv: string[], cwd?: string, stream: 'stdout' | 'stderr' = 'stdout'): Promise<ExecResult> {
  const r = await run(argv, cwd);
  fs.writeFileSync(path.join(OUT_DIR, file), stream === 'stdout' ? r.stdout : r.stderr);
  manifest.fixtures.push({
    file,
    argv,
    command: cwd === undefined ? shellCommand(argv) : shellCommandInDir(cwd, argv),
    exitCode: r.code,
    stderr: r.stderr,
    recordedAt: new Date().toISOString(),
  });
  console.log(`  ${file}: exit ${r.code}, ${r.stdout.length} bytes${r.stderr ? `, stderr: ${r.stderr.trim().slice(0, 100)}` : ''}`);
  return r;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** squeue state of each id (by %A, the job's own id), via the same command the daemon uses. */
async function states(ids: string[]): Promise<Map<string, string>> {
  const r = await run(squeueCommand(ids));
  const m = new Map<string, string>();
  for (const line of r.stdout.toString('utf8').split('\n')) {
    const cols = line.split('\x1f');
    if (cols.length > 5) m.set(cols[1] as string, cols[4] as string);
  }
  return m;
}

async function waitFor(what: string, ids: string[], ok: (state: string | undefined) => boolean, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const s = await states(ids);
    if (ids.every((id) => ok(s.get(id)))) return;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}: ${JSON.stringify(Object.fromEntries(s))}`);
    await sleep(2000);
  }
}

async function main(): Promise<void> {
  fs.mkdirSync(OUT_DIR, { recursive: true });
  // Only what a recording writes: README.md and fixtures.ts stay.
  for (const f of fs.readdirSync(OUT_DIR)) {
    if (f.endsWith('.txt') || f === 'manifest.json') fs.rmSync(path.join(OUT_DIR, f));
  }
  console.log(`recording into ${OUT_DIR}`);
  manifest.clusterTimeZone = (await must(['date', '+%Z %z'])).trim();

  // A run directory whose name has a space, so WorkDir/StdOut paths carry one.
  const stamp = new Date().toISOString().replace(/[-:]/g, '').slice(0, 15);
  const home = (await must(['sh', '-c', 'echo "$HOME"'])).trim();
  const dir = `${home}/slurm-ml-fixtures/run ${stamp}`;
  manifest.remoteDir = dir;
  await must(['mkdir', '-p', dir]);
  const scripts: Record<string, string> = {
    'ok.sh': '#!/bin/bash\necho "hello from $SLURM_JOB_ID"\nsleep 3\n',
    'fail.sh': '#!/bin/bash\necho "about to fail" >&2\nexit 3\n',
    'sleep.sh': '#!/bin/bash\necho "sleeping"\nsleep 600\n',
    'array.sh': '#!/bin/bash\necho "task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_JOB_ID"\nsleep 4\n',
    'steps.sh': '#!/bin/bash\nsrun --ntasks=1 bash -c "echo step0; sleep 1"\nsrun --ntasks=1 bash -c "echo step1; exit 2"\necho done\n',
  };
  for (const [name, body] of Object.entries(scripts)) {
    const r = await ssh(shellCommand(['sh', '-c', 'cat > "$1" && chmod 755 "$1"', 'sh', `${dir}/${name}`]), body);
    if (r.code !== 0) throw new Error(`writing ${name}: ${r.stderr}`);
  }

  const submit = async (label: string, script: string, name: string | undefined, extraArgs: string[], note: string, file?: string) => {
    const argv = sbatchCommand(`${dir}/${script}`, { ...(name !== undefined ? { jobName: name } : {}), extraArgs });
    const r = file !== undefined ? await record(file, argv, dir) : await run(argv, dir);
    if (r.code !== 0) throw new Error(`sbatch ${label} failed: ${r.stderr}`);
    const jobId = r.stdout.toString('utf8').trim().split(';')[0] as string;
    manifest.jobs[label] = { jobId, name: name ?? script, sbatchArgs: extraArgs, note };
    console.log(`submitted ${label}: ${jobId}`);
    return jobId;
  };

  const weirdName = `weird name | "dq" 'sq' ünïcødé ✓ lr=0.1 UserId=fake`;
  console.log('submitting');
  // The node has 2 CPUs: short jobs go first so they are done before the two sleepers hold both CPUs.
  const completed = await submit('completed', 'ok.sh', 'fixture-ok', ['--time=2'], 'exits 0 after 3 s', 'sbatch-parsable.txt');
  const failed = await submit('failed', 'fail.sh', 'fixture-fail', ['--time=2'], 'exit 3');
  const weird = await submit('weird', 'ok.sh', weirdName, ['--time=2', '--comment=a comment with spaces'], 'odd job name, comment');
  const steps = await submit('steps', 'steps.sh', 'fixture-steps', ['--time=2', '--qos=high', '--partition=long'], 'srun steps .0 (ok) and .1 (exit 2); QOS high on long');
  const array = await submit('array', 'array.sh', 'fixture-array', ['--array=1-3', '--time=2'], 'array of 3 tasks');
  const cancelled = await submit('cancelled', 'sleep.sh', 'fixture-cancel', ['--time=5'], 'scancel while RUNNING');
  const timeout = await submit('timeout', 'sleep.sh', 'fixture-timeout', ['--time=1'], 'runs past its 1-minute limit');
  const pendingBegin = await submit('pendingBegin', 'ok.sh', 'fixture-begin', ['--begin=now+1hour', '--time=2'], 'PENDING (BeginTime)');
  const pendingHeld = await submit('pendingHeld', 'ok.sh', 'fixture-held', ['--hold', '--time=2'], 'PENDING (JobHeldUser)');
  const pendingLimit = await submit('pendingLimit', 'ok.sh', 'fixture-limit', ['--time=30', '--partition=debug'], 'time limit above the partition max: PENDING (PartitionTimeLimit)');
  const throttled = await submit('throttled', 'array.sh', 'fixture-throttled', ['--array=1-9%2', '--begin=now+1hour', '--time=2'], 'pending throttled array 1-9%2');
  const all = [completed, failed, cancelled, timeout, array, weird, steps, pendingBegin, pendingHeld, pendingLimit, throttled];
  const pending = [pendingBegin, pendingHeld, pendingLimit, throttled];

  // The plain reply (no --parsable) and other sbatch answers; these argv are not
  // the daemon's, the replies are what its parser must also read.
  const plain = await record('sbatch-plain.txt', ['sbatch', '--time=1', `${dir}/ok.sh`], dir);
  const plainId = /(\d+)/.exec(plain.stdout.toString('utf8'))?.[1];
  if (plainId) manifest.jobs.plain = { jobId: plainId, name: 'ok.sh', sbatchArgs: ['--time=1'], note: 'sbatch without --parsable' };
  const withCluster = await record('sbatch-parsable-cluster.txt', sbatchCommand(`${dir}/ok.sh`, { jobName: 'fixture-cluster', extraArgs: ['--clusters=slurmml', '--time=1'] }), dir);
  const clusterId = /^(\d+)/.exec(withCluster.stdout.toString('utf8'))?.[1];
  if (clusterId) manifest.jobs.cluster = { jobId: clusterId, name: 'fixture-cluster', sbatchArgs: ['--clusters=slurmml'], note: 'sbatch --parsable --clusters: ID;CLUSTER' };
  await record('sbatch-error-partition.stderr.txt', sbatchCommand(`${dir}/ok.sh`, { extraArgs: ['--partition=nope'] }), dir, 'stderr');
  await record('sbatch-error-qos.stderr.txt', sbatchCommand(`${dir}/ok.sh`, { extraArgs: ['--qos=nope'] }), dir, 'stderr');
  await record('sbatch-error-script.stderr.txt', sbatchCommand(`${dir}/missing.sh`), dir, 'stderr');

  console.log('waiting for the sleeper to run');
  await waitFor('running jobs', [cancelled], (s) => s === 'RUNNING', 240_000);
  console.log('snapshot: running');
  await record('squeue-running.txt', squeueCommand(all));
  await record('squeue-paths-running.txt', squeuePathsCommand(all));
  await record('squeue-mine-running.txt', squeueMineCommand());
  await record('scontrol-running.txt', scontrolShowJobCommand(cancelled));
  await record('scontrol-array-running.txt', scontrolShowJobCommand(array));
  await record('sacct-running.txt', sacctCommand(all));

  await must(scancelCommand(cancelled));
  console.log('waiting for the short jobs to end');
  const short = [completed, failed, cancelled, weird, steps];
  await waitFor('short jobs', short, (s) => s !== undefined && TERMINAL.has(s), 180_000);
  // Array tasks have their own ids; wait through squeue's view of the whole array.
  for (let i = 0; i < 60; i++) {
    const r = await run(squeueCommand([array]));
    const lines = r.stdout.toString('utf8').split('\n').filter((l) => l !== '');
    if (lines.length >= 3 && lines.every((l) => TERMINAL.has(l.split('\x1f')[4] ?? ''))) break;
    await sleep(2000);
  }
  console.log('snapshot: ended');
  await record('scontrol-completed.txt', scontrolShowJobCommand(completed));
  await record('scontrol-failed.txt', scontrolShowJobCommand(failed));
  await record('scontrol-cancelled.txt', scontrolShowJobCommand(cancelled));
  await record('scontrol-weird.txt', scontrolShowJobCommand(weird));
  await record('scontrol-steps.txt', scontrolShowJobCommand(steps));
  await record('scontrol-array.txt', scontrolShowJobCommand(array));
  await record('scontrol-pending-begin.txt', scontrolShowJobCommand(pendingBegin));
  await record('scontrol-pending-held.txt', scontrolShowJobCommand(pendingHeld));
  await record('scontrol-pending-limit.txt', scontrolShowJobCommand(pendingLimit));
  await record('scontrol-throttled.txt', scontrolShowJobCommand(throttled));
  await record('squeue-pending.txt', squeueCommand(pending));

  console.log('waiting for the TIMEOUT (limit 1 min; slurmctld checks about every 30 s)');
  await waitFor('timeout job', [timeout], (s) => s === 'TIMEOUT', 240_000);
  await record('scontrol-timeout.txt', scontrolShowJobCommand(timeout));
  await record('squeue-ended.txt', squeueCommand(all));
  // slurmdbd gets the end records a moment after slurmctld.
  await sleep(5000);
  await record('sacct-ended.txt', sacctCommand(all));

  console.log('cancelling the pending jobs');
  for (const id of pending) await must(scancelCommand(id));
  await waitFor('pending jobs cancelled', pending, (s) => s === 'CANCELLED', 60_000);
  await sleep(5000);
  await record('squeue-final.txt', squeueCommand(all));
  await record('sacct-final.txt', sacctCommand(all));
  await record('sacct-since.txt', sacctSinceCommand(new Date(Date.parse(manifest.recordedAt) - 60_000)));
  await record('scontrol-pending-cancelled.txt', scontrolShowJobCommand(pendingBegin));

  console.log('odds and ends');
  await record('sinfo.txt', sinfoCommand());
  const v = await record('sbatch-version.txt', sbatchVersionCommand());
  manifest.slurmVersion = v.stdout.toString('utf8').trim();
  await record('squeue-version.txt', squeueVersionCommand());
  await record('sinfo-version.txt', slurmVersionCommand());
  await record('squeue-unknown-id.stderr.txt', squeueCommand(['999999']), undefined, 'stderr');
  await record('squeue-unknown-and-known.txt', squeueCommand(['999999', completed]));
  await record('scontrol-unknown-id.stderr.txt', scontrolShowJobCommand('999999'), undefined, 'stderr');
  await record('sacct-unknown-id.txt', sacctCommand(['999999']));
  await record('scancel-ended.stderr.txt', scancelCommand(completed), undefined, 'stderr');
  // Leave nothing running.
  for (const id of [plainId, clusterId]) if (id) await run(scancelCommand(id));

  fs.writeFileSync(path.join(OUT_DIR, 'manifest.json'), JSON.stringify(manifest, null, 2) + '\n');
  console.log(`done: ${manifest.fixtures.length} fixtures`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
