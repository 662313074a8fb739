// squeue rows from the recorded fixtures (test/fixtures/slurm, see its README).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSqueue } from '../../daemon/slurm/squeue';
import type { SqueueJob } from '../../daemon/slurm/squeue';
import { fixture, jobIdOf, manifest } from '../fixtures/slurm/fixtures';

const UTC = { timeZone: 'UTC' as const };

function rows(file: string): SqueueJob[] {
  const r = parseSqueue(fixture(file), UTC);
  assert.ok(r.ok, `${file}: ${JSON.stringify(!r.ok && r.error)}`);
  assert.deepEqual(r.issues, [], file);
  return r.value;
}

function byRawId(list: SqueueJob[], label: string): SqueueJob {
  const id = jobIdOf(label);
  const row = list.find((r) => r.rawJobId === id);
  assert.ok(row, `no squeue row for ${label} (${id})`);
  return row;
}

test('every state at the end: completed, failed, cancelled, timeout, cancelled-while-pending', () => {
  const ended = rows('squeue-final.txt');
  assert.equal(byRawId(ended, 'completed').state, 'COMPLETED');
  const failed = byRawId(ended, 'failed');
  assert.equal(failed.state, 'FAILED');
  assert.equal(failed.reason, 'NonZeroExitCode');
  assert.equal(byRawId(ended, 'cancelled').state, 'CANCELLED');
  const timeout = byRawId(ended, 'timeout');
  assert.equal(timeout.state, 'TIMEOUT');
  assert.equal(timeout.reason, 'TimeLimit');
  assert.equal(timeout.timeLimitSeconds, 60);
  assert.ok(timeout.timeUsedSeconds! > 60, 'ran past its limit');
  // squeue's TIME_LEFT for a job past its limit is the word INVALID.
  assert.equal(timeout.timeLeftSeconds, null);
  for (const label of ['pendingBegin', 'pendingHeld', 'pendingLimit']) {
    const r = byRawId(ended, label);
    assert.equal(r.state, 'CANCELLED', label);
    assert.equal(r.nodeList, null, label);
  }
});

test('pending jobs and their reasons', () => {
  const pending = rows('squeue-pending.txt');
  assert.equal(byRawId(pending, 'pendingBegin').reason, 'BeginTime');
  const held = byRawId(pending, 'pendingHeld');
  assert.equal(held.reason, 'JobHeldUser');
  assert.equal(held.priority, 0);
  const limit = byRawId(pending, 'pendingLimit');
  assert.equal(limit.reason, 'PartitionTimeLimit');
  assert.equal(limit.timeLimitSeconds, 30 * 60);
  for (const r of pending) {
    assert.equal(r.state, 'PENDING');
    assert.equal(r.nodeList, null);
    assert.ok(r.submitTime !== null);
  }
  // A --begin=now+1hour job: squeue's start is the begin time, an hour after submission.
  const begin = byRawId(pending, 'pendingBegin');
  const waited = (Date.parse(begin.startTime!) - Date.parse(begin.submitTime!)) / 1000;
  assert.ok(waited >= 3590 && waited <= 3610, String(waited));
});

test('arrays: tasks with their own ids, and the pending rest with a throttle', () => {
  const ended = rows('squeue-final.txt');
  const arrayId = jobIdOf('array');
  const tasks = ended.filter((r) => r.arrayJobId === arrayId).sort((a, b) => Number(a.arrayTaskId) - Number(b.arrayTaskId));
  assert.deepEqual(tasks.map((t) => t.jobId), [`${arrayId}_1`, `${arrayId}_2`, `${arrayId}_3`]);
  for (const t of tasks) {
    assert.equal(t.state, 'COMPLETED');
    assert.equal(t.id!.baseId, Number(arrayId));
    assert.equal(t.id!.arrayTaskId, Number(t.arrayTaskId));
  }
  const throttled = rows('squeue-pending.txt').find((r) => r.rawJobId === jobIdOf('throttled'))!;
  assert.equal(throttled.jobId, `${jobIdOf('throttled')}_[1-9%2]`);
  assert.equal(throttled.arrayTaskId, '1-9%2');
  assert.equal(throttled.id!.arrayThrottle, 2);
  assert.deepEqual(throttled.id!.arrayTaskRanges, [{ start: 1, end: 9, step: 1 }]);
});

test('the running snapshot has a running job with a node and a start', () => {
  const running = rows('squeue-running.txt');
  const r = byRawId(running, 'cancelled');
  assert.equal(r.state, 'RUNNING');
  assert.equal(r.nodeList, 'vm');
  assert.ok(r.startTime !== null && r.timeUsedSeconds !== null && r.timeLeftSeconds !== null);
  assert.equal(r.timeUsedSeconds + r.timeLeftSeconds, 5 * 60);
});

test('a name with spaces, |, quotes and non-ASCII comes back unchanged', () => {
  const r = byRawId(rows('squeue-final.txt'), 'weird');
  assert.equal(r.name, manifest.jobs.weird!.name);
  assert.equal(r.workDir, manifest.remoteDir);
});

test('fields: user, account, partition, QOS, resources, times', () => {
  const list = rows('squeue-final.txt');
  const steps = byRawId(list, 'steps');
  assert.equal(steps.partition, 'long');
  assert.equal(steps.qos, 'high');
  const r = byRawId(list, 'completed');
  assert.equal(r.user, 'hpcuser');
  assert.equal(r.account, 'research');
  assert.equal(r.partition, 'debug');
  assert.equal(r.qos, 'normal');
  assert.equal(r.numNodes, 1);
  assert.equal(r.numCpus, 1);
  assert.equal(r.minMemoryBytes, 256 * 1024 ** 2);
  assert.equal(r.tresPerNode, null);
  assert.equal(r.dependency, null);
  assert.equal(r.name, 'fixture-ok');
  assert.match(r.submitTime!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.000Z$/);
  assert.ok(r.submitTime! <= r.startTime! && r.startTime! <= r.endTime!);
  assert.equal((Date.parse(r.endTime!) - Date.parse(r.startTime!)) / 1000, r.timeUsedSeconds);
});

test('mixed known and unknown ids: only the known job is printed', () => {
  const list = rows('squeue-unknown-and-known.txt');
  assert.deepEqual(list.map((r) => r.rawJobId), [jobIdOf('completed')]);
});
