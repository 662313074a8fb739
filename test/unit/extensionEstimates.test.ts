// Runtime estimates in the editor, without VS Code: durations, lens titles,
// problem ranges, the --time directive, and the latest-wins debounce.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { RuntimeEstimate } from '../../daemon/protocol';
import {
  estimateCluster,
  estimateDetails,
  estimateSummary,
  findTimeDirective,
  formatClock,
  formatDuration,
  isTemplate,
  LatestRequests,
  lensTitle,
  problemRange,
  splitLines,
  templateName,
  wantsEstimate,
} from '../../extension/model/estimates';

function est(over: Partial<RuntimeEstimate> = {}): RuntimeEstimate {
  return { p10: 2400, p50: 4320, p90: 7500, source: 'history', modelVersion: null, expectedStart: null, timeLimitSeconds: 3600, warnings: [], problems: [], ...over };
}

test('durations read as s, m, h m and d h with padded minor units', () => {
  assert.equal(formatDuration(0), '0 s');
  assert.equal(formatDuration(45), '45 s');
  assert.equal(formatDuration(2400), '40 m');
  assert.equal(formatDuration(3599), '1 h 00 m');
  assert.equal(formatDuration(4320), '1 h 12 m');
  assert.equal(formatDuration(7500), '2 h 05 m');
  assert.equal(formatDuration(86400 + 3 * 3600), '1 d 03 h');
  assert.equal(formatDuration(-3), '0 s');
});

test('the lens says the estimate, its 80 % range and source, then Submit', () => {
  assert.equal(lensTitle(est()), '≈ 1 h 12 m (80 %: 40 m – 2 h 05 m) · from history · Submit');
  assert.equal(estimateSummary(est({ source: 'model', modelVersion: 3 })), '≈ 1 h 12 m (80 %: 40 m – 2 h 05 m) · from model v3');
  assert.equal(estimateSummary(est({ source: 'request', p10: null, p90: null, p50: 3600 })), '≈ 1 h 00 m · from the time limit');
  assert.equal(lensTitle(est({ source: 'none', p10: null, p50: null, p90: null })), 'no estimate · Submit');
  assert.equal(lensTitle(undefined), 'no estimate · Submit');
  const d = estimateDetails(est({ expectedStart: '2026-01-01T00:00:00Z', warnings: [{ kind: 'timeout-risk', message: 'may TIMEOUT', suggestedLimit: '02:30:00' }], problems: [{ line: 2, column: 1, endColumn: 5, severity: 'error', message: 'bad' }] }));
  assert.deepEqual(d.slice(1), ['time limit 1 h 00 m', 'expected start 2026-01-01T00:00:00Z', 'may TIMEOUT (suggested: --time=02:30:00)', 'error on line 2: bad']);
});

test('which documents and which cluster', () => {
  assert.equal(wantsEstimate('sbatch', '/a/x.sbatch', ''), true);
  assert.equal(wantsEstimate('sbatch', '/a/train.sbatch.hbs', '#SBATCH --time={{t}}'), true, 'templates are estimated with their defaults');
  assert.equal(wantsEstimate('shellscript', '/a/x.sh', '#!/bin/bash\n#SBATCH -N 1\n'), true);
  assert.equal(wantsEstimate('shellscript', '/a/x.sh', '#!/bin/bash\necho hi\n'), false);
  assert.equal(wantsEstimate('python', '/a/x.py', '#SBATCH -N 1'), false);
  assert.equal(estimateCluster('hpc', ['a', 'b']), 'hpc');
  assert.equal(estimateCluster('', ['a']), 'a');
  assert.equal(estimateCluster(undefined, ['a', 'b']), undefined);
  assert.equal(estimateCluster('  ', []), undefined);
});

test('problems map from 1-based, end-exclusive columns to 0-based ranges, clamped', () => {
  const lines = splitLines('#!/bin/bash\n#SBATCH --time=soon\necho hi');
  assert.deepEqual(problemRange({ line: 2, column: 16, endColumn: 20 }, lines), { line: 1, start: 15, end: 19 });
  assert.equal(lines[1]!.slice(15, 19), 'soon');
  // Past the end of the line or the text: clamped.
  assert.deepEqual(problemRange({ line: 2, column: 16, endColumn: 99 }, lines), { line: 1, start: 15, end: 19 });
  assert.deepEqual(problemRange({ line: 9, column: 1, endColumn: 3 }, lines), { line: 2, start: 0, end: 2 });
  // Empty range: to the end of the line; at the end: the whole line.
  assert.deepEqual(problemRange({ line: 2, column: 9, endColumn: 9 }, lines), { line: 1, start: 8, end: 19 });
  assert.deepEqual(problemRange({ line: 2, column: 30, endColumn: 30 }, lines), { line: 1, start: 0, end: 19 });
  // Line 0 (the command-line arguments): the first line.
  assert.deepEqual(problemRange({ line: 0, column: 1, endColumn: 4 }, lines), { line: 0, start: 0, end: 11 });
});

