// sacct rows from the recorded fixtures: jobs with their steps, states
// (`CANCELLED by UID`), exit codes, arrays, odd names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FIELD_SEPARATOR, SACCT_FIELDS } from '../../daemon/slurm/commands';
import { parseSacct, parseSacctLine, parseSacctRows } from '../../daemon/slurm/sacct';
import type { SacctJob } from '../../daemon/slurm/sacct';
import { fixture, jobIdOf, manifest } from '../fixtures/slurm/fixtures';

const UTC = { timeZone: 'UTC' as const };

function jobs(file: string): SacctJob[] {
  const r = parseSacct(fixture(file), UTC);
  assert.ok(r.ok, `${file}: ${JSON.stringify(!r.ok && r.error)}`);
  assert.deepEqual(r.issues, [], file);
  return r.value;
}

function byRaw(list: SacctJob[], label: string): SacctJob {
  const id = jobIdOf(label);
  const j = list.find((r) => r.jobIdRaw === id);
  assert.ok(j, `no sacct job for ${label} (${id})`);
  return j;
}

test('each final state, with steps grouped under their job', () => {
  const list = jobs('sacct-final.txt');
  const completed = byRaw(list, 'completed');
  assert.equal(completed.state, 'COMPLETED');
  assert.deepEqual(completed.exitCode, { code: 0, signal: 0 });
  assert.deepEqual(completed.steps.map((s) => s.step), ['batch']);
  assert.equal(completed.steps[0]!.jobId, `${completed.jobId}.batch`);

  const failed = byRaw(list, 'failed');
  assert.equal(failed.state, 'FAILED');
  assert.deepEqual(failed.exitCode, { code: 3, signal: 0 });
  assert.equal(failed.steps[0]!.state, 'FAILED');

  const cancelled = byRaw(list, 'cancelled');
  assert.equal(cancelled.state, 'CANCELLED');
  assert.equal(cancelled.stateRaw, 'CANCELLED by 1001');
  assert.equal(cancelled.cancelledBy, '1001');
  // The batch step was killed by SIGTERM.
  assert.deepEqual(cancelled.steps[0]!.exitCode, { code: 0, signal: 15 });
  assert.equal(cancelled.steps[0]!.cancelledBy, null);

  const timeout = byRaw(list, 'timeout');
  assert.equal(timeout.state, 'TIMEOUT');
  assert.equal(timeout.timeLimitSeconds, 60);
  assert.ok(timeout.elapsedSeconds! > 60);
  assert.equal(timeout.steps[0]!.state, 'CANCELLED');
  // Steps that ran long enough for accounting to sample them have a MaxRSS.
  assert.ok(timeout.peakRssBytes !== null && timeout.peakRssBytes > 0);
  assert.equal(timeout.maxRssBytes, null);
});

test('srun steps .0 and .1: a failing step shows in DerivedExitCode', () => {
  const j = byRaw(jobs('sacct-final.txt'), 'steps');
  assert.equal(j.state, 'COMPLETED');
  assert.deepEqual(j.derivedExitCode, { code: 2, signal: 0 });
  assert.deepEqual(j.steps.map((s) => s.step).sort(), ['0', '1', 'batch']);
  const s1 = j.steps.find((s) => s.step === '1')!;
  assert.equal(s1.state, 'FAILED');
  assert.deepEqual(s1.exitCode, { code: 2, signal: 0 });
  assert.equal(s1.jobName, 'bash');
  assert.equal(j.partition, 'long');
  assert.equal(j.qos, 'high');
  // Steps print no partition or QOS of their own.
  assert.equal(s1.partition, null);
});

test('jobs cancelled while pending: no start, no nodes', () => {
  const list = jobs('sacct-final.txt');
  for (const label of ['pendingBegin', 'pendingHeld', 'pendingLimit']) {
    const j = byRaw(list, label);
    assert.equal(j.state, 'CANCELLED', label);
    assert.equal(j.cancelledBy, '1001');
    assert.equal(j.start, null, label);
    assert.ok(j.end !== null, label);
    assert.equal(j.nodeList, null, label);
    assert.equal(j.allocTres, null, label);
    assert.equal(j.steps.length, 0, label);
  }
  assert.equal(byRaw(list, 'pendingBegin').reason, 'BeginTime');
  assert.equal(byRaw(list, 'pendingHeld').eligible, null);
});

