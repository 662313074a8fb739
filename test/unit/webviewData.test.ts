// The dashboard's data logic without a browser: the grid's filters, search
// and sorts (webview/jobsModel.ts) and the batch estimate's CSV in and out
// (webview/csv.ts).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { batchSbatchArgs, estimatesCsv, formatCsv, parseBatchCsv, parseCsv } from '../../webview/csv';
import { defaultFilter, stateGroupOf, visibleJobs } from '../../webview/jobsModel';
import type { JobRow } from '../../webview/protocol';
import { parseSbatchScript } from '../../daemon/slurm/directives';

function row(over: Partial<JobRow>): JobRow {
  return {
    id: over.id ?? 'x', cluster: 'hpc', slurmJobId: '1', name: 'job', state: 'COMPLETED', terminal: true, kind: 'job', reason: null,
    submitTime: '2026-11-22T10:00:00.000Z', startTime: '2026-11-22T10:00:10.000Z', endTime: '2026-11-22T10:01:10.000Z',
    partition: 'debug', cpus: 1, timeLimitSeconds: 600, progress: null, exitCode: 0, model: null, modelVersion: null, ...over,
  };
}

const jobs = [
  row({ id: 'a', name: 'Beta', slurmJobId: '9', state: 'RUNNING', terminal: false, endTime: null, submitTime: '2026-11-22T10:03:00.000Z', kind: 'train', model: 'digits' }),
  row({ id: 'b', name: 'alpha', slurmJobId: '10', state: 'FAILED', cluster: 'gpu', submitTime: '2026-11-22T10:02:00.000Z' }),
  row({ id: 'c', name: 'gamma', slurmJobId: null, state: 'PENDING', terminal: false, startTime: null, endTime: null, submitTime: null }),
  row({ id: 'd', name: 'delta', slurmJobId: '100', state: 'TIMEOUT', submitTime: '2026-11-22T10:01:00.000Z', partition: 'long' }),
];
const ids = (rs: JobRow[]) => rs.map((r) => r.id).join('');

test('state groups: pending, running, completed, failed (every other end)', () => {
  assert.deepEqual(jobs.map(stateGroupOf), ['running', 'failed', 'pending', 'failed']);
  assert.equal(stateGroupOf({ state: 'SUBMIT_FAILED', terminal: true }), 'failed');
  assert.equal(stateGroupOf({ state: 'SUBMITTING', terminal: false }), 'pending');
});

test('filters by cluster, state group, kind, and a search over name, ids, state, partition and model', () => {
  const sort = { key: 'submitTime' as const, descending: true };
  assert.equal(ids(visibleJobs(jobs, defaultFilter, sort)), 'abdc', 'newest first; no submission time last');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, cluster: 'gpu' }, sort)), 'b');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, state: 'active' }, sort)), 'ac');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, state: 'failed' }, sort)), 'bd');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, kind: 'train' }, sort)), 'a');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, search: '  LONG ' }, sort)), 'd', 'partition, case-insensitive, trimmed');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, search: 'digits' }, sort)), 'a', 'model');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, search: '100' }, sort)), 'd', 'SLURM id');
  assert.equal(ids(visibleJobs(jobs, { ...defaultFilter, search: 'nothing like it' }, sort)), '');
});

test('sorts: names case-insensitively, SLURM ids as numbers, nulls last both ways, stable', () => {
  const f = defaultFilter;
  assert.equal(ids(visibleJobs(jobs, f, { key: 'name', descending: false })), 'badc');
  assert.equal(ids(visibleJobs(jobs, f, { key: 'name', descending: true })), 'cdab');
  assert.equal(ids(visibleJobs(jobs, f, { key: 'slurmJobId', descending: false })), 'abdc', '9 < 10 < 100, no id last');
  assert.equal(ids(visibleJobs(jobs, f, { key: 'slurmJobId', descending: true })), 'dbac');
  const now = Date.parse('2026-11-22T10:05:00.000Z');
  // Elapsed: a ran 4 m 50 s so far, b and d 60 s, c has not started.
  assert.equal(ids(visibleJobs(jobs, f, { key: 'elapsed', descending: true }, now)), 'abdc');
  const same = [row({ id: '1', name: 'x' }), row({ id: '2', name: 'x' }), row({ id: '3', name: 'x' })];
  assert.equal(ids(visibleJobs(same, f, { key: 'name', descending: true })), '123', 'ties keep their order');
});

