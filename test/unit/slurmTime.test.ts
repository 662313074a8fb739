// SLURM durations and timestamps: every form SLURM prints or accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatSlurmDuration, parseSlurmDuration, parseSlurmDurationDetailed, parseSlurmTimestamp } from '../../daemon/slurm/time';

test('durations in every form', () => {
  const cases: Array<[string, number]> = [
    ['5', 5 * 60], // MM
    ['0', 0],
    ['90', 90 * 60],
    ['1:23', 83], // MM:SS (squeue TIME)
    ['10:00', 600], // sinfo's 10-minute limit
    ['00:00:01', 1], // HH:MM:SS
    ['01:02:03', 3723],
    ['100:00:00', 360000],
    ['2-3', (2 * 24 + 3) * 3600], // D-HH
    ['1-00:00', 86400], // D-HH:MM
    ['1-02:03', 93780],
    ['1-00:00:00', 86400], // D-HH:MM:SS
    ['3-04:05:06', 3 * 86400 + 4 * 3600 + 5 * 60 + 6],
    ['00:00.003', 0.003], // sacct TotalCPU: MM:SS.mmm
    ['01:02:03.5', 3723.5],
    [' 1:23 ', 83],
  ];
  for (const [text, seconds] of cases) {
    assert.equal(parseSlurmDuration(text), seconds, text);
    assert.deepEqual(parseSlurmDurationDetailed(text), { kind: 'seconds', seconds }, text);
  }
});

test('duration words', () => {
  for (const w of ['UNLIMITED', 'unlimited', 'infinite', 'INFINITE']) {
    assert.deepEqual(parseSlurmDurationDetailed(w), { kind: 'unlimited' }, w);
    assert.equal(parseSlurmDuration(w), null);
  }
  for (const w of ['NOT_SET', 'Partition_Limit', '', '   ', 'N/A', 'n/a', 'None', '(null)']) {
    assert.deepEqual(parseSlurmDurationDetailed(w), { kind: 'unset' }, JSON.stringify(w));
    assert.equal(parseSlurmDuration(w), null);
  }
  assert.deepEqual(parseSlurmDurationDetailed('INVALID'), { kind: 'invalid', text: 'INVALID' });
});

test('text that is not a duration is invalid, never a number', () => {
  for (const bad of ['abc', '1:2:3:4', '-5', '1-', '-1:00', '1:', ':30', '1::2', '1.5', '1.5:00', '1-2:3.5', '1--2', '1-2-3', 'x-01:00', '12:ab', '1e3', 'Infinity', 'NaN', '0x10']) {
    const d = parseSlurmDurationDetailed(bad);
    assert.equal(d.kind, 'invalid', bad);
    assert.equal(parseSlurmDuration(bad), null, bad);
  }
  // Not strings at all (a JSON field gone wrong) are not a crash either.
  assert.equal(parseSlurmDuration(undefined as unknown as string), null);
  assert.equal(parseSlurmDuration(42 as unknown as string), null);
});

test('formatSlurmDuration writes what sbatch --time reads back', () => {
  for (const s of [0, 59, 60, 3599, 3600, 86399, 86400, 93784, 10 * 86400 + 1]) {
    assert.equal(parseSlurmDuration(formatSlurmDuration(s)), s);
  }
  assert.equal(formatSlurmDuration(93784), '1-02:03:04');
  assert.equal(formatSlurmDuration(61.2), '00:01:02');
  assert.throws(() => formatSlurmDuration(-1), RangeError);
  assert.throws(() => formatSlurmDuration(Number.NaN), RangeError);
});

test('timestamps in UTC, fixed offsets and IANA zones', () => {
  assert.equal(parseSlurmTimestamp('2026-11-22T09:12:03', { timeZone: 'UTC' }), '2026-11-22T09:12:03.000Z');
  assert.equal(parseSlurmTimestamp('2026-11-22T09:12:03', { timeZone: { offsetMinutes: 60 } }), '2026-11-22T08:12:03.000Z');
  assert.equal(parseSlurmTimestamp('2026-11-22T09:12:03', { timeZone: { offsetMinutes: -300 } }), '2026-11-22T14:12:03.000Z');
  // Winter and summer in Berlin: +01:00 and +02:00.
  assert.equal(parseSlurmTimestamp('2026-01-15T12:00:00', { timeZone: { iana: 'Europe/Berlin' } }), '2026-01-15T11:00:00.000Z');
  assert.equal(parseSlurmTimestamp('2026-07-15T12:00:00', { timeZone: { iana: 'Europe/Berlin' } }), '2026-07-15T10:00:00.000Z');
  assert.equal(parseSlurmTimestamp('2026-07-15T12:00:00', { timeZone: { iana: 'America/New_York' } }), '2026-07-15T16:00:00.000Z');
  // An unknown zone is no time rather than a wrong one.
  assert.equal(parseSlurmTimestamp('2026-07-15T12:00:00', { timeZone: { iana: 'Mars/Olympus' } }), null);
  // Without seconds, and with a space (SLURM_TIME_FORMAT variants some sites use).
  assert.equal(parseSlurmTimestamp('2026-11-22T09:12', { timeZone: 'UTC' }), '2026-11-22T09:12:00.000Z');
  assert.equal(parseSlurmTimestamp('2026-11-22 09:12:03', { timeZone: 'UTC' }), '2026-11-22T09:12:03.000Z');
});

test('timestamps default to the daemon local zone', () => {
  const iso = parseSlurmTimestamp('2026-11-22T09:12:03');
  assert.equal(iso, new Date(2026, 10, 22, 9, 12, 3).toISOString());
});

test('no-time words and garbage are null', () => {
  for (const w of ['Unknown', 'None', 'N/A', 'NONE', '', '  ', '(null)', '0', 'unknown']) {
    assert.equal(parseSlurmTimestamp(w), null, JSON.stringify(w));
  }
  for (const bad of ['2026-13-01T00:00:00', '2026-02-30T00:00:00', '2026-11-22T24:00:00', '2026-11-22T09:60:00', '2026-11-22T09:12:61', 'Ystday 12:00', 'Mon 12:34:56', '22 Nov', '2026-11-22', '2026-11-22T09:12:03Z', '0000-01-01T00:00:00', 'x'.repeat(1000)]) {
    assert.equal(parseSlurmTimestamp(bad, { timeZone: 'UTC' }), null, bad);
  }
  assert.equal(parseSlurmTimestamp('2028-02-29T00:00:00', { timeZone: 'UTC' }), '2028-02-29T00:00:00.000Z');
  assert.equal(parseSlurmTimestamp(null as unknown as string), null);
});
