// The job state machine and array bookkeeping, on recorded real output.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isAllowedTransition } from '../../daemon/jobs/transitions';
import { aggregateState, arrayShape, formatTaskIds, taskIds, taskSelector, tasksFromSacct, tasksFromSqueue } from '../../daemon/jobs/arrays';
import { parseSqueue, parseSqueuePaths } from '../../daemon/slurm/squeue';
import { parseScontrolJobs } from '../../daemon/slurm/scontrol';
import { parseSacct } from '../../daemon/slurm/sacct';
import { fixture, jobIdOf, manifest } from '../fixtures/slurm/fixtures';
import { logPath } from '../../daemon/jobs/logs';
import type { JobInfo } from '../../daemon/protocol';

test('terminal states never move, whatever reports otherwise', () => {
  for (const from of ['COMPLETED', 'FAILED', 'CANCELLED', 'TIMEOUT', 'OUT_OF_MEMORY', 'SUBMIT_FAILED']) {
    for (const to of ['PENDING', 'RUNNING', 'COMPLETED', 'FAILED']) {
      if (from === to) continue;
      for (const source of ['squeue', 'scontrol', 'sacct'] as const) {
        assert.equal(isAllowedTransition(from, to, source), false, `${from} -> ${to} from ${source}`);
      }
    }
  }
});

test("sacct's PENDING placeholder for a running job is refused; a requeue seen live is accepted", () => {
  assert.equal(isAllowedTransition('RUNNING', 'PENDING', 'sacct'), false);
  assert.equal(isAllowedTransition('RUNNING', 'PENDING', 'squeue'), true);
  assert.equal(isAllowedTransition('COMPLETING', 'RUNNING', 'squeue'), false);
  assert.equal(isAllowedTransition('PENDING', 'RUNNING', 'squeue'), true);
  assert.equal(isAllowedTransition('RUNNING', 'COMPLETED', 'sacct'), true);
  assert.equal(isAllowedTransition('SUBMITTING', 'COMPLETED', 'sacct'), true);
  assert.equal(isAllowedTransition('LOST', 'COMPLETED', 'sacct'), true);
});

test('array tasks from recorded squeue and sacct output', () => {
  const arrayId = jobIdOf('array');
  const q = parseSqueue(fixture('squeue-final.txt'));
  assert.ok(q.ok);
  const rows = q.value.filter((r) => r.id?.baseId === Number(arrayId));
  const tasks = tasksFromSqueue(rows);
  assert.deepEqual(tasks.map((t) => t.taskId).sort(), [1, 2, 3]);
  assert.ok(tasks.every((t) => t.state === 'COMPLETED' && t.endTime !== null && t.exitCode === null));
  const a = parseSacct(fixture('sacct-final.txt'));
  assert.ok(a.ok);
  const final = tasksFromSacct(a.value.filter((j) => j.id?.baseId === Number(arrayId)));
  assert.deepEqual(final.map((t) => [t.taskId, t.state, t.exitCode]).sort(), [
    [1, 'COMPLETED', 0],
    [2, 'COMPLETED', 0],
    [3, 'COMPLETED', 0],
  ]);
});

test("an array's size comes from scontrol's task lines and pending rest", () => {
  const sc = parseScontrolJobs(fixture('scontrol-throttled.txt'));
  assert.ok(sc.ok);
  assert.deepEqual(arrayShape(sc.value), { spec: '1-9', total: 9 });
  const running = parseScontrolJobs(fixture('scontrol-array-running.txt'));
  assert.ok(running.ok);
  assert.equal(arrayShape(running.value)?.total, 3);
});

test('the array shows the worst outcome once every task ended, running while any runs', () => {
  assert.equal(aggregateState({ total: 4, byState: { COMPLETED: 3, FAILED: 1 }, done: true }), 'FAILED');
  assert.equal(aggregateState({ total: 4, byState: { COMPLETED: 3, CANCELLED: 1 }, done: true }), 'CANCELLED');
  assert.equal(aggregateState({ total: 4, byState: { COMPLETED: 4 }, done: true }), 'COMPLETED');
  assert.equal(aggregateState({ total: 4, byState: { COMPLETED: 1, RUNNING: 1, PENDING: 2 }, done: false }), 'RUNNING');
  assert.equal(aggregateState({ total: 4, byState: { PENDING: 4 }, done: false }), 'PENDING');
});

