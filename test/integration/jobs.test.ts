// Job tracking on the real cluster: arrays with per-task states, cancelling
// tasks, idempotent submits, resubmits, a daemon restart in the middle of a
// job, and 1,000 jobs followed with one squeue per cycle.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';
import { connectToRunningDaemon } from '../../daemon/client';
import { statePaths } from '../../daemon/state';
import { JobsSubmit, JobsTasks, type JobDetail, type JobInfo } from '../../daemon/protocol';
import { SshSession } from '../../daemon/ssh/session';
import { openDatabase } from '../../daemon/db/database';
import { createApp } from '../../daemon/app';
import { createLogger, memorySink } from '../../daemon/log';

let env: ClusterEnv;
let ssh: SshSession;
const h = new CliHarness({ prefix: 'slurm-ml-jobs-' });

async function squeueCount(filter: string): Promise<number> {
  const r = await ssh.exec(['squeue', '--noheader', '--me', '--states=all', '--format=%i %Z']);
  return r.stdout.split('\n').filter((l) => l.includes(filter)).length;
}

before(async () => {
  env = loadClusterEnv();
  h.open();
  ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  await h.addLocalCluster(env);
});

after(async () => {
  await h.close();
  await ssh.close();
});

describe('job arrays', () => {
  test('each task has its own state and exit code; the array ends with the worst outcome', async () => {
    const r = await h.run(['submit', h.script('array.sh', 'echo "task $SLURM_ARRAY_TASK_ID"; [ "$SLURM_ARRAY_TASK_ID" = 4 ] && exit 2; exit 0'), '--cluster', 'local', '--wait', '--json', '--', '--array=1-6']);
    assert.equal(r.code, 4, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.equal(job.state, 'FAILED');
    assert.deepEqual(job.array, { total: 6, byState: { COMPLETED: 5, FAILED: 1 }, done: true });
    assert.equal(job.exitCode, 2);
    const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'jobs-test' });
    assert.ok(d);
    try {
      const { total, tasks } = await d.rpc.request(JobsTasks, { ref: job.id });
      assert.equal(total, 6);
      assert.deepEqual(tasks.map((t) => [t.taskId, t.state, t.exitCode]), [
        [1, 'COMPLETED', 0],
        [2, 'COMPLETED', 0],
        [3, 'COMPLETED', 0],
        [4, 'FAILED', 2],
        [5, 'COMPLETED', 0],
        [6, 'COMPLETED', 0],
      ]);
      assert.ok(tasks.every((t) => t.slurmJobId && t.startTime && t.endTime));
    } finally {
      d.rpc.close();
    }
  });

  test('cancelling a range of tasks cancels only those; cancelling the array ends the rest', async () => {
    const job = await h.json<JobInfo>(['submit', h.script('sleepy-array.sh', 'sleep 300'), '--cluster', 'local', '--', '--array=1-8%2']);
    await h.until('tasks 1 and 2 running', async () => {
      const j = await h.json<JobDetail>(['job', job.id]);
      return (j.array?.byState.RUNNING ?? 0) === 2 ? j : undefined;
    });
    const r = await h.run(['cancel', job.id, '--tasks', '3-5']);
    assert.equal(r.code, 0, r.stderr);
    const after3 = await h.until('tasks 3-5 cancelled', async () => {
      const j = await h.json<JobDetail>(['job', job.id]);
      return (j.array?.byState.CANCELLED ?? 0) === 3 ? j : undefined;
    });
    assert.equal(after3.terminal, false, 'the array goes on');
    assert.equal(after3.array?.byState.RUNNING, 2);
    const all = await h.run(['cancel', job.id]);
    assert.equal(all.code, 0, all.stderr);
    const done = await h.until('array cancelled', async () => {
      const j = await h.json<JobDetail>(['job', job.id]);
      return j.terminal ? j : undefined;
    });
    assert.equal(done.state, 'CANCELLED');
    assert.equal(done.array?.total, 8);
    assert.equal(done.array?.byState.CANCELLED, 8);
  });
});

