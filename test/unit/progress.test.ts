// Progress from job logs: the parser over real tqdm output (recorded by
// test/fixtures/logs/record.sh) and the SLURM_ML_PROGRESS convention, and the
// tracker's budget (few jobs per call, each at most every 30 s).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ProgressTracker, bestProgress, parseProgress, scanProgress, tailText } from '../../daemon/jobs/progress';
import { createLogger, memorySink } from '../../daemon/log';
import type { JobInfo } from '../../daemon/protocol';
import { FakeRemote, registry } from './logsFakes';

const fixture = (name: string) => fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'logs', name));

test('tqdm run to its end: 100', () => {
  assert.equal(parseProgress(fixture('tqdm-complete.txt').toString()), 100);
});

test('tqdm cut off at 37 of 100: 37, from the unterminated last update', () => {
  const text = fixture('tqdm-running-37.txt').toString();
  assert.ok(!text.endsWith('\n'), 'tqdm leaves its newest update unterminated');
  assert.equal(parseProgress(text), 37);
  const all = scanProgress(text).map((r) => r.percent);
  assert.deepEqual(all, Array.from({ length: 38 }, (_, i) => i), 'every update is seen, in order');
});

test('nested tqdm bars: the outer bar (epochs) wins over the inner one written later', () => {
  const text = fixture('tqdm-nested.txt').toString();
  const readings = scanProgress(text);
  assert.deepEqual(readings.at(-1), { percent: 70, rank: 2 }, 'the last update is the inner bar (batch 7 of 10)');
  assert.equal(parseProgress(text), 50, 'epoch 2 of 4 done');
});

test('unit-scaled ASCII tqdm with a tqdm.write() line in between: the percentage', () => {
  const text = fixture('tqdm-ascii-unit-scale.txt').toString();
  assert.match(text, /checkpoint saved: ünïcödé ✓\n/);
  assert.equal(parseProgress(text), 25);
});

test('tqdm without a total reports no progress', () => {
  assert.equal(parseProgress(fixture('tqdm-no-total.txt').toString()), null);
});

test('SLURM_ML_PROGRESS lines: percentages, fractions, anywhere in a line, the last one wins', () => {
  assert.equal(parseProgress('starting\nSLURM_ML_PROGRESS 5\nSLURM_ML_PROGRESS 42\n'), 42);
  assert.equal(parseProgress('SLURM_ML_PROGRESS 42.5%\n'), 42.5);
  assert.equal(parseProgress('SLURM_ML_PROGRESS 3/10\n'), 30);
  assert.equal(parseProgress('2024-05-01 12:00:00 INFO SLURM_ML_PROGRESS 7 / 8  \n'), 87.5);
  assert.equal(parseProgress('SLURM_ML_PROGRESS 42\r\n'), 42);
  assert.equal(parseProgress('nothing here\n'), null);
});

test('SLURM_ML_PROGRESS: out of range, malformed or unfinished lines are ignored', () => {
  assert.equal(parseProgress('SLURM_ML_PROGRESS 150\n'), null);
  assert.equal(parseProgress('SLURM_ML_PROGRESS 3/0\n'), null);
  assert.equal(parseProgress('SLURM_ML_PROGRESS 11/10\n'), null);
  assert.equal(parseProgress('SLURM_ML_PROGRESS forty\n'), null);
  assert.equal(parseProgress('echo SLURM_ML_PROGRESS 42 done\n'), null, 'the value ends the line');
  // A block-buffered writer flushed "SLURM_ML_PROGRESS 4" of "42" so far.
  assert.equal(parseProgress('SLURM_ML_PROGRESS 30\nSLURM_ML_PROGRESS 4'), 30);
});

test('a SLURM_ML_PROGRESS line outranks tqdm bars written after it', () => {
  const tqdm = fixture('tqdm-running-37.txt').toString();
  assert.equal(parseProgress(`SLURM_ML_PROGRESS 80\n${tqdm}`), 80);
  assert.equal(bestProgress(tqdm, 0), null, 'a job that showed markers ignores windows with only tqdm');
});

test('a tail window never misreads its cut first line ("37%" read as "7%")', () => {
  const buf = fixture('tqdm-running-37.txt');
  const lastUpdate = buf.lastIndexOf('\r');
  for (let offset = 0; offset < lastUpdate; offset++) {
    const p = parseProgress(tailText(buf.subarray(offset), offset));
    assert.equal(p, 37, `window from byte ${offset}`);
  }
  // A window inside the last update sees no complete update at all.
  assert.equal(parseProgress(tailText(buf.subarray(lastUpdate + 2), lastUpdate + 2)), null);
});

function tracker(now: { t: number }, opts: { maxJobsPerCall?: number } = {}) {
  const r = registry();
  const remote = new FakeRemote();
  const changed: JobInfo[] = [];
  const t = new ProgressTracker({
    jobs: r.jobs,
    log: createLogger(memorySink()),
    onChanged: (j) => changed.push(j),
    now: () => now.t,
    maxJobsPerCall: opts.maxJobsPerCall,
  });
  return { r, remote, changed, t };
}

test('tracker: stores a running job\'s progress and reports the change once', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, changed, t } = tracker(now);
  const job = r.job();
  remote.append(job.stdoutPath!, 'epoch 1\nSLURM_ML_PROGRESS 10\n');
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, 10);
  assert.equal(changed.length, 1);
  assert.equal(changed[0]!.progress, 10);
  // stdout and stderr are one file here: one stat, one read.
  assert.deepEqual(remote.ops.map((o) => o.op), ['stat', 'read']);
  assert.ok(remote.ops[1]!.length! <= 8192);
});

