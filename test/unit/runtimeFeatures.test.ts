// History and features for runtime prediction: a job's features only ever
// see jobs that ENDED before it was submitted.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { FEATURE_COUNT, FEATURE_NAMES, featuresOf, hashCategory } from '../../daemon/runtime/features';
import { JobHistory, appToken, servingActivity } from '../../daemon/runtime/history';
import { replayFeatures } from '../../daemon/runtime/replay';
import { readTrace } from '../../daemon/runtime/traces';
import type { JobRecord } from '../../daemon/runtime/traces';

function job(id: string, submit: number, runtime: number, extra: Partial<JobRecord> = {}): JobRecord {
  const start = extra.start ?? submit;
  return {
    id,
    user: 'alice',
    jobName: 'train',
    submit,
    start,
    end: start + runtime,
    runtime,
    requestedTime: 3600,
    cpus: 4,
    nodes: 1,
    memMB: 1024,
    gpus: null,
    partition: 'debug',
    qos: 'normal',
    account: 'research',
    state: 'COMPLETED',
    exit: 0,
    ...extra,
  };
}

const col = (row: Float64Array, name: string) => row[FEATURE_NAMES.indexOf(name as (typeof FEATURE_NAMES)[number])] as number;

test('a job sees only the jobs that ended before its submit, in the order they ended', () => {
  const jobs = [
    job('long', 0, 1000), // ends at 1000
    job('short', 10, 10), // ends at 20
    job('probe', 500, 50), // submitted while `long` still runs
    job('later', 2000, 5), // both ended by now; `long` ended last
  ];
  const f = replayFeatures(jobs);
  const row = (i: number) => f.X.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT);
  assert.deepEqual(Array.from(f.endedBefore), [0, 0, 1, 3]);
  assert.equal(col(row(2), 'u_count'), Math.log1p(1));
  assert.equal(col(row(2), 'u_last1'), Math.log(10), 'only `short` is known');
  assert.ok(Number.isNaN(col(row(2), 'u_last2')));
  assert.equal(col(row(2), 'u_prev_state'), 0, 'the previous submit (short) has ended');
  assert.equal(col(row(3), 'u_last1'), Math.log(1000), '`long` ended last (at 1000), after `probe` (550)');
  assert.equal(col(row(3), 'u_last2'), Math.log(50));
  // Baselines see the same: last-2 is the mean of the last two ENDED runtimes, capped at the request.
  assert.equal(f.lastTwo[2], 10);
  assert.equal(f.lastTwo[3], (50 + 1000) / 2);
  assert.equal(f.lastTwo[0], 3600, 'no history: the requested time');
  // The notes' variant reads the last two SUBMITTED runtimes, ended or not (a leak).
  assert.equal(f.lastTwoSubmitted[2], (1000 + 10) / 2);
});

test('a job ending in the very second another is submitted is not yet known to it', () => {
  const f = replayFeatures([job('a', 0, 100), job('b', 100, 5)]);
  assert.equal(f.endedBefore[1], 0);
  const g = replayFeatures([job('a', 0, 99), job('b', 100, 5)]);
  assert.equal(g.endedBefore[1], 1);
});

test('a running job shows its elapsed time, not its runtime', () => {
  const f = replayFeatures([job('a', 0, 10_000, { start: 100 }), job('b', 600, 5)]);
  const row = f.X.subarray(FEATURE_COUNT, 2 * FEATURE_COUNT);
  assert.equal(col(row, 'u_prev_state'), 1);
  assert.equal(col(row, 'u_prev_elapsed'), Math.log1p(500));
  assert.equal(col(row, 'u_inflight'), Math.log1p(1));
  assert.ok(Number.isNaN(col(row, 'u_last1')));
});

