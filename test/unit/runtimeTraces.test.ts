// Importers of job traces for runtime prediction: SWF (gzip or not) and
// `sacct --parsable2` dumps, on real samples (test/fixtures/traces).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { FIELD_SEPARATOR, SACCT_FIELDS } from '../../daemon/slurm/commands';
import { jobsFromSacctOutput, parseSacctDump, parseSwf, readTrace, swfJob } from '../../daemon/runtime/traces';
import type { JobRecord } from '../../daemon/runtime/traces';

const DIR = path.join(__dirname, '..', 'fixtures', 'traces');
const KTH = path.join(DIR, 'KTH-SP2-first2000.swf.gz');
const LANL = path.join(DIR, 'LANL-CM5-first2000.swf');
const SACCT = path.join(DIR, 'sacct-local.txt');
const UTC = { timeZone: 'UTC' as const };

test('SWF through gzip: header, every job kept, fields mapped', async () => {
  const t = await readTrace(KTH);
  assert.equal(t.info.format, 'swf');
  assert.equal(t.info.rows, 2000);
  assert.equal(t.info.jobs, 2000);
  assert.deepEqual(t.info.skipped, {});
  assert.equal(t.info.header.UnixStartTime, '843480031');
  assert.equal(t.info.header.Acknowledge, 'Lars Malinowsky');
  assert.equal(t.info.utcOffsetSeconds, 3600);
  // `15 599850 192180 3477 4 -1 -1 4 53940 -1 1 12 12 -1 -1 -1 -1 -1`
  const first = t.jobs[0] as JobRecord;
  assert.deepEqual(first, {
    id: '15',
    user: 'u12',
    jobName: '',
    submit: 843480031 + 599850,
    start: 843480031 + 599850 + 192180,
    end: 843480031 + 599850 + 192180 + 3477,
    runtime: 3477,
    requestedTime: 53940,
    cpus: 4,
    nodes: null,
    memMB: null,
    gpus: null,
    partition: null,
    qos: null,
    account: 'g12',
    state: 'SWF:1',
    exit: null,
  });
});

test('SWF uncompressed: jobs with requested time -1 are left out, application and processors mapped', async () => {
  const t = await readTrace(LANL);
  assert.equal(t.info.rows, 2000);
  // awk '!/^;/ && $4 > 0 && $9 <= 0' counts 103 in this sample.
  assert.deepEqual(t.info.skipped, { 'requested<=0': 103 });
  assert.equal(t.jobs.length, 1897);
  assert.equal(t.info.utcOffsetSeconds, -25200);
  // `2 465 5 3362 32 489.00 988 32 900 1024 1 3 3 3 1 -1 -1 -1`
  const j = t.jobs.find((x) => x.id === '2') as JobRecord;
  assert.equal(j.submit, 781275672 + 465);
  assert.equal(j.start, 781275672 + 470);
  assert.equal(j.runtime, 3362);
  assert.equal(j.requestedTime, 900, 'field 9; run time may exceed it in LANL');
  assert.equal(j.cpus, 32);
  assert.equal(j.memMB, (1024 * 32) / 1024, 'field 10 is KB per processor');
  assert.equal(j.user, 'u3');
  assert.equal(j.jobName, 'a3');
  assert.equal(j.qos, 'q1', 'field 15, the queue');
  // --limit counts kept jobs
  const limited = await readTrace(LANL, { limit: 10 });
  assert.equal(limited.jobs.length, 10);
});

test('swfJob: unknowns, allocated processors, malformed lines', () => {
  const line = '7 100 -1 50 16 -1 -1 -1 600 -1 0 4 -1 -1 -1 -1 -1 -1';
  const j = swfJob(line, 1000) as JobRecord;
  assert.equal(j.cpus, 16, 'requested processors unknown: the allocated ones');
  assert.equal(j.start, 1100, 'unknown wait: start at submit');
  assert.equal(j.end, 1150);
  assert.equal(j.jobName, '');
  assert.equal(j.account, null);
  assert.equal((swfJob('7 100 5 50 16 -1 -1 8 600 -1 1 4 4 2 -1 -1 -1 -1', 0, 'allocated') as JobRecord).cpus, 16);
  assert.equal((swfJob('7 100 5 50 16 -1 -1 8 600 -1 1 4 4 2 -1 -1 -1 -1', 0) as JobRecord).cpus, 8);
  assert.equal(swfJob('7 100 5 0 16 -1 -1 8 600 -1 1 4 4 2 -1 -1 -1 -1'), 'runtime<=0');
  assert.equal(swfJob('7 100 5 10 16 -1 -1 8 -1 -1 1 4 4 2 -1 -1 -1 -1'), 'requested<=0');
  assert.equal(swfJob('7 100 5 10'), 'malformed');
  const t = parseSwf('; UnixStartTime: 10\n; Note: x\n\n1 0 0 5 1 -1 -1 1 60 -1 1 1 1 1 -1 -1 -1 -1\nnot a job\n');
  assert.equal(t.jobs.length, 1);
  assert.equal(t.jobs[0]?.submit, 10);
  assert.deepEqual(t.info.skipped, { malformed: 1 });
});

