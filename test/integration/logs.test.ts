// `slurm-ml logs` against the real local cluster (test/cluster/up.sh): a job
// printing lines, multi-byte characters and progress lines over ~8 s is
// followed to its end; finished logs, stderr, a 3 MiB log and Ctrl-C.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import type { ChildProcess } from 'node:child_process';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import { connectToRunningDaemon } from '../../daemon/client';
import { statePaths } from '../../daemon/state';
import { JobsDidChange, type JobDetail, type JobInfo } from '../../daemon/protocol';
import { SshSession } from '../../daemon/ssh/session';

interface RawResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: Buffer;
  stderr: string;
}

let env: ClusterEnv;
const h = new CliHarness({ prefix: 'slurm-ml-logs-', maxBuffer: 64 << 20 });

/** Runs the CLI keeping stdout as bytes; `onStart` gets the child (to signal it). */
function cliRaw(args: string[], opts: { timeoutMs?: number; onStart?: (child: ChildProcess, out: Buffer[]) => void } = {}): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const child = h.spawn(args);
    const out: Buffer[] = [];
    let err = '';
    child.stdout.on('data', (b: Buffer) => out.push(b));
    child.stderr.on('data', (b: Buffer) => (err += b.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`slurm-ml ${args.join(' ')} did not finish in ${opts.timeoutMs ?? 180_000} ms; stderr: ${err}`));
    }, opts.timeoutMs ?? 180_000);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout: Buffer.concat(out), stderr: err });
    });
    opts.onStart?.(child, out);
  });
}

async function readOverSsh(file: string): Promise<Buffer> {
  const ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  try {
    return await ssh.readFile(file);
  } finally {
    await ssh.close();
  }
}

const sha256 = (b: Buffer) => createHash('sha256').update(b).digest('hex');

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

// 16 steps, 0.5 s apart: stdout has text with 2-, 3- and 4-byte characters and
// a progress line per step; stderr (its own file) one line per step.
const STEPS = 16;
const expectedStdout = Array.from({ length: STEPS }, (_, k) => `step ${k + 1} ünïcödé € 😀 日本語\nSLURM_ML_PROGRESS ${k + 1}/${STEPS}\n`).join('');
const expectedStderr = Array.from({ length: STEPS }, (_, k) => `warning ${k + 1} ✓\n`).join('');
const progressJob = `#SBATCH --error=err-%j.txt
for i in $(seq 1 ${STEPS}); do
  echo "step $i ünïcödé € 😀 日本語"
  echo "SLURM_ML_PROGRESS $i/${STEPS}"
  echo "warning $i ✓" >&2
  sleep 0.5
done`;