test('arrays: tasks by JobID `A_N`, the pending rest as `A_[spec]`', () => {
  const list = jobs('sacct-final.txt');
  const arrayId = jobIdOf('array');
  const tasks = list.filter((j) => j.id?.baseId === Number(arrayId) && j.id.arrayTaskId !== null);
  assert.deepEqual(tasks.map((t) => t.jobId).sort(), [`${arrayId}_1`, `${arrayId}_2`, `${arrayId}_3`]);
  for (const t of tasks) {
    assert.equal(t.state, 'COMPLETED');
    assert.deepEqual(t.steps.map((s) => s.jobId), [`${t.jobId}.batch`]);
  }
  const throttled = list.find((j) => j.jobIdRaw === jobIdOf('throttled'))!;
  assert.equal(throttled.jobId, `${jobIdOf('throttled')}_[1-9%2]`);
  assert.equal(throttled.id!.arrayThrottle, 2);
});

test('an odd job name: slurmdbd stores `"` as a backquote, the rest survives', () => {
  const j = byRaw(jobs('sacct-final.txt'), 'weird');
  assert.equal(j.jobName, manifest.jobs.weird!.name.replace(/"/g, '`'));
  assert.equal(j.workDir, manifest.remoteDir);
});

test('times, resources and accounting fields', () => {
  const j = byRaw(jobs('sacct-final.txt'), 'completed');
  assert.equal(j.user, 'hpcuser');
  assert.equal(j.account, 'research');
  assert.equal(j.partition, 'debug');
  assert.equal(j.numNodes, 1);
  assert.equal(j.numCpus, 1);
  assert.deepEqual(j.reqMem, { bytes: 256 * 1024 ** 2, per: null });
  assert.equal(j.reqTres!.cpus, 1);
  assert.equal(j.allocTres!.memBytes, 256 * 1024 ** 2);
  assert.equal(j.nodeList, 'vm');
  assert.ok(j.submit! <= j.start! && j.start! <= j.end!);
  assert.equal((Date.parse(j.end!) - Date.parse(j.start!)) / 1000, j.elapsedSeconds);
  assert.ok(j.totalCpuSeconds !== null && j.totalCpuSeconds < 1);
  assert.equal(j.cpuTimeSeconds, j.elapsedSeconds);
  // Steps have no time limit of their own.
  assert.equal(j.steps[0]!.timeLimitSeconds, null);
});

test('the running snapshot: RUNNING jobs have no end yet', () => {
  const j = byRaw(jobs('sacct-running.txt'), 'cancelled');
  assert.equal(j.state, 'RUNNING');
  assert.equal(j.end, null);
  assert.ok(j.start !== null);
});

test('sacct for an unknown id prints nothing (and exits 0)', () => {
  assert.deepEqual(parseSacct(fixture('sacct-unknown-id.txt')), { ok: true, value: [], issues: [] });
});

test('a `|` in the name, a name holding the separator, and cut `+` cells', () => {
  const cells: string[] = SACCT_FIELDS.map((f) => (f === 'JobID' ? '9' : f === 'JobIDRaw' ? '9' : f === 'State' ? 'CANCELLED+' : f === 'ExitCode' ? '0:9' : ''));
  cells[cells.length - 1] = `a|b${FIELD_SEPARATOR}c`;
  const row = parseSacctLine(cells.join(FIELD_SEPARATOR));
  assert.ok(typeof row !== 'string');
  assert.equal(row.jobName, `a|b${FIELD_SEPARATOR}c`);
  assert.equal(row.state, 'CANCELLED');
  assert.deepEqual(row.exitCode, { code: 0, signal: 9 });
  assert.equal(row.numCpus, null);
});

test('steps without their job row are reported, not invented', () => {
  const lines = fixture('sacct-final.txt').split('\n').filter((l) => l.includes('.batch'));
  const r = parseSacct(lines.join('\n'));
  assert.ok(r.ok);
  assert.equal(r.value.length, 0);
  assert.equal(r.issues.length, lines.filter((l) => l !== '').length);
  assert.equal(parseSacctRows(lines.join('\n')).ok, true);
});
