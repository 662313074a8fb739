// The extension <-> dashboard contract (webview/protocol.ts): every message
// kind survives the trip through JSON (what postMessage does) unchanged and
// is accepted; malformed ones are refused with the offending field named.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { JobInfo } from '../../daemon/protocol';
import { HostToWebview, WEBVIEW_PROTOCOL_VERSION, WebviewToHost, jobRow, parseMessage, type JobRow } from '../../webview/protocol';

const job: JobInfo = {
  id: '6f1c2a4e-9b7d-4c3e-8f2a-1d2c3b4a5e6f',
  cluster: 'hpc',
  slurmJobId: '4242',
  name: 'train digits',
  state: 'RUNNING',
  terminal: false,
  reason: null,
  submitTime: '2026-11-22T10:00:00.000Z',
  startTime: '2026-11-22T10:00:05.000Z',
  endTime: null,
  exitCode: null,
  exitSignal: null,
  requested: { partition: 'gpu', qos: null, account: 'ml', timeLimitSeconds: 3600, nodes: 1, cpus: 8, tres: 'cpu=8,mem=16G,node=1' },
  runDir: '/home/a/.slurm-ml/runs/x',
  scriptPath: '/home/a/.slurm-ml/runs/x/train.sbatch',
  stdoutPath: '/home/a/.slurm-ml/runs/x/slurm-4242.out',
  stderrPath: null,
  progress: 37.5,
  array: null,
  estimate: null,
  resubmittedFrom: null,
  kind: 'train',
  model: 'digits',
  modelVersion: null,
  outputDir: null,
  finalized: false,
  createdAt: '2026-11-22T10:00:00.000Z',
  updatedAt: '2026-11-22T10:01:00.000Z',
};

const row: JobRow = jobRow(JobInfo.parse(job));
const estimate = { p10: 60, p50: 120, p90: 300, source: 'model' as const, modelVersion: 2, expectedStart: null, timeLimitSeconds: 3600, warnings: [], problems: [] };

const hostMessages: HostToWebview[] = [
  { type: 'daemon', status: { state: 'reconnecting', message: 'the daemon exited' } },
  { type: 'jobs/replace', jobs: [row] },
  { type: 'jobs/update', jobs: [{ ...row, state: 'COMPLETED', terminal: true, endTime: '2026-11-22T11:00:00.000Z' }] },
  { type: 'clusters', overview: { clusters: [], budgets: [] } },
  { type: 'partitions', cluster: 'hpc', at: '2026-11-22T10:00:00.000Z', partitions: [{ name: 'debug', isDefault: true, avail: 'up', maxTimeSeconds: 3600, maxTimeUnlimited: false, defaultTimeSeconds: null, nodes: 2, nodesByState: { allocated: 1, idle: 1, other: 0, total: 2 }, cpusByState: null, minCpusPerNode: 4, maxCpusPerNode: 4, minMemoryPerNodeMb: 1000, maxMemoryPerNodeMb: 1000, gres: [], nodeLists: ['n[1-2]'], jobSize: '1-infinite' }] },
  { type: 'models', models: [{ name: 'digits', versions: 1, latest: 1, aliases: { prod: 1 }, createdAt: '2026-11-22T10:00:00.000Z' }] },
  { type: 'jobDetail', detail: { ...job, script: '#!/bin/bash\necho hi\n', template: null, values: null, metrics: null, outputs: null, logTail: null, sbatchArgs: ['--time=5'] }, estimate },
  { type: 'log', jobId: job.id, data: 'epoch 1\n', reset: true, done: false },
  { type: 'runtime', overview: { cluster: 'hpc', info: null, modelVersion: null, totalJobs: 0, jobs: [], metrics: { model: null, requested: null, lastTwo: null }, versions: [] } },
  { type: 'batchEstimate', requestId: 'r1', cluster: 'hpc', estimates: [estimate] },
  { type: 'result', requestId: 'r2', ok: false, message: 'no such job' },
];

