// Fault survival, as a user would notice it, against the real local cluster
// (test/cluster/up.sh): the SSH session's server process killed mid-poll,
// slurmctld and slurmdbd stopped and restarted, the daemon killed between
// sbatch and its answer, and a 10,000-task array. In every scenario each job
// must reach the final state SLURM itself records (read as root with sacct,
// not through the daemon), no job may run twice (SLURM jobs counted by their
// working directory), and the daemon must not storm the SSH server: its logins
// (counted in the sshd log by a key only this file's daemons use) stay within
// its cap of 2 new connections per minute plus the first. Each scenario puts
// the cluster back (`test/cluster/up.sh`), also when it fails.
import { after, before, describe, test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomUUID } from 'node:crypto';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import { adoptDaemonPid } from './daemonProcess';
import {
  LoginCounter,
  SLURMCTLD_PID,
  SLURMDBD_PID,
  SlowSbatch,
  TestKey,
  acceptedLogins,
  clusterUp,
  procAlive,
  sacctRows,
  sleep,
  slurmFinal,
  slurmJobsInDir,
  sshdSessionPids,
  stopByPidFile,
} from './faultKit';
import { connectToRunningDaemon } from '../../daemon/client';
import { readStateFile, statePaths } from '../../daemon/state';
import { JobsTasks, type JobDetail, type JobInfo } from '../../daemon/protocol';

let env: ClusterEnv;
let key: TestKey;
let slow: SlowSbatch | undefined;
const since = new Date(Date.now() - 5 * 60_000);
const h = new CliHarness({ prefix: 'slurm-ml-faults-', timeoutMs: 120_000, maxBuffer: 64 << 20, untilTimeoutMs: 90_000 });

const submit = (name: string, body: string, sbatch: string[] = []) =>
  h.json<JobInfo>(['submit', h.script(name, body), '--cluster', 'local', ...(sbatch.length ? ['--', ...sbatch] : [])]);
const getJob = (id: string) => h.json<JobDetail>(['job', id]);

const untilAllTerminal = (ids: string[], timeoutMs = 90_000) =>
  h.until(
    `jobs ${ids.join(', ')} to end`,
    async () => {
      const jobs = await Promise.all(ids.map(getJob));
      return jobs.every((j) => j.terminal) ? jobs : undefined;
    },
    timeoutMs,
    1000,
  );

/** The pid of the daemon the CLI started (adopted: killed when the test process exits). */
function daemonPid(): number | undefined {
  const s = readStateFile(statePaths({ SLURM_ML_STATE_DIR: h.stateDir }).stateFile);
  if (s) adoptDaemonPid(s.pid);
  return s?.pid;
}

async function stopDaemon(): Promise<void> {
  const pid = daemonPid();
  const r = await h.run(['daemon', 'stop'], 20_000);
  if (r.code !== 0 && pid !== undefined) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      /* gone */
    }
  }
}

/** What every scenario ends with, passed or not: no daemon of ours, the cluster whole again. */
async function restore(): Promise<void> {
  slow?.restore();
  await stopDaemon();
  await clusterUp();
}

/** The registry's final word on each job equals SLURM's, and each job ran exactly once. */
async function assertMatchesSlurm(jobs: JobInfo[]): Promise<void> {
  const truth = await slurmFinal(jobs.map((j) => j.slurmJobId!));
  for (const j of jobs) {
    const t = truth.get(j.slurmJobId!)!;
    assert.equal(j.state, t.state, `job ${j.slurmJobId}: registry says ${j.state}, sacct ${t.state}`);
    assert.equal(j.exitCode, t.exitCode, `job ${j.slurmJobId}: registry exit code ${j.exitCode}, sacct ${t.exitCode}`);
    assert.deepEqual(await slurmJobsInDir(j.runDir, since), [j.slurmJobId], `exactly one SLURM job ran in ${j.runDir}`);
  }
}