test('task id sets and their compact specs', () => {
  assert.deepEqual(taskIds('1-9:2,12%3'), [1, 3, 5, 7, 9, 12]);
  assert.equal(formatTaskIds([8, 1, 2, 3, 5, 7]), '1-3,5,7-8');
  assert.equal(formatTaskIds(taskIds('0-9999')!), '0-9999');
});

test('task selections for scancel', () => {
  assert.equal(taskSelector('41', '3'), '41_3');
  assert.equal(taskSelector('41', '3-7'), '41_[3-7]');
  assert.equal(taskSelector('41', '1,4,9-12'), '41_[1,4,9-12]');
});

test('squeue --Format paths rows, recorded', () => {
  const p = parseSqueuePaths(fixture('squeue-paths-running.txt'));
  assert.ok(p.ok, JSON.stringify(!p.ok && p.error));
  const completed = p.value.find((r) => r.jobId === jobIdOf('completed'));
  assert.ok(completed, 'the completed job has a row');
  assert.match(completed.stdOut ?? '', new RegExp(`/slurm-${jobIdOf('completed')}\\.out$`));
  assert.match(completed.tres ?? '', /cpu=\d+,mem=\d+M,node=1/);
  assert.equal(parseSqueuePaths('garbage line').ok, false);
});

test('squeue --Format paths as 24.05 and later print them: unexpanded default, (null) stderr', () => {
  // src/squeue/print.c from 24.05 (commits d573587422, bd761df1c0): STDOUT is the default pattern
  // `<WorkDir>/slurm-%j.out` when the job set none, left unexpanded without --expand-patterns;
  // STDERR is `(null)` when the job set none (before 24.05: the STDOUT path).
  const line = ['12', '/home/u/run dir/slurm-%j.out', '(null)', 'cpu=1,mem=256M,node=1,billing=1'].join('\x1f');
  const p = parseSqueuePaths(line);
  assert.ok(p.ok);
  assert.deepEqual(p.value, [{ jobId: '12', stdOut: '/home/u/run dir/slurm-%j.out', stdErr: null, tres: 'cpu=1,mem=256M,node=1,billing=1' }]);
  // The log the daemon then reads: %j filled in, stderr from stdout's file.
  const job = { slurmJobId: '12', name: 'x', stdoutPath: p.value[0]!.stdOut, stderrPath: p.value[0]!.stdErr } as JobInfo;
  assert.equal(logPath(job, 'stdout'), '/home/u/run dir/slurm-12.out');
  assert.equal(logPath(job, 'stderr'), '/home/u/run dir/slurm-12.out');
});

test('jobs are found again by their working directory in squeue --me and sacct --starttime, recorded', () => {
  const dir = manifest.remoteDir;
  const q = parseSqueue(fixture('squeue-mine-running.txt'));
  assert.ok(q.ok);
  const mine = q.value.filter((r) => r.workDir === dir).map((r) => String(r.id?.baseId));
  assert.ok(mine.includes(jobIdOf('completed')) && mine.includes(jobIdOf('cancelled')), mine.join(','));
  const a = parseSacct(fixture('sacct-since.txt'));
  assert.ok(a.ok);
  const since = a.value.filter((j) => j.workDir === dir).map((j) => j.jobIdRaw);
  for (const label of ['completed', 'failed', 'cancelled', 'timeout']) assert.ok(since.includes(jobIdOf(label)), `${label} in sacct --starttime`);
});

test('a task of an old pending rest that ran after all keeps its own record over the range row', () => {
  const a = parseSacct(fixture('sacct-final.txt'));
  assert.ok(a.ok);
  const array = a.value.filter((j) => j.id?.baseId === Number(jobIdOf('array')) && j.id?.arrayTaskId !== null);
  const single = array[0]!;
  // The same task also named by an ended range row, as sacct shows the pending rest after a partial cancel.
  const range = { ...single, jobId: `${single.id!.baseId}_[0-5%2]`, id: { ...single.id!, arrayTaskId: null, arrayTaskSpec: '0-5%2' }, state: 'CANCELLED' as const };
  const tasks = new Map(tasksFromSacct([single, range]).map((t) => [t.taskId, t]));
  assert.equal(tasks.get(single.id!.arrayTaskId!)?.state, single.state);
  assert.equal(tasks.get(0)?.state, 'CANCELLED');
});