test('sacct dump (header, `|`): job rows that ran, steps and never-started jobs left out', async () => {
  const t = await readTrace(SACCT, UTC);
  assert.equal(t.info.format, 'sacct');
  const text = fs.readFileSync(SACCT, 'utf8');
  const jobLines = text.split('\n').filter((l) => /^[^.|]+\|/.test(l) && !l.startsWith('JobID|'));
  assert.equal(t.info.rows, jobLines.length);
  assert.equal(t.jobs.length + Object.values(t.info.skipped).reduce((a, b) => a + b, 0), jobLines.length);
  assert.ok(t.jobs.length >= 100, `${t.jobs.length} jobs`);
  assert.ok((t.info.skipped['never started'] ?? 0) > 0);
  for (const j of t.jobs) {
    assert.ok(j.runtime > 0);
    assert.ok(!j.id.includes('.'), 'no steps');
    assert.ok(['COMPLETED', 'FAILED', 'TIMEOUT', 'CANCELLED', 'OUT_OF_MEMORY'].includes(j.state), j.state);
    assert.ok(j.end >= j.start && j.start >= j.submit);
  }
  // Row `16|16|COMPLETED|…|2026-11-22T09:12:15|…|2026-11-22T09:13:53|2026-11-22T09:13:56|00:00:03|00:02:00|debug|normal|research|hpcuser|1|1||256M|…|weird name | …`
  const weird = t.jobs.find((j) => j.id === '16') as JobRecord;
  assert.equal(weird.jobName, "weird name | `dq` 'sq' ünïcødé ✓ lr=0.1 UserId=fake");
  assert.equal(weird.submit, Date.parse('2026-11-22T09:12:15Z') / 1000);
  assert.equal(weird.end, Date.parse('2026-11-22T09:13:56Z') / 1000);
  assert.equal(weird.runtime, 3);
  assert.equal(weird.requestedTime, 120);
  assert.equal(weird.cpus, 1);
  assert.equal(weird.nodes, 1);
  assert.equal(weird.memMB, 256);
  assert.equal(weird.partition, 'debug');
  assert.equal(weird.qos, 'normal');
  assert.equal(weird.account, 'research');
  assert.equal(weird.user, 'hpcuser');
  assert.equal(weird.exit, 0);
  // A job cancelled before it started (`CANCELLED by 1001`, Start None) is not a runtime.
  assert.equal(t.jobs.find((j) => j.id === '18'), undefined);
  // TIMEOUT is kept: it ran up to its limit.
  assert.ok(t.jobs.some((j) => j.state === 'TIMEOUT'));
});

test("the daemon's own sacct format (U+001F, no header) gives the same records", () => {
  const lines = fs.readFileSync(SACCT, 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('JobID|'));
  const unit = lines
    .map((l) => {
      const cells = l.split('|');
      const n = SACCT_FIELDS.length;
      return [...cells.slice(0, n - 1), cells.slice(n - 1).join('|')].join(FIELD_SEPARATOR);
    })
    .join('\n');
  const a = parseSacctDump(fs.readFileSync(SACCT, 'utf8'), UTC);
  const b = parseSacctDump(unit, UTC);
  assert.deepEqual(b.jobs, a.jobs);
  // Live rows (parseSacct groups steps under jobs) give the same too.
  const live = jobsFromSacctOutput(unit, UTC);
  assert.deepEqual(
    live.map((j) => j.id).sort(),
    a.jobs.map((j) => j.id).sort(),
  );
});