function assertLogins(t: TestContext, logins: LoginCounter, min: number): void {
  const n = logins.count;
  t.diagnostic(`${n} SSH login(s) in ${logins.seconds.toFixed(1)} s (cap ${logins.cap})`);
  assert.ok(n >= min, `expected at least ${min} login(s) (the first${min > 1 ? ' and a reconnect' : ''}), saw ${n}`);
  assert.ok(n <= logins.cap, `${n} SSH logins in ${logins.seconds.toFixed(0)} s: more than the daemon's cap allows (${logins.cap})`);
}

before(async () => {
  env = loadClusterEnv();
  // Also applies the cluster's config (MaxArraySize for the 10,000-task array).
  await clusterUp();
  h.open();
  key = new TestKey(h.work);
  await key.authorize(env.user);
  await h.addLocalCluster(env, key.file);
  await stopDaemon();
});

after(async () => {
  try {
    await restore();
  } finally {
    key?.revoke();
    if (h.isOpen) {
      // Kept for a look after a failure: every daemon of this file logged there.
      const log = path.join(h.stateDir, 'daemon.log');
      if (fs.existsSync(log)) fs.copyFileSync(log, path.join(os.tmpdir(), 'slurm-ml-faults-daemon.log'));
      h.remove();
    }
  }
});