test('tracker: at most every 30 s per job, and an unchanged file is not read again', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job();
  remote.append(job.stdoutPath!, 'SLURM_ML_PROGRESS 10\n');
  await t.refresh(r.cluster, [job], remote);
  remote.append(job.stdoutPath!, 'SLURM_ML_PROGRESS 20\n');
  now.t += 10_000;
  await t.refresh(r.cluster, [job], remote);
  assert.equal(remote.ops.length, 2, 'nothing read 10 s later');
  assert.equal(r.jobs.get(job.id).progress, 10);
  now.t += 20_000;
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, 20);
  now.t += 30_000;
  const before = remote.reads();
  await t.refresh(r.cluster, [job], remote);
  assert.equal(remote.reads(), before, 'same size: stat only');
});

test('tracker: reads only the last 8 KiB of a long log', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job();
  remote.append(job.stdoutPath!, 'x'.repeat(100_000) + '\nSLURM_ML_PROGRESS 64\n');
  await t.refresh(r.cluster, [job], remote);
  const read = remote.ops.find((o) => o.op === 'read')!;
  assert.equal(read.length, 8192);
  assert.equal(read.offset, remote.files.get(job.stdoutPath!)!.length - 8192);
  assert.equal(r.jobs.get(job.id).progress, 64);
});

test('tracker: N jobs per call, round robin, least recently read first', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now, { maxJobsPerCall: 2 });
  const jobs = [r.job(), r.job(), r.job(), r.job(), r.job()];
  jobs.forEach((j, i) => remote.append(j.stdoutPath!, `SLURM_ML_PROGRESS ${i + 1}\n`));
  const seen: string[][] = [];
  for (let call = 0; call < 3; call++) {
    const before = remote.ops.length;
    await t.refresh(r.cluster, jobs, remote);
    seen.push([...new Set(remote.ops.slice(before).map((o) => o.path))]);
    now.t += 31_000;
  }
  assert.deepEqual(seen.map((s) => s.length), [2, 2, 2]);
  const firstFive = new Set(seen.flat().slice(0, 5));
  assert.equal(firstFive.size, 5, 'every job is read before any is read twice');
  assert.deepEqual(jobs.map((j) => r.jobs.get(j.id).progress), [1, 2, 3, 4, 5]);
});

test('tracker: separate stderr wins by rank; pending jobs and missing files are skipped quietly', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job({ stderrPath: '/runs/x/err' });
  remote.append(job.stdoutPath!, 'loading\n');
  remote.append('/runs/x/err', fixture('tqdm-running-37.txt'));
  const pending = r.job({ state: 'PENDING', startTime: null });
  const noFile = r.job({ stdoutPath: '/runs/none/out', stderrPath: '/runs/none/out' });
  await t.refresh(r.cluster, [job, pending, noFile], remote);
  assert.equal(r.jobs.get(job.id).progress, 37);
  assert.equal(r.jobs.get(noFile.id).progress, null);
  assert.ok(!remote.ops.some((o) => o.path.startsWith(`/runs/${pending.runDir.split('/')[2]}/`)), 'a pending job is not read');
});

test('tracker: a COMPLETED job that reported progress ends at 100, one that never did stays null; FAILED keeps its last value', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const reported = r.job();
  const silent = r.job();
  const failed = r.job();
  remote.append(reported.stdoutPath!, 'SLURM_ML_PROGRESS 90\n');
  remote.append(silent.stdoutPath!, 'hello\n');
  remote.append(failed.stdoutPath!, 'SLURM_ML_PROGRESS 40\n');
  const asPolled = [reported, silent, failed];
  await t.refresh(r.cluster, asPolled, remote);
  // The poller saw them end; the tracker gets the list as the cycle started.
  remote.append(failed.stdoutPath!, 'SLURM_ML_PROGRESS 45\nTraceback...\n');
  r.jobs.update(reported.id, { state: 'COMPLETED', endTime: new Date().toISOString() });
  r.jobs.update(silent.id, { state: 'COMPLETED', endTime: new Date().toISOString() });
  r.jobs.update(failed.id, { state: 'FAILED', endTime: new Date().toISOString() });
  now.t += 1000;
  await t.refresh(r.cluster, asPolled, remote);
  assert.equal(r.jobs.get(reported.id).progress, 100);
  assert.equal(r.jobs.get(silent.id).progress, null);
  assert.equal(r.jobs.get(failed.id).progress, 45, 'an ended job gets one last read, not rate limited');
});

test('tracker: a job that finished before it was ever read gets its progress from the final read', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job({ state: 'PENDING', startTime: null });
  remote.append(job.stdoutPath!, 'SLURM_ML_PROGRESS 3/4\n');
  r.jobs.update(job.id, { state: 'COMPLETED', startTime: new Date().toISOString(), endTime: new Date().toISOString() });
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, 100);
});

test('tracker: once an outer bar or a marker was seen, inner-bar-only windows do not move progress', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job();
  remote.append(job.stdoutPath!, fixture('tqdm-nested.txt'));
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, 50);
  // Lots of inner-bar updates later, the outer bar is out of the 8 KiB window.
  const inner = '\n\repoch 2:  90%|█████████ | 9/10 [00:00<00:00, 10.00it/s]\x1b[A'.repeat(200);
  remote.append(job.stdoutPath!, inner);
  now.t += 31_000;
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, 50);
});

test('tracker: a read error leaves progress alone and does not throw', async () => {
  const now = { t: 1_000_000 };
  const { r, remote, t } = tracker(now);
  const job = r.job();
  remote.append(job.stdoutPath!, 'SLURM_ML_PROGRESS 10\n');
  remote.failNext = new Error('channel closed');
  await t.refresh(r.cluster, [job], remote);
  assert.equal(r.jobs.get(job.id).progress, null);
});
