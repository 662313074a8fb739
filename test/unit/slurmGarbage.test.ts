// Every parser on input it was never meant to see: random bytes, cut lines,
// wrong commands' output. Each returns a result or a typed error; none throws.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { classifySlurmError } from '../../daemon/slurm/errors';
import { parseExitCode } from '../../daemon/slurm/exitcode';
import { parseJobId } from '../../daemon/slurm/jobid';
import { normalizeJobState } from '../../daemon/slurm/jobstate';
import { parseSlurmMemory } from '../../daemon/slurm/memory';
import type { ParseResult } from '../../daemon/slurm/output';
import { parseSacct } from '../../daemon/slurm/sacct';
import { parseSbatchOutput } from '../../daemon/slurm/sbatch';
import { parseScontrolJobs, splitScontrolPairs } from '../../daemon/slurm/scontrol';
import { parseSinfo } from '../../daemon/slurm/sinfo';
import { parseSqueue } from '../../daemon/slurm/squeue';
import { parseSlurmDurationDetailed, parseSlurmTimestamp } from '../../daemon/slurm/time';
import { parseTres } from '../../daemon/slurm/tres';
import { parseSlurmVersion } from '../../daemon/slurm/version';
import { fixture } from '../fixtures/slurm/fixtures';

const parsers: Array<[string, (s: string) => ParseResult<unknown>]> = [
  ['squeue', parseSqueue],
  ['sacct', parseSacct],
  ['scontrol', parseScontrolJobs],
  ['sinfo', parseSinfo],
  ['sbatch', parseSbatchOutput],
  ['version', parseSlurmVersion],
];

const fieldParsers: Array<(s: string) => unknown> = [
  parseSlurmDurationDetailed,
  (s) => parseSlurmTimestamp(s),
  (s) => parseSlurmTimestamp(s, { timeZone: { iana: 'Europe/Berlin' } }),
  parseExitCode,
  parseJobId,
  normalizeJobState,
  (s) => parseSlurmMemory(s),
  parseTres,
  splitScontrolPairs,
  classifySlurmError,
];

// A small deterministic generator so a failure reproduces.
function rng(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

function checkShape(name: string, r: ParseResult<unknown>, input: string): void {
  assert.equal(typeof r, 'object', name);
  if (r.ok) {
    assert.ok(Array.isArray(r.issues), name);
  } else {
    assert.equal(r.error.kind, 'slurm-parse-error', `${name}: ${JSON.stringify(input.slice(0, 80))}`);
    assert.equal(typeof r.error.message, 'string');
  }
}

test('random bytes', () => {
  const next = rng(12345);
  const alphabet = 'abcXYZ0123456789 =:-_|[]%+.,;/()\t\r\n\x1f\u0000\u00ff\u2713\ud800';
  for (let i = 0; i < 400; i++) {
    const len = Math.floor(next() * 300);
    let s = '';
    for (let j = 0; j < len; j++) {
      s += next() < 0.5 ? alphabet[Math.floor(next() * alphabet.length)] : String.fromCharCode(Math.floor(next() * 0xffff));
    }
    for (const [name, parse] of parsers) checkShape(name, parse(s), s);
    for (const f of fieldParsers) f(s);
  }
});

test('every fixture cut at many points, through every parser', () => {
  const files = readdirSync(new URL('../fixtures/slurm/', import.meta.url)).filter((f) => f.endsWith('.txt'));
  assert.ok(files.length > 20);
  for (const file of files) {
    const text = fixture(file);
    const step = Math.max(1, Math.floor(text.length / 60));
    for (let cut = 0; cut <= text.length; cut += step) {
      const part = text.slice(0, cut);
      for (const [name, parse] of parsers) checkShape(name, parse(part), part);
      // A line cut in the middle is skipped with an issue, never half-read as a row.
      const squeue = parseSqueue(part);
      if (squeue.ok) for (const row of squeue.value) assert.ok(typeof row.name === 'string');
    }
  }
});

test('cut squeue/sacct lines are issues, whole ones still rows', () => {
  const text = fixture('squeue-final.txt');
  const lines = text.split('\n').filter((l) => l !== '');
  const damaged = [lines[0]!.slice(0, 20), ...lines.slice(1)].join('\n');
  const r = parseSqueue(damaged);
  assert.ok(r.ok);
  assert.equal(r.value.length, lines.length - 1);
  assert.equal(r.issues.length, 1);
  assert.equal(r.issues[0]!.line, 1);
  const s = parseSacct(fixture('sacct-final.txt').split('\n').map((l, i) => (i === 1 ? l.slice(0, 10) : l)).join('\n'));
  assert.ok(s.ok);
  assert.equal(s.issues.length, 1);
});

test('the wrong command output', () => {
  const squeueText = fixture('squeue-final.txt');
  const sacctText = fixture('sacct-final.txt');
  const scontrolText = fixture('scontrol-completed.txt');
  assert.equal(parseSqueue(scontrolText).ok, false);
  assert.equal(parseScontrolJobs(squeueText).ok, false);
  assert.equal(parseSinfo(scontrolText).ok, false);
  // sacct has more columns than squeue: squeue lines are too short for it.
  assert.equal(parseSacct(squeueText).ok, false);
  // A sacct line has enough columns for squeue, but not a state where squeue prints one.
  assert.equal(parseSqueue(sacctText).ok, false);
});

test('non-string input is handled as empty', () => {
  for (const [name, parse] of parsers) checkShape(name, parse(undefined as unknown as string), '');
});