describe('fault survival', { concurrency: 1 }, () => {
  test('the sshd process serving the session is killed mid-poll: the daemon reconnects, every job ends COMPLETED', { timeout: 150_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    try {
      const jobs: JobInfo[] = [];
      for (let i = 1; i <= 3; i++) jobs.push(await submit(`fifteen-${i}.sh`, `sleep 15; echo "job ${i} done"`));
      // Polls are under way once the poller has seen a job start.
      await h.until('a job RUNNING', async () => ((await Promise.all(jobs.map((j) => getJob(j.id)))).some((j) => j.state === 'RUNNING') ? true : undefined));
      assert.equal(logins.count, 1, 'one connection so far');
      const port = acceptedLogins(key.fingerprint).at(-1)!;
      const pids = sshdSessionPids(env.port, port);
      for (const p of pids) process.kill(p, 'SIGKILL');
      t.diagnostic(`killed sshd ${pids.join(', ')} serving the daemon's connection from port ${port}`);
      const finals = await untilAllTerminal(jobs.map((j) => j.id), 120_000);
      for (const j of finals) {
        assert.equal(j.state, 'COMPLETED', `job ${j.slurmJobId}: ${j.state} (${j.reason})`);
        assert.equal(j.exitCode, 0);
      }
      await assertMatchesSlurm(finals);
      await stopDaemon();
      assertLogins(t, logins, 2);
    } finally {
      await restore();
    }
  });

  test('slurmctld stopped for 20 s, then slurmdbd: nothing is concluded meanwhile; every job ends in its true state', { timeout: 180_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    try {
      // Both end while the controller is down.
      const ok = await submit('ends-ok.sh', 'sleep 10; exit 0');
      const bad = await submit('ends-3.sh', 'sleep 10; exit 3');
      await h.until('both RUNNING', async () => ((await Promise.all([getJob(ok.id), getJob(bad.id)])).every((j) => j.state === 'RUNNING') ? true : undefined));
      const stoppedAt = Date.now();
      await stopByPidFile(SLURMCTLD_PID, 'slurmctld');
      let lastError = '';
      try {
        // squeue needs ~18 s to give up on a dead controller: wait until the daemon has reported it.
        await h.until(
          'health to report the failing squeue',
          async () => {
            const listed = await h.json<{ jobs: JobInfo[] }>(['jobs']);
            for (const id of [ok.id, bad.id]) {
              const j = listed.jobs.find((x) => x.id === id)!;
              assert.equal(j.state, 'RUNNING', `job ${j.slurmJobId} moved to ${j.state} while slurmctld was down`);
            }
            const hr = await h.run(['health', '--json']);
            const health = JSON.parse(hr.stdout) as { clusters: { name: string; connection: { status: string } }[]; poller: { lastError: string | null } };
            lastError = health.poller.lastError ?? '';
            return Date.now() - stoppedAt >= 20_000 && /squeue on local failed/.test(lastError) ? health : undefined;
          },
          60_000,
          1000,
        );
        t.diagnostic(`while slurmctld was down: ${lastError}`);
      } finally {
        await clusterUp();
      }
      t.diagnostic(`slurmctld was down ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s`);
      const [okEnd, badEnd] = await untilAllTerminal([ok.id, bad.id], 120_000);
      assert.equal(okEnd!.state, 'COMPLETED');
      assert.equal(okEnd!.exitCode, 0);
      assert.equal(badEnd!.state, 'FAILED');
      assert.equal(badEnd!.exitCode, 3);
      await assertMatchesSlurm([okEnd!, badEnd!]);

      // Accounting gone: sacct fails, the final states come from the controller (scontrol).
      await stopByPidFile(SLURMDBD_PID, 'slurmdbd');
      let ended: JobDetail[];
      try {
        const ok2 = await submit('no-acct-ok.sh', 'sleep 2');
        const bad2 = await submit('no-acct-3.sh', 'sleep 2; exit 3');
        ended = await untilAllTerminal([ok2.id, bad2.id], 60_000);
        assert.ok(!fs.existsSync(SLURMDBD_PID) || !procAlive(Number(fs.readFileSync(SLURMDBD_PID, 'utf8')), 'slurmdbd'), 'slurmdbd stayed down');
        assert.equal((await h.run(['jobs'])).code, 0);
      } finally {
        await clusterUp();
      }
      assert.deepEqual(
        ended.map((j) => [j.state, j.exitCode]),
        [
          ['COMPLETED', 0],
          ['FAILED', 3],
        ],
      );
      await assertMatchesSlurm(ended);
      await stopDaemon();
      assertLogins(t, logins, 1);
    } finally {
      await restore();
    }
  });

  test('the daemon SIGKILLed between sbatch and its answer: the job is found by its run directory, runs once, ends COMPLETED', { timeout: 150_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    const marker = `slow-submit-${randomUUID().slice(0, 8)}`;
    try {
      slow = new SlowSbatch(env.user);
      slow.install(marker, 10);
      // The CLI waiting for the submit's answer, in the background.
      const submitting = h.spawn(['submit', h.script(`${marker}.sh`, 'sleep 3; echo done'), '--cluster', 'local', '--json']);
      let out = '';
      let err = '';
      submitting.stdout.on('data', (d: Buffer) => (out += d));
      submitting.stderr.on('data', (d: Buffer) => (err += d));
      const exited = new Promise<number | null>((res) => submitting.once('exit', (code) => res(code)));
      // The record exists before sbatch runs...
      const record = await h.until('the SUBMITTING record', async () => (await h.json<{ jobs: JobInfo[] }>(['jobs'])).jobs.find((j) => j.name === `${marker}.sh`), 30_000);
      assert.equal(record.state, 'SUBMITTING');
      assert.ok(record.runDir.endsWith(record.id), record.runDir);
      // ...and SLURM has the job (in that run directory) while sbatch has not answered yet.
      const ran = await h.until('the job in SLURM', async () => {
        const ids = await slurmJobsInDir(record.runDir, since);
        return ids.length > 0 ? ids : undefined;
      }, 30_000, 200);
      assert.equal((await getJob(record.id)).state, 'SUBMITTING', "sbatch's answer is not in yet");
      const pid = daemonPid()!;
      process.kill(pid, 'SIGKILL');
      slow.disarm();
      t.diagnostic(`SIGKILLed daemon ${pid} while sbatch (SLURM job ${ran[0]}) had not answered`);
      // The CLI that waited for the answer says so and exits; it does not hang.
      const code = await Promise.race([exited, sleep(15_000).then(() => 'hung' as const)]);
      assert.notEqual(code, 'hung', 'the submitting CLI still waits 15 s after the daemon died');
      assert.equal(code, 1, `exit ${code}; stdout ${out}`);
      assert.match(err, /closed before jobs\/submit was answered/);
      t.diagnostic(`the waiting CLI said: ${err.trim()}`);
      slow.restore();
      // The next command starts a new daemon, which finds the job by its run directory.
      const final = await h.until('the job found and ended', async () => {
        const j = await getJob(record.id);
        return j.terminal ? j : undefined;
      }, 90_000, 1000);
      assert.equal(final.slurmJobId, ran[0]);
      assert.equal(final.state, 'COMPLETED', `${final.state} (${final.reason})`);
      assert.equal(final.exitCode, 0);
      await assertMatchesSlurm([final]);
      await stopDaemon();
      // The killed daemon's connection and the new daemon's.
      assertLogins(t, logins, 2);
    } finally {
      await restore();
    }
  });

  test('a 10,000-task array keeps per-task state through a partial cancel', { timeout: 150_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    const started = Date.now();
    try {
      const job = await submit('ten-thousand.sh', 'sleep 1', ['--array=0-9999%4', '--output=/dev/null']);
      await h.until('4 tasks completed', async () => ((await getJob(job.id)).array?.byState.COMPLETED ?? 0) >= 4 ? true : undefined, 60_000);
      const c = await h.run(['cancel', job.id, '--tasks', '8-9999']);
      assert.equal(c.code, 0, c.stderr);
      const final = await h.until('the array to end', async () => {
        const j = await getJob(job.id);
        return j.terminal ? j : undefined;
      }, 90_000, 1000);
      t.diagnostic(`array ${final.slurmJobId} ended ${final.state} after ${((Date.now() - started) / 1000).toFixed(1)} s: ${JSON.stringify(final.array)}`);
      assert.equal(final.state, 'CANCELLED');
      assert.equal(final.array?.total, 10_000);
      assert.equal(final.array?.done, true);
      assert.equal(Object.values(final.array!.byState).reduce((a, b) => a + b, 0), 10_000);

      const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'faults-test' });
      assert.ok(d, 'the daemon runs');
      let tasks;
      try {
        const r = await d.rpc.request(JobsTasks, { ref: job.id, limit: 10_000 });
        assert.equal(r.total, 10_000);
        tasks = r.tasks;
      } finally {
        d.rpc.close();
      }
      assert.deepEqual(tasks.map((x) => x.taskId), Array.from({ length: 10_000 }, (_, i) => i));
      const completed = tasks.filter((x) => x.state === 'COMPLETED');
      assert.ok(completed.length >= 8, `tasks 0-7 were never cancelled: ${completed.length} completed`);
      for (const x of tasks) {
        if (x.taskId < 8) assert.equal(x.state, 'COMPLETED', `task ${x.taskId}`);
        if (x.state === 'COMPLETED') assert.equal(x.exitCode, 0, `task ${x.taskId}`);
        else assert.equal(x.state, 'CANCELLED', `task ${x.taskId}: ${x.state}`);
      }
      // SLURM's own records of the tasks that ran agree.
      const rows = await sacctRows([final.slurmJobId!]);
      const byTask = new Map(tasks.map((x) => [x.taskId, x]));
      let compared = 0;
      for (const r of rows) {
        const m = /^\d+_(\d+)$/.exec(r.jobId);
        if (!m) continue;
        const x = byTask.get(Number(m[1]))!;
        assert.equal(x.state, r.state, `task ${m[1]}: registry ${x.state}, sacct ${r.state}`);
        if (r.state === 'COMPLETED') assert.equal(x.exitCode, r.exitCode);
        compared++;
      }
      assert.ok(compared >= 8, `sacct listed ${compared} tasks that ran`);
      assert.deepEqual(await slurmJobsInDir(final.runDir, since), [final.slurmJobId]);
      await stopDaemon();
      assertLogins(t, logins, 1);
    } finally {
      await restore();
    }
  });
});
