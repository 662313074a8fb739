// The extension's queue toward the dashboard (webview/latestQueue.ts): of a
// burst, only the latest of each kind and of each job is posted; log appends
// add up until a reset.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatestQueue } from '../../webview/latestQueue';
import type { HostToWebview, JobRow } from '../../webview/protocol';

function row(id: string, progress: number): JobRow {
  return { id, cluster: 'hpc', slurmJobId: id, name: `job-${id}`, state: 'RUNNING', terminal: false, kind: 'job', reason: null, submitTime: null, startTime: null, endTime: null, partition: null, cpus: null, timeLimitSeconds: null, progress, exitCode: null, model: null, modelVersion: null };
}

test('a thousand job changes become one update with the latest row of each job', () => {
  const q = new LatestQueue();
  for (let i = 0; i < 1000; i++) q.push({ type: 'jobs/update', jobs: [row(String(i % 10), i / 10)] });
  const out = q.drain();
  assert.equal(out.length, 1);
  const m = out[0] as Extract<HostToWebview, { type: 'jobs/update' }>;
  assert.equal(m.type, 'jobs/update');
  assert.deepEqual(m.jobs.map((j) => [j.id, j.progress]), Array.from({ length: 10 }, (_, k) => [String(k), (990 + k) / 10]));
  assert.deepEqual(q.drain(), [], 'drained');
});

test('the latest of each other kind; a full job list supersedes queued updates and goes first', () => {
  const q = new LatestQueue();
  q.push({ type: 'daemon', status: { state: 'reconnecting', message: 'x' } });
  q.push({ type: 'models', models: [] });
  q.push({ type: 'jobs/update', jobs: [row('a', 1)] });
  q.push({ type: 'daemon', status: { state: 'connected', message: null } });
  q.push({ type: 'jobs/replace', jobs: [row('a', 2), row('b', 0)] });
  q.push({ type: 'jobs/update', jobs: [row('b', 5)] });
  const out = q.drain();
  assert.deepEqual(out.map((m) => m.type), ['jobs/replace', 'jobs/update', 'daemon', 'models']);
  assert.deepEqual((out[1] as Extract<HostToWebview, { type: 'jobs/update' }>).jobs.map((j) => [j.id, j.progress]), [['b', 5]], 'only what changed after the list');
  assert.deepEqual((out[2] as Extract<HostToWebview, { type: 'daemon' }>).status.state, 'connected');
});

test('log appends add up; a reset or another job starts over', () => {
  const q = new LatestQueue();
  q.push({ type: 'log', jobId: 'a', data: 'one\n', reset: true, done: false });
  q.push({ type: 'log', jobId: 'a', data: 'two\n', reset: false, done: false });
  q.push({ type: 'log', jobId: 'a', data: 'three\n', reset: false, done: true });
  assert.deepEqual(q.drain(), [{ type: 'log', jobId: 'a', data: 'one\ntwo\nthree\n', reset: true, done: true }]);
  q.push({ type: 'log', jobId: 'a', data: 'old\n', reset: false, done: false });
  q.push({ type: 'log', jobId: 'b', data: 'new\n', reset: true, done: false });
  q.push({ type: 'log', jobId: 'b', data: 'more\n', reset: false, done: false });
  assert.deepEqual(q.drain(), [{ type: 'log', jobId: 'b', data: 'new\nmore\n', reset: true, done: false }]);
});
