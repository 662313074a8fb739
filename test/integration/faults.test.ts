// Fault survival, as a user would notice it, against the real local cluster
// (test/cluster/up.sh): the SSH session's server process killed mid-poll and
// mid-SFTP-upload, the session hung (SIGSTOP) until keepalive gives up,
// slurmctld and slurmdbd stopped and restarted, the daemon killed between
// sbatch and its answer, during a migration and during a retrain, two windows
// and the CLI sharing a daemon that dies and restarts, and a 10,000-task
// array. After each the registry passes PRAGMA integrity_check. In every scenario each job
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
import {
  LoginCounter,
  SLURMCTLD_PID,
  SLURMDBD_PID,
  SlowSbatch,
  TestKey,
  acceptedLogins,
  clusterUp,
  execHome,
  procAlive,
  sacctRows,
  sleep,
  slurmFinal,
  slurmJobsInDir,
  sshdSessionPids,
  stopByPidFile,
} from './faultKit';
import { connectOrStartDaemon, connectToRunningDaemon, type ConnectedDaemon } from '../../daemon/client';
import { readStateFile, statePaths } from '../../daemon/state';
import { openDatabase, schemaVersion } from '../../daemon/db/database';
import { migrations } from '../../daemon/db/migrations';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { Health, JobsDidChange, JobsSubmit, JobsTasks, type JobDetail, type JobInfo } from '../../daemon/protocol';
import type { RpcError } from '../../daemon/rpc/connection';
import { adoptDaemonPid, daemonScript, freshStateDir, spawnDaemon, startDaemon } from './daemonProcess';
import { ensureFinishedJobs, TEST_RUNTIME_ENV } from '../cluster/history';

let env: ClusterEnv;
let key: TestKey;
let slow: SlowSbatch | undefined;
const since = new Date(Date.now() - 5 * 60_000);
const h = new CliHarness({ prefix: 'slurm-ml-faults-', env: TEST_RUNTIME_ENV, timeoutMs: 120_000, maxBuffer: 64 << 20, untilTimeoutMs: 90_000 });

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

/** Every job ends COMPLETED with exit code 0 (within 2 minutes), as SLURM's own records say, each run once. */
async function assertAllCompleted(ids: string[]): Promise<void> {
  const finals = await untilAllTerminal(ids, 120_000);
  for (const j of finals) {
    assert.equal(j.state, 'COMPLETED', `job ${j.slurmJobId}: ${j.state} (${j.reason})`);
    assert.equal(j.exitCode, 0);
  }
  await assertMatchesSlurm(finals);
}

function assertLogins(t: TestContext, logins: LoginCounter, min: number): void {
  const n = logins.count;
  t.diagnostic(`${n} SSH login(s) in ${logins.seconds.toFixed(1)} s (cap ${logins.cap})`);
  assert.ok(n >= min, `expected at least ${min} login(s) (the first${min > 1 ? ' and a reconnect' : ''}), saw ${n}`);
  assert.ok(n <= logins.cap, `${n} SSH logins in ${logins.seconds.toFixed(0)} s: more than the daemon's cap allows (${logins.cap})`);
}

/** The registry passes PRAGMA integrity_check (read with no daemon running). */
function assertIntegrity(t: TestContext, file = path.join(h.stateDir, 'registry.db')): void {
  const db = openDatabase(file);
  try {
    const check = db.pragma('integrity_check', { simple: true });
    t.diagnostic(`PRAGMA integrity_check: ${String(check)}`);
    assert.equal(check, 'ok');
  } finally {
    db.close();
  }
}

/** The sshd processes of the daemon's newest login (our key's). */
function newestSessionPids(): number[] {
  return sshdSessionPids(env.port, acceptedLogins(key.fingerprint).at(-1)!);
}