test('the --time directive is the last one in the directive block', () => {
  assert.deepEqual(findTimeDirective(splitLines('#!/bin/bash\n#SBATCH --time=1:00:00\n#SBATCH -t 30\necho\n#SBATCH --time=5')), { line: 2, start: 11, end: 13 });
  assert.deepEqual(findTimeDirective(splitLines('#SBATCH --time 10')), { line: 0, start: 15, end: 17 });
  assert.deepEqual(findTimeDirective(splitLines('#SBATCH -t5')), { line: 0, start: 10, end: 11 });
  assert.equal(findTimeDirective(splitLines('#!/bin/bash\n#SBATCH -N 1\n')), undefined);
  assert.equal(findTimeDirective(splitLines('#SBATCH --time-min=5')), undefined);
});

function fakeClock() {
  let now = 0;
  let id = 0;
  const pending = new Map<number, { at: number; fn: () => void }>();
  return {
    set: (fn: () => void, ms: number) => {
      pending.set(++id, { at: now + ms, fn });
      return id;
    },
    clear: (h: unknown) => void pending.delete(h as number),
    advance(ms: number) {
      now += ms;
      for (const [k, t] of [...pending].sort((a, b) => a[1].at - b[1].at)) {
        if (t.at <= now) {
          pending.delete(k);
          t.fn();
        }
      }
    },
  };
}
const tick = () => new Promise((r) => setImmediate(r));

test('requests wait for typing to pause, run once per version, and only the latest result is applied', async () => {
  const clock = fakeClock();
  const runs: number[] = [];
  const resolvers = new Map<number, (v: string) => void>();
  const applied: [string, number, string][] = [];
  const r = new LatestRequests<string>(
    (_k, v) => {
      runs.push(v);
      return new Promise((res) => resolvers.set(v, res));
    },
    (k, v, x) => applied.push([k, v, x]),
    300,
    clock,
  );
  r.schedule('a', 1);
  clock.advance(200);
  r.schedule('a', 2);
  clock.advance(200);
  assert.deepEqual(runs, [], 'still typing');
  clock.advance(100);
  assert.deepEqual(runs, [2], 'one request after the pause, for the last version');
  // The lens asks for the same version: shared, no new request.
  const shared = r.now('a', 2);
  assert.deepEqual(runs, [2]);
  // A newer version starts before the old answer arrives.
  r.schedule('a', 3);
  clock.advance(300);
  assert.deepEqual(runs, [2, 3]);
  resolvers.get(3)!('three');
  await tick();
  resolvers.get(2)!('two');
  await tick();
  assert.equal(await shared, 'two');
  assert.deepEqual(applied, [['a', 3, 'three']], 'the stale answer for version 2 is not applied');
  // Forgotten documents drop pending work and late answers.
  r.schedule('b', 1);
  r.forget('b');
  clock.advance(1000);
  assert.deepEqual(runs, [2, 3]);
  r.dispose();
});

test('failed requests are not cached; invalidate drops in-flight answers', async () => {
  const clock = fakeClock();
  let n = 0;
  let fail = true;
  const applied: string[] = [];
  const r = new LatestRequests<string>(
    async () => {
      n++;
      if (fail) throw new Error('down');
      return `r${n}`;
    },
    (_k, _v, x) => applied.push(x),
    300,
    clock,
  );
  await assert.rejects(r.now('a', 1), /down/);
  await tick();
  fail = false;
  assert.equal(await r.now('a', 1), 'r2', 'asked again after a failure');
  assert.equal(await r.now('a', 1), 'r2', 'then cached');
  r.invalidate();
  const p = r.now('a', 1);
  r.invalidate();
  await p;
  await tick();
  assert.deepEqual(applied, ['r2'], 'the answer from before invalidate is not applied');
});

test('lens: median only, the expected start, and a template says its defaults were used', () => {
  assert.equal(lensTitle(est(), { display: 'median' }), '≈ 1 h 12 m · from history · Submit');
  assert.equal(lensTitle(est(), { start: '14:05' }), '≈ 1 h 12 m (80 %: 40 m – 2 h 05 m) · from history · starts ≈ 14:05 · Submit');
  assert.equal(lensTitle(est(), { template: true }), "≈ 1 h 12 m (80 %: 40 m – 2 h 05 m) · from history · with the template's defaults");
  const now = new Date(2026, 10, 22, 9, 0);
  assert.equal(formatClock(new Date(2026, 10, 22, 14, 5).toISOString(), now), '14:05');
  assert.equal(formatClock(new Date(2026, 10, 24, 7, 30).toISOString(), now), 'Tue 07:30');
});

test('template files: recognised by .hbs, named as the daemon names them', () => {
  assert.equal(isTemplate('/w/.slurm-ml/templates/train.sbatch.hbs'), true);
  assert.equal(isTemplate('/w/run.sbatch'), false);
  assert.equal(templateName('/w/.slurm-ml/templates/train.sbatch.hbs'), 'train');
  assert.equal(templateName('/w/my job!.sbatch.hbs'), 'my_job_');
  assert.equal(templateName('/w/.hbs'), 'template');
});