test('no leak on a real trace: changing what ended after a submit changes nothing in that job’s row', async () => {
  const t = await readTrace(path.join(__dirname, '..', 'fixtures', 'traces', 'KTH-SP2-first2000.swf.gz'), { limit: 600 });
  const base = replayFeatures(t.jobs);
  const k = 400;
  const cut = (base.jobs[k] as JobRecord).submit;
  // Jobs that end at or after the cut get other runtimes (and so other end times, still after the cut).
  const changed = base.jobs.map((j) => (j.end >= cut ? { ...j, runtime: j.runtime * 3 + 7, end: j.start + j.runtime * 3 + 7 } : j));
  const other = replayFeatures(changed);
  for (let i = 0; i <= k; i++) {
    if ((base.jobs[i] as JobRecord).submit > cut) break;
    const a = Array.from(base.X.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT));
    const b = Array.from(other.X.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT));
    assert.deepEqual(b, a, `row ${i}`);
    assert.equal(other.lastTwo[i], base.lastTwo[i]);
  }
});

test('serving uses the same features as the replay', () => {
  const jobs = [job('a', 0, 100), job('b', 10, 200, { jobName: 'train-2' }), job('c', 1000, 300, { jobName: 'train-7' })];
  const f = replayFeatures(jobs, 3600);
  const h = new JobHistory();
  h.submitted(jobs[0] as JobRecord);
  h.submitted(jobs[1] as JobRecord);
  h.ended(jobs[0] as JobRecord);
  h.ended(jobs[1] as JobRecord);
  const live = featuresOf(jobs[2] as JobRecord, h, { utcOffsetSeconds: 3600 });
  assert.deepEqual(Array.from(live), Array.from(f.X.subarray(2 * FEATURE_COUNT)));
  assert.equal(col(live, 'ua_count'), Math.log1p(1), '`train-2` and `train-7` are one application; `train` another');
  assert.equal(col(live, 'hour'), 1, 'epoch 1000 s is 01:16 at UTC+1');
  assert.equal(col(live, 'dow'), 3, '1970-01-01 was a Thursday');
  assert.equal(live.length, FEATURE_NAMES.length);
});

test('served as the daemon serves (ended jobs ingested, the rest followed live), a real trace gets the rows it was trained on', async () => {
  const t = await readTrace(path.join(__dirname, '..', 'fixtures', 'traces', 'KTH-SP2-first2000.swf.gz'), { limit: 1500 });
  const f = replayFeatures(t.jobs);
  let busy = 0;
  for (let i = 300; i < f.jobs.length; i += 7) {
    const target = f.jobs[i] as JobRecord;
    const now = target.submit;
    const before = f.jobs.slice(0, i);
    // The ingested accounting: jobs ended by now, fed in end order.
    const ingested = before.filter((j) => j.end <= now).sort((a, b) => a.end - b.end);
    const h = new JobHistory();
    for (const j of ingested) h.ended(j);
    const lastIngested = ingested.filter((j) => j.user === target.user).reduce<JobRecord | undefined>((a, j) => (a === undefined || j.submit >= a.submit ? j : a), undefined);
    // What squeue shows the daemon now: the rest, with a start only once started, no end.
    const live = before.filter((j) => j.end > now).map((j) => ({ user: j.user, submit: j.submit, requestedTime: j.requestedTime, start: j.start <= now ? j.start : undefined }));
    const activity = servingActivity(target.user, [...(lastIngested ? [lastIngested] : []), ...live], now);
    if (activity.inFlight > 0) busy++;
    const served = featuresOf(target, h, { activity });
    assert.deepEqual(Array.from(served), Array.from(f.X.subarray(i * FEATURE_COUNT, (i + 1) * FEATURE_COUNT)), `job ${target.id}`);
  }
  assert.ok(busy > 10, `the sample covers users with jobs in flight (${busy})`);
});

test('categoricals and application tokens', () => {
  assert.ok(Number.isNaN(hashCategory(null)));
  assert.equal(hashCategory('debug'), hashCategory('debug'));
  assert.notEqual(hashCategory('debug'), hashCategory('long'));
  assert.ok(hashCategory('debug') >= 0 && hashCategory('debug') < 1);
  assert.equal(appToken('run_0042'), 'run_#');
  assert.equal(appToken('Train-3'), 'train-#');
  assert.equal(appToken('a12'), 'a12', 'SWF application numbers stay');
  assert.equal(appToken('resnet50'), 'resnet50');
});