test('10,000 rows filter and sort well within a frame budget of work', () => {
  const many = Array.from({ length: 10_000 }, (_, i) => row({ id: String(i), name: `n${(i * 7919) % 10_000}`, submitTime: new Date(Date.UTC(2026, 10, 1) + i * 1000).toISOString() }));
  const sorted = visibleJobs(many, defaultFilter, { key: 'name', descending: false });
  assert.equal(sorted.length, 10_000);
  for (let i = 1; i < sorted.length; i++) assert.ok(sorted[i - 1]!.name <= sorted[i]!.name);
});

test('CSV: quoted fields with commas, quotes and newlines; CRLF; a BOM; blank lines skipped', () => {
  assert.deepEqual(parseCsv('\uFEFFa,b\r\n"x, y","say ""hi"""\r\n\r\n"multi\nline",z'), [
    ['a', 'b'],
    ['x, y', 'say "hi"'],
    ['multi\nline', 'z'],
  ]);
  assert.equal(formatCsv([['a', 'x, y', 'say "hi"', null, 3]]), 'a,"x, y","say ""hi""",,3\r\n');
  assert.deepEqual(parseCsv(formatCsv([['a,b', '"', ' lead']])), [['a,b', '"', ' lead']]);
});

test('batch CSV: columns by header (aliases, any order), clear errors for what cannot be read', () => {
  const ok = parseBatchCsv('Time,job-name,Memory,cpus-per-task\n1:00:00,prep,4G,2\n30,"a, b",,\n');
  assert.ok(ok.ok);
  assert.deepEqual(ok.rows, [
    { name: 'prep', time: '1:00:00', cpus: '2', nodes: '', mem: '4G', partition: '', gpus: '' },
    { name: 'a, b', time: '30', cpus: '', nodes: '', mem: '', partition: '', gpus: '' },
  ]);
  const errors: [string, RegExp][] = [
    ['time\n', /header line and at least one job/],
    ['time,colour\n10,red\n', /unknown column "colour"/],
    ['cpus\n4\n', /"time" or a "name" column/],
    ['time,name\n10,"two\nlines"\n', /line 2, column name: control characters/],
  ];
  for (const [text, re] of errors) {
    const r = parseBatchCsv(text);
    assert.equal(r.ok, false, text);
    if (!r.ok) assert.match(r.error, re);
  }
  const tooMany = parseBatchCsv(`time\n${'10\n'.repeat(11)}`, 10);
  assert.ok(!tooMany.ok && /11 jobs; at most 10/.test(tooMany.error));
});

test('batch rows become sbatch options the daemon\'s directive parser reads as written', () => {
  const args = batchSbatchArgs({ name: 'prep', time: '1:00:00', cpus: '2', nodes: '1', mem: '4G', partition: 'gpu', gpus: '2' });
  assert.deepEqual(args, ['--job-name=prep', '--time=1:00:00', '--cpus-per-task=2', '--nodes=1', '--mem=4G', '--partition=gpu', '--gres=gpu:2']);
  const parsed = parseSbatchScript('#!/bin/bash\n', args);
  assert.deepEqual(parsed.problems, []);
  assert.equal(parsed.request.timeLimitSeconds, 3600);
  assert.equal(parsed.request.partition, 'gpu');
  // A bad value is the parser's problem to report, not a shell's to run.
  const bad = parseSbatchScript('#!/bin/bash\n', batchSbatchArgs({ name: '$(rm -rf ~)', time: 'soon', cpus: '', nodes: '', mem: '', partition: '', gpus: '' }));
  assert.ok(bad.problems.some((p) => p.severity === 'error' && p.option === 'time'));
});

test('estimates CSV: the request columns, then p10/p50/p90 in whole seconds, the source, warnings and problems', () => {
  const rows = [{ name: 'a', time: '10', cpus: '', nodes: '', mem: '', partition: '', gpus: '' }];
  const csv = estimatesCsv(rows, [{ p10: 59.6, p50: 120.2, p90: 300, source: 'history', modelVersion: null, expectedStart: null, timeLimitSeconds: 600, warnings: [{ kind: 'over-request', message: 'asks for 10 m, needs 5', suggestedLimit: '00:06:00' }], problems: [] }]);
  assert.equal(csv, 'name,time,cpus,nodes,mem,partition,gpus,p10_seconds,p50_seconds,p90_seconds,source,warnings,problems\r\na,10,,,,,,60,120,300,history,"asks for 10 m, needs 5",\r\n');
});