describe('slurm-ml logs against the local cluster', () => {
  let job: JobInfo;
  let followed: RawResult;
  const progressSeen: { state: string; progress: number | null }[] = [];

  test('logs --follow, started while the job is pending, prints every line once, in order, and exits 0 when the job ends', async () => {
    job = await h.json<JobInfo>(['submit', h.script('progress.sh', progressJob), '--cluster', 'local']);
    assert.match(job.slurmJobId ?? '', /^\d+$/);
    // Watch the job's records as a client would, for the progress while it runs.
    const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'logs-test' });
    assert.ok(d);
    d.rpc.onNotification(JobsDidChange, ({ job: j }) => {
      if (j.id === job.id) progressSeen.push({ state: j.state, progress: j.progress });
    });
    try {
      const started = Date.now();
      followed = await cliRaw(['logs', job.id, '--follow']);
      assert.equal(followed.code, 0, followed.stderr);
      assert.equal(followed.stderr, '', 'nothing but the log, and no messages');
      assert.ok(Date.now() - started >= 7000, 'it followed the job for its whole run');
      assert.equal(followed.stdout.toString(), expectedStdout);
    } finally {
      d.rpc.close();
    }
    const ended = await h.json<JobDetail>(['job', job.id]);
    assert.equal(ended.state, 'COMPLETED', 'logs --follow returned only after the job ended');
    const onCluster = await readOverSsh(ended.stdoutPath!);
    assert.equal(sha256(followed.stdout), sha256(onCluster), 'byte for byte the file on the cluster');
  });

  test('progress: seen between 0 and 100 while running, 100 once COMPLETED', async () => {
    const done = await h.waitForJob(job.id, (j) => j.progress === 100, 'progress 100', 30_000);
    assert.equal(done.state, 'COMPLETED');
    const running = progressSeen.filter((p) => p.state === 'RUNNING' && p.progress !== null);
    assert.ok(running.length > 0, `a progress value arrived while the job ran: ${JSON.stringify(progressSeen)}`);
    const printed = Array.from({ length: STEPS - 1 }, (_, k) => Math.round(((k + 1) / STEPS) * 1000) / 10);
    assert.ok(running.every((p) => printed.includes(p.progress!)), `only values the job printed: ${JSON.stringify(running)}`);
  });

  test('logs of a finished job prints the whole file; --stderr its stderr file', async () => {
    const out = await cliRaw(['logs', job.slurmJobId!]);
    assert.equal(out.code, 0, out.stderr);
    assert.equal(out.stdout.toString(), expectedStdout);
    const err = await cliRaw(['logs', `local:${job.slurmJobId}`, '--stderr']);
    assert.equal(err.code, 0, err.stderr);
    assert.equal(err.stdout.toString(), expectedStderr);
    const tail = await cliRaw(['logs', job.id.slice(0, 8), '--bytes', '50']);
    assert.equal(tail.code, 0, tail.stderr);
    const bytes = Buffer.from(expectedStdout);
    assert.ok(tail.stdout.length <= 50 && tail.stdout.length >= 47, `last 50 bytes, whole characters: ${tail.stdout.length}`);
    assert.deepEqual(tail.stdout, bytes.subarray(bytes.length - tail.stdout.length));
  });

  test('a 3 MiB log written over a few seconds is followed completely', async () => {
    const big = await h.json<JobInfo>([
      'submit',
      h.script('big.sh', `for b in 1 2 3 4 5 6; do
  awk -v b=$b 'BEGIN { for (i = 0; i < 11000; i++) printf "block %d line %06d ünïcödé € 😀 xxxxxxxxxx\\n", b, i }'
  sleep 1
done`),
      '--cluster', 'local',
    ]);
    const r = await cliRaw(['logs', big.id, '--follow', '--bytes', 'all']);
    assert.equal(r.code, 0, r.stderr);
    const ended = await h.json<JobDetail>(['job', big.id]);
    assert.equal(ended.state, 'COMPLETED');
    const onCluster = await readOverSsh(ended.stdoutPath!);
    assert.ok(onCluster.length > 3 * 1024 * 1024, `the log is ${onCluster.length} bytes`);
    assert.equal(r.stdout.length, onCluster.length);
    assert.equal(sha256(r.stdout), sha256(onCluster));
  });

  test('Ctrl-C stops following at once and exits 130', async () => {
    const long = await h.json<JobInfo>(['submit', h.script('ticker.sh', 'for i in $(seq 1 600); do echo "tick $i"; sleep 0.2; done'), '--cluster', 'local']);
    try {
      const started = { at: 0 };
      const r = await cliRaw(['logs', long.id, '--follow'], {
        timeoutMs: 120_000,
        onStart: (child, out) => {
          const check = setInterval(() => {
            if (Buffer.concat(out).toString().includes('tick 3\n')) {
              clearInterval(check);
              started.at = Date.now();
              child.kill('SIGINT');
            }
          }, 50);
        },
      });
      assert.equal(r.code, 130, r.stderr);
      assert.ok(Date.now() - started.at < 3000, 'it stopped promptly');
      assert.match(r.stdout.toString(), /^tick 1\ntick 2\ntick 3\n/);
    } finally {
      await cliRaw(['cancel', long.id]);
    }
  });

  test('usage errors exit 2; an unknown job exits 1 with a message', async () => {
    const usage = await cliRaw(['logs']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /missing job ID/);
    const bad = await cliRaw(['logs', job.id, '--bytes', 'lots']);
    assert.equal(bad.code, 2);
    const unknown = await cliRaw(['logs', '99999999']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no job "99999999"/);
    assert.equal(unknown.stdout.length, 0);
  });
});