describe('submitting', () => {
  test('a submit repeated with the same id runs once', async () => {
    const d = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: h.stateDir }), clientName: 'jobs-test' });
    assert.ok(d);
    try {
      const id = randomUUID();
      const params = { id, cluster: 'local', script: '#!/bin/sh\nsleep 1\n', scriptName: 'once.sh', sbatchArgs: [] };
      const [a, b] = await Promise.all([d.rpc.request(JobsSubmit, params, { timeoutMs: 60_000 }), d.rpc.request(JobsSubmit, params, { timeoutMs: 60_000 })]);
      const c = await d.rpc.request(JobsSubmit, params, { timeoutMs: 60_000 });
      assert.equal(a.id, id);
      assert.equal(b.id, id);
      assert.equal(c.slurmJobId, (await h.json<JobDetail>(['job', id])).slurmJobId);
      assert.equal(await squeueCount(id), 1, 'exactly one SLURM job runs in that run directory');
    } finally {
      d.rpc.close();
    }
  });

  test('a job keeps being followed across a daemon restart and reaches its final state', async () => {
    const job = await h.json<JobInfo>(['submit', h.script('across-restart.sh', 'sleep 8; exit 5'), '--cluster', 'local']);
    const stopped = await h.run(['daemon', 'stop']);
    assert.equal(stopped.code, 0, stopped.stderr);
    // While no daemon runs, the job ends on the cluster.
    await h.until('the job ended on the cluster', async () => {
      const r = await ssh.exec(['squeue', '--noheader', '--states=all', `--jobs=${job.slurmJobId}`, '--format=%T']);
      return ['FAILED', 'COMPLETED'].includes(r.stdout.trim()) ? true : undefined;
    });
    // The next command starts a fresh daemon, which finds the unfinished record and polls it.
    const final = await h.until('the record is final', async () => {
      const j = await h.json<JobDetail>(['job', job.id]);
      return j.terminal ? j : undefined;
    });
    assert.equal(final.state, 'FAILED');
    assert.equal(final.exitCode, 5);
  });
});

describe('polling', () => {
  test('1,000 active jobs are followed with one squeue per cycle', async () => {
    // 1,000 held jobs, submitted on the cluster in one command.
    const r = await ssh.exec(['bash', '-c', 'for i in $(seq 1000); do sbatch --parsable --hold --job-name=bulk --output=/dev/null --wrap=true || exit 1; done'], { timeoutMs: 600_000 });
    assert.equal(r.code, 0, r.stderr);
    const ids = r.stdout.trim().split('\n');
    assert.equal(ids.length, 1000);
    try {
      const db = openDatabase(':memory:');
      const sink = memorySink('warn');
      const app = createApp({
        db,
        databasePath: ':memory:',
        log: createLogger(sink),
        logSink: sink,
        pollIntervalMs: 60_000,
        location: { stateDir: h.work, stateFile: path.join(h.work, 'x.json'), port: () => 0, startedAt: new Date().toISOString() },
        requestShutdown: () => {},
      });
      try {
        const c = app.clusters.add({ name: 'local', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
        for (const id of ids) {
          const j = app.jobs.create({ clusterId: c.id, name: 'bulk', script: 'true', scriptPath: '/dev/null', runDir: '/tmp', sbatchArgs: [] });
          app.jobs.update(j.id, { slurmJobId: id, state: 'PENDING' });
        }
        const first = (await app.poller.tick()).get('local');
        // squeue for states + one squeue --Format for the new jobs' paths.
        assert.deepEqual(first, { commands: 2, changed: 1000 });
        const second = (await app.poller.tick()).get('local');
        assert.deepEqual(second, { commands: 1, changed: 0 });
        assert.ok(app.jobs.active().every((j) => j.state === 'PENDING' && j.reason === 'JobHeldUser' && j.stdoutPath === '/dev/null'));
      } finally {
        await app.close();
        db.close();
      }
    } finally {
      await ssh.exec(['scancel', '--name=bulk', '--me']);
    }
  });
});