before(async () => {
  env = loadClusterEnv();
  // Also applies the cluster's config (MaxArraySize for the 10,000-task array).
  await clusterUp();
  // The retrain scenario trains a runtime model: a fresh cluster has no history for one.
  await ensureFinishedJobs();
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
      await assertAllCompleted(jobs.map((j) => j.id));
      await stopDaemon();
      assertIntegrity(t);
      assertLogins(t, logins, 2);
    } finally {
      await restore();
    }
  });

  test('slurmctld stopped for 60 s, then slurmdbd: nothing is concluded meanwhile; every job ends in its true state', { timeout: 300_000 }, async (t) => {
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
        // 60 s down (squeue needs ~18 s to give up on a dead controller): and the daemon has reported it.
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
            return Date.now() - stoppedAt >= 60_000 && /squeue on local failed/.test(lastError) ? health : undefined;
          },
          120_000,
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
      assertIntegrity(t);
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
      assertIntegrity(t);
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
      assertIntegrity(t);
      assertLogins(t, logins, 1);
    } finally {
      await restore();
    }
  });

  test('the sshd serving the session is killed mid-SFTP-upload: nothing half-uploaded is submitted; a retry runs once', { timeout: 240_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    const ws = path.join(h.work, 'upload-workspace');
    const runs = path.join(execHome(env.user), '.slurm-ml', 'runs');
    const made: string[] = [];
    try {
      fs.mkdirSync(ws, { recursive: true });
      fs.writeFileSync(
        path.join(ws, 'train.py'),
        [
          'import json, os',
          "d = os.environ['SLURM_ML_ARTIFACT_DIR']",
          'os.makedirs(d, exist_ok=True)',
          "open(os.path.join(d, 'model.txt'), 'w').write('fault-upload')",
          "json.dump({'accuracy': 1.0}, open(os.environ['SLURM_ML_METRICS_FILE'], 'w'))",
          '',
        ].join('\n'),
      );
      // A config big enough that its upload takes a while (valid JSON; the job never reads it).
      const config = path.join(ws, 'config.json');
      const fd = fs.openSync(config, 'w');
      fs.writeSync(fd, '{"pad": "');
      const chunk = Buffer.alloc(1 << 20, 'x');
      for (let i = 0; i < 200; i++) fs.writeSync(fd, chunk);
      fs.writeSync(fd, '"}\n');
      fs.closeSync(fd);
      const full = fs.statSync(config).size;
      const before = new Set(fs.existsSync(runs) ? fs.readdirSync(runs) : []);
      const train = () => h.spawn(['train', 'fault-upload', '--cluster', 'local', '--entrypoint', 'train.py', '--config', 'config.json', '--workspace', ws, '--json']);
      const first = train();
      let out = '';
      let err = '';
      first.stdout.on('data', (d: Buffer) => (out += d));
      first.stderr.on('data', (d: Buffer) => (err += d));
      let firstExited: number | null | undefined;
      const firstExit = new Promise<number | null>((res) => first.once('exit', (code) => res((firstExited = code))));
      // The upload under way: the config is on the cluster, in part.
      const partial = await h.until(
        'the config upload under way',
        () => {
          // A train that ended before its upload was seen says why (once, CI waited 90 s here for nothing).
          if (firstExited !== undefined) assert.fail(`the first train exited ${firstExited} before its config upload was seen: ${err.trim() || out.trim()}`);
          for (const d of fs.existsSync(runs) ? fs.readdirSync(runs) : []) {
            if (before.has(d)) continue;
            const f = path.join(runs, d, 'config.json');
            const size = fs.existsSync(f) ? fs.statSync(f).size : 0;
            if (size > 0 && size < full) return { dir: path.join(runs, d), size };
          }
          return undefined;
        },
        90_000,
        10,
      );
      made.push(partial.dir);
      const pids = newestSessionPids();
      for (const p of pids) process.kill(p, 'SIGKILL');
      t.diagnostic(`killed sshd ${pids.join(', ')} with ${partial.size} of ${full} bytes of config.json uploaded into ${partial.dir}`);
      const code = await firstExit;
      t.diagnostic(`the first train exited ${code}: ${(err || out).trim().slice(0, 300)}`);
      // Whatever the daemon made of it, SLURM never got a job whose files were cut short.
      const listed = await h.json<{ jobs: JobInfo[] }>(['jobs']);
      const firstJob = listed.jobs.find((j) => j.runDir === partial.dir);
      assert.ok(firstJob, `a record for the run directory ${partial.dir}`);
      const ran = await slurmJobsInDir(partial.dir, since);
      if (firstJob.state === 'SUBMIT_FAILED' || firstJob.state === 'SUBMITTING') {
        assert.notEqual(code, 0, 'the train that failed says so');
        assert.deepEqual(ran, [], 'no SLURM job ran in the run directory whose upload was cut');
        const settled = await h.until('the first record settled', async () => {
          const j = await getJob(firstJob.id);
          return j.state === 'SUBMIT_FAILED' ? j : undefined;
        }, 60_000, 1000);
        t.diagnostic(`first attempt: ${settled.state} (${settled.reason})`);
        assert.match(settled.reason ?? '', /uploading a file to local:.*config\.json failed: .*lost/, 'the reason names the upload that was cut');
      } else {
        // The daemon retried the upload itself: then the whole file is there and the job ran once.
        assert.equal(fs.statSync(path.join(partial.dir, 'config.json')).size, full, 'the submitted job has its whole config');
        assert.equal(ran.length, 1);
      }
      // The person tries again: one job, to its end, its version registered.
      const second = await h.json<JobInfo>(['train', 'fault-upload', '--cluster', 'local', '--entrypoint', 'train.py', '--config', 'config.json', '--workspace', ws, '--wait']);
      made.push(second.runDir);
      assert.equal(second.state, 'COMPLETED', `${second.state} (${second.reason})`);
      assert.equal(fs.statSync(path.join(second.runDir, 'config.json')).size, full);
      await assertMatchesSlurm([second]);
      await stopDaemon();
      assertIntegrity(t);
      assertLogins(t, logins, 2);
    } finally {
      for (const d of made) fs.rmSync(d, { recursive: true, force: true });
      await restore();
    }
  });

  test("the session hangs (its sshd SIGSTOPped) until keepalive gives up: the daemon reconnects, every job ends COMPLETED", { timeout: 180_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    const stopped: number[] = [];
    try {
      // The user's own keepalive, as ssh reads it: a server silent for 2 × 2 s is dead.
      const config = path.join(h.work, 'ssh_config_keepalive');
      fs.writeFileSync(
        config,
        [
          'Host faults-hung',
          `  HostName ${env.host}`,
          `  Port ${env.port}`,
          `  User ${env.user}`,
          `  IdentityFile ${key.file}`,
          `  UserKnownHostsFile ${env.knownHostsFile}`,
          '  IdentityAgent none',
          '  ServerAliveInterval 2',
          '  ServerAliveCountMax 2',
          '',
        ].join('\n'),
      );
      const added = await h.run(['cluster', 'add', 'hung', '--ssh-alias', 'faults-hung', '--ssh-config', config]);
      assert.ok(added.code === 0 || /already/.test(added.stderr), added.stderr);
      const jobs: JobInfo[] = [];
      for (let i = 1; i <= 2; i++) jobs.push(await h.json<JobInfo>(['submit', h.script(`hung-${i}.sh`, `sleep 20; echo "job ${i} done"`), '--cluster', 'hung']));
      await h.until('a job RUNNING', async () => ((await Promise.all(jobs.map((j) => getJob(j.id)))).some((j) => j.state === 'RUNNING') ? true : undefined));
      const loginsBefore = logins.count;
      stopped.push(...newestSessionPids());
      const stoppedAt = Date.now();
      for (const p of stopped) process.kill(p, 'SIGSTOP');
      t.diagnostic(`SIGSTOPped sshd ${stopped.join(', ')}`);
      // Keepalive notices the silent server and the daemon logs in again (a new login in the sshd log).
      await h.until('a new login after the hang', () => (logins.count > loginsBefore ? true : undefined), 90_000, 500);
      t.diagnostic(`reconnected ${((Date.now() - stoppedAt) / 1000).toFixed(1)} s after the hang began`);
      await assertAllCompleted(jobs.map((j) => j.id));
      await stopDaemon();
      assertIntegrity(t);
      assertLogins(t, logins, 2);
    } finally {
      for (const p of stopped) {
        try {
          process.kill(p, 'SIGCONT');
          process.kill(p, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
      await restore();
    }
  });

  /** Undoes migrations 8 (the jobs' estimate column) and 7 (the SLURM id index): the registry as a slurm-ml before 7 left it. */
  function downgradeBefore7(db: ReturnType<typeof openDatabase>): void {
    const cols = (db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name);
    if (cols.includes('estimate')) db.exec('ALTER TABLE jobs DROP COLUMN estimate');
    db.exec('DROP INDEX IF EXISTS jobs_by_slurm_id; DELETE FROM schema_migrations WHERE version >= 7;');
  }

  test('the daemon SIGKILLed during a migration: the next start migrates from scratch; nothing lost, integrity_check ok', { timeout: 180_000 }, async (t) => {
    // A registry of the version before the newest index (migration 7), big enough that building it takes a while.
    const stateDir = freshStateDir();
    fs.mkdirSync(stateDir, { recursive: true, mode: 0o700 });
    const file = path.join(stateDir, 'registry.db');
    const older = migrations.filter((m) => m.version < 7);
    // Filled by today's JobStore at the newest schema, then taken back to what a slurm-ml before migration 7 left.
    let db = openDatabase(file);
    const cluster = new ClusterStore(db).add({ name: 'm', host: '127.0.0.1', port: 1, user: 'nobody', knownHostsFile: '/nonexistent' });
    const store = new JobStore(db);
    db.transaction(() => {
      for (let i = 0; i < 5000; i++) {
        const j = store.create({ clusterId: cluster.id, name: `m-${i}`, script: 'true', scriptPath: '/r/s.sh', runDir: `/r/${i}`, sbatchArgs: [] });
        store.update(j.id, { slurmJobId: String(500_000 + i), state: i % 2 ? 'COMPLETED' : 'PENDING' });
      }
    })();
    downgradeBefore7(db);
    const cols = (db.pragma('table_info(jobs)') as { name: string }[]).map((c) => c.name);
    const select = cols.map((c) => (c === 'id' ? 'lower(hex(randomblob(16)))' : c === 'slurm_job_id' ? "CAST(abs(random()) AS TEXT)" : c)).join(', ');
    for (let k = 0; k < 6; k++) db.exec(`INSERT INTO jobs (${cols.join(', ')}) SELECT ${select} FROM jobs`);
    const total = (db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n;
    const active = (db.prepare("SELECT count(*) AS n FROM jobs WHERE state = 'PENDING'").get() as { n: number }).n;
    db.pragma('wal_checkpoint(TRUNCATE)');
    db.close();
    t.diagnostic(`registry at schema ${Math.max(...older.map((m) => m.version))} with ${total} jobs (${active} pending)`);

    // Started, then killed once the migration's transaction is writing (the WAL grows) and before it committed.
    let killedMidway = false;
    for (let attempt = 1; attempt <= 5 && !killedMidway; attempt++) {
      const { child } = spawnDaemon(stateDir);
      const wal = `${file}-wal`;
      const walSize = () => (fs.existsSync(wal) ? fs.statSync(wal).size : 0);
      const deadline = Date.now() + 30_000;
      const startedAt = Date.now();
      while (walSize() < 1 << 20 && Date.now() < deadline && child.exitCode === null) await sleep(1);
      child.kill('SIGKILL');
      const walAtKill = walSize();
      await new Promise((r) => (child.exitCode !== null || child.signalCode !== null ? r(null) : child.once('exit', r)));
      // An older slurm-ml's view: it refuses a registry the migration committed, opens one it did not.
      try {
        db = openDatabase(file, older);
        db.close();
        killedMidway = walAtKill >= 1 << 20;
        t.diagnostic(`attempt ${attempt}: killed ${Date.now() - startedAt} ms after start with ${walAtKill} bytes in the WAL, migration 7 not committed`);
      } catch (err) {
        t.diagnostic(`attempt ${attempt}: the migration had committed (${(err as Error).message}); rolling it back to try again`);
        db = openDatabase(file);
        downgradeBefore7(db);
        db.pragma('wal_checkpoint(TRUNCATE)');
        db.close();
      }
    }
    assert.ok(killedMidway, 'the daemon was killed during the migration in one of 5 attempts');
    assertIntegrity(t, file);

    // The next start migrates and serves every job.
    const d = await startDaemon({ stateDir, timeoutMs: 60_000 });
    try {
      const c = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: stateDir }), clientName: 'faults-migration' });
      assert.ok(c);
      const health = await c.rpc.request(Health, {});
      c.rpc.close();
      assert.equal(health.database.ok, true);
      assert.equal(health.database.schemaVersion, Math.max(...migrations.map((m) => m.version)));
      assert.equal(health.poller.activeJobs, active, 'every unfinished job is still followed');
    } finally {
      await d.stop(15_000);
    }
    db = openDatabase(file);
    try {
      assert.equal((db.prepare('SELECT count(*) AS n FROM jobs').get() as { n: number }).n, total, 'no job lost');
      assert.equal(schemaVersion(db), Math.max(...migrations.map((m) => m.version)));
    } finally {
      db.close();
    }
    assertIntegrity(t, file);
    fs.rmSync(path.dirname(stateDir), { recursive: true, force: true });
  });

  test('the daemon SIGKILLed during a retrain: every registered version has its model; the next retrain succeeds', { timeout: 240_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    interface TrainOut { version: number; jobs: number; promoted: boolean }
    interface ModelOut { versions: { version: number; artifactPath: string; artifacts: { path: string; size: number }[]; aliases: string[] }[]; totalVersions: number }
    try {
      const t0 = Date.now();
      const first = await h.json<TrainOut>(['runtime', 'train', '--cluster', 'local']);
      const took = Date.now() - t0;
      t.diagnostic(`a retrain took ${took} ms (v${first.version}, ${first.jobs} jobs)`);
      // The kill lands while the trees grow: the daemon logs when training starts (after reading
      // sacct, which takes most of a retrain that has little new to read, so a fixed delay can miss it).
      const log = path.join(h.stateDir, 'daemon.log');
      const trainings = () => (fs.readFileSync(log, 'utf8').match(/runtime model: training/g) ?? []).length;
      const before = trainings();
      const training = h.spawn(['runtime', 'train', '--cluster', 'local', '--json']);
      let err = '';
      training.stderr.on('data', (d: Buffer) => (err += d));
      const exited = new Promise<number | null>((res) => training.once('exit', (code) => res(code)));
      const started = Date.now();
      while (trainings() === before) {
        assert.ok(Date.now() - started < 60_000, 'the retrain reached its training step within a minute');
        await sleep(10);
      }
      const pid = daemonPid()!;
      process.kill(pid, 'SIGKILL');
      const code = await exited;
      t.diagnostic(`SIGKILLed daemon ${pid} ${Date.now() - started} ms into a retrain, as its trees grew; the CLI: ${err.trim()}`);
      assert.equal(code, 1, 'the retrain was under way: its CLI lost the daemon');
      assert.match(err, /closed before runtime\/train was answered/);
      // A new daemon: every version the registry lists has its files; prod points at one of them.
      const check = async () => {
        const m = await h.json<ModelOut>(['model', 'runtime-local', '--limit', '100']);
        for (const v of m.versions) for (const a of v.artifacts) assert.equal(fs.existsSync(a.path) && fs.statSync(a.path).size, a.size, `v${v.version}: ${a.path}`);
        assert.ok(m.versions.some((v) => v.aliases.includes('prod')), 'a version is prod');
        return m;
      };
      const after = await check();
      const next = await h.json<TrainOut>(['runtime', 'train', '--cluster', 'local']);
      assert.equal(next.version, Math.max(...after.versions.map((v) => v.version)) + 1);
      await check();
      await stopDaemon();
      assertIntegrity(t);
      assertLogins(t, logins, 2);
    } finally {
      await restore();
    }
  });

  test('two windows and the CLI share one daemon while it dies and restarts: one daemon again, no job twice, every job ends', { timeout: 240_000 }, async (t) => {
    const logins = new LoginCounter(key.fingerprint);
    const clients: ConnectedDaemon[] = [];
    const paths = statePaths({ SLURM_ML_STATE_DIR: h.stateDir });
    const startOpts = (name: string) => ({ paths, clientName: name, daemonScript, env: h.env() });
    const seen = new Map<string, Map<string, JobInfo>>();
    const connect = async (name: string) => {
      const c = await connectOrStartDaemon(startOpts(name));
      const mine = seen.get(name) ?? new Map<string, JobInfo>();
      seen.set(name, mine);
      c.rpc.onNotification(JobsDidChange, (p) => mine.set(p.job.id, p.job));
      clients.push(c);
      return c;
    };
    try {
      await h.run(['jobs']);
      let a = await connect('window-a');
      let b = await connect('window-b');
      const j1 = await a.rpc.request(JobsSubmit, { cluster: 'local', script: '#!/bin/bash\nsleep 8; echo one\n', scriptName: 'shared-1.sh' });
      const j2 = await h.json<JobInfo>(['submit', h.script('shared-2.sh', 'sleep 8; echo two'), '--cluster', 'local']);
      // Window B submits and the daemon dies before B hears back: B does not know whether it landed.
      const j3id = randomUUID();
      const pending = b.rpc.request(JobsSubmit, { id: j3id, cluster: 'local', script: '#!/bin/bash\nsleep 8; echo three\n', scriptName: 'shared-3.sh' });
      await sleep(50);
      const dead = daemonPid()!;
      process.kill(dead, 'SIGKILL');
      const lost = await pending.then(
        () => 'answered',
        (e: RpcError) => e.code,
      );
      t.diagnostic(`daemon ${dead} SIGKILLed; window B's submit: ${lost}`);
      // Everyone comes back at once: the CLI and both windows each start a daemon if none runs.
      const [cli] = await Promise.all([h.run(['jobs', '--json']), (async () => (a = await connect('window-a')))(), (async () => (b = await connect('window-b')))()]);
      assert.equal(cli.code, 0, cli.stderr);
      const live = daemonPid()!;
      assert.notEqual(live, dead);
      assert.equal(a.state.pid, live, 'window A talks to the one daemon');
      assert.equal(b.state.pid, live, 'window B talks to the one daemon');
      // B sends its submit again, with the same id: the daemon answers with the job, if any, rather than submitting twice.
      const j3 = await b.rpc.request(JobsSubmit, { id: j3id, cluster: 'local', script: '#!/bin/bash\nsleep 8; echo three\n', scriptName: 'shared-3.sh' });
      assert.equal(j3.id, j3id);
      const finals = await untilAllTerminal([j1.id, j2.id, j3.id], 120_000);
      for (const j of finals) assert.equal(j.state, 'COMPLETED', `job ${j.slurmJobId}: ${j.state} (${j.reason})`);
      await assertMatchesSlurm(finals);
      // Both windows heard each job end, whoever submitted it.
      await h.until('both windows to hear every end', () => ([...seen.values()].every((m) => [j1.id, j2.id, j3.id].every((id) => m.get(id)?.terminal)) ? true : undefined), 30_000);
      for (const c of clients) c.rpc.close();
      await stopDaemon();
      assertIntegrity(t);
      assertLogins(t, logins, 2);
    } finally {
      for (const c of clients) c.rpc.close();
      await restore();
    }
  });
});