const pageMessages: WebviewToHost[] = [
  { type: 'ready', version: WEBVIEW_PROTOCOL_VERSION },
  { type: 'load', requestId: 'r3', what: 'partitions', cluster: 'hpc' },
  { type: 'followLog', jobId: null },
  { type: 'action', requestId: 'r4', action: 'cancel', jobId: job.id },
  { type: 'batchEstimate', requestId: 'r5', cluster: 'hpc', rows: [{ name: 'a', time: '10', cpus: '2', nodes: '', mem: '4G', partition: '', gpus: '' }] },
  { type: 'saveFile', requestId: 'r6', name: 'estimates.csv', content: 'a,b\r\n' },
  { type: 'rendered', view: 'jobs', total: 10, shown: 3, rowIds: ['a', 'b', 'c'] },
  { type: 'problem', message: 'CSP script-src blocked eval' },
];

test('every message kind round-trips through JSON unchanged', () => {
  assert.deepEqual(new Set(hostMessages.map((m) => m.type)).size, HostToWebview.options.length - 2, 'all host kinds but model and lineage (their schemas are the daemon\'s own) are exercised');
  for (const m of hostMessages) {
    const r = parseMessage(HostToWebview, JSON.parse(JSON.stringify(m)));
    assert.ok(r.ok, `${m.type}: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.message, m);
  }
  assert.equal(new Set(pageMessages.map((m) => m.type)).size, WebviewToHost.options.length);
  for (const m of pageMessages) {
    const r = parseMessage(WebviewToHost, JSON.parse(JSON.stringify(m)));
    assert.ok(r.ok, `${m.type}: ${r.ok ? '' : r.error}`);
    assert.deepEqual(r.message, m);
  }
});

test('a job row carries what the grid shows, from the daemon record', () => {
  assert.deepEqual(
    { partition: row.partition, cpus: row.cpus, timeLimitSeconds: row.timeLimitSeconds, progress: row.progress, kind: row.kind },
    { partition: 'gpu', cpus: 8, timeLimitSeconds: 3600, progress: 37.5, kind: 'train' },
  );
  assert.ok(!('runDir' in row), 'not the whole record: 10,000 rows stay small');
});

test('malformed messages are refused, naming what is wrong', () => {
  const bad: [unknown, RegExp][] = [
    [null, /message/],
    ['ready', /message/],
    [{ type: 'nope' }, /type/],
    [{ type: 'jobs/update' }, /jobs/],
    [{ type: 'jobs/update', jobs: [{ ...row, submitTime: 'yesterday' }] }, /jobs\.0\.submitTime/],
    [{ type: 'jobs/update', jobs: [{ ...row, kind: 'sweep' }] }, /jobs\.0\.kind/],
    [{ type: 'log', jobId: 'x', data: 5, reset: true, done: false }, /data/],
    [{ type: 'daemon', status: { state: 'asleep', message: null } }, /status\.state/],
  ];
  for (const [m, field] of bad) {
    const r = parseMessage(HostToWebview, m);
    assert.equal(r.ok, false, JSON.stringify(m));
    if (!r.ok) assert.match(r.error, field);
  }
  const badPage: [unknown, RegExp][] = [
    [{ type: 'ready' }, /version/],
    [{ type: 'load', requestId: 'r', what: 'everything' }, /what/],
    [{ type: 'action', requestId: 'r', action: 'delete', jobId: 'x' }, /action/],
    [{ type: 'action', requestId: '', action: 'cancel', jobId: 'x' }, /requestId/],
    [{ type: 'batchEstimate', requestId: 'r', cluster: 'hpc', rows: [] }, /rows/],
    [{ type: 'batchEstimate', requestId: 'r', cluster: 'hpc', rows: [{ name: 'a' }] }, /rows\.0\.time/],
    [{ type: 'rendered', view: 'jobs', total: 1, shown: 1, rowIds: Array.from({ length: 201 }, String) }, /rowIds/],
    [{ type: 'saveFile', requestId: 'r', name: '', content: '' }, /name/],
  ];
  for (const [m, field] of badPage) {
    const r = parseMessage(WebviewToHost, m);
    assert.equal(r.ok, false, JSON.stringify(m));
    if (!r.ok) assert.match(r.error, field);
  }
});
