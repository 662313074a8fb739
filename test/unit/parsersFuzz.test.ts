// Property-based fuzzing (fast-check) of everything that reads text from the
// cluster or from the user's editor: the squeue/sacct/scontrol/sinfo/sbatch
// parsers and the sbatch directive parser. Inputs are random bytes (decoded as
// the daemon decodes SSH output) and real recorded outputs
// (test/fixtures/slurm) mutated: characters replaced, lines dropped, repeated
// or swapped, field separators inserted, huge fields. Each call must return a
// result or a typed error, never throw, and what it returns must be plain data
// (JSON-serialisable, as the daemon sends it on). The seed is printed by
// fast-check on a failure, so any counterexample reproduces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import type { ParseResult } from '../../daemon/slurm/output';
import { parseSacct, parseSacctRows } from '../../daemon/slurm/sacct';
import { parseSbatchOutput } from '../../daemon/slurm/sbatch';
import { parseScontrolJobs } from '../../daemon/slurm/scontrol';
import { parseSinfo, parseSinfoRows } from '../../daemon/slurm/sinfo';
import { parseSqueue, parseSqueuePaths } from '../../daemon/slurm/squeue';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import { fixture } from '../fixtures/slurm/fixtures';

const RUNS = Number(process.env.FUZZ_RUNS ?? 2000);

const parsers: Array<[string, (s: string) => ParseResult<unknown>]> = [
  ['squeue', (s) => parseSqueue(s)],
  ['squeue paths', parseSqueuePaths],
  ['sacct', (s) => parseSacct(s)],
  ['sacct rows', (s) => parseSacctRows(s)],
  ['scontrol', (s) => parseScontrolJobs(s)],
  ['sinfo', parseSinfo],
  ['sinfo rows', parseSinfoRows],
  ['sbatch', parseSbatchOutput],
];

const fixtureDir = join(__dirname, '..', 'fixtures', 'slurm');
const realOutputs = readdirSync(fixtureDir)
  .filter((f) => f.endsWith('.txt'))
  .map((f) => fixture(f));
const sbatchDir = join(__dirname, '..', 'fixtures', 'sbatch');
const realScripts = readdirSync(sbatchDir, { recursive: true })
  .map(String)
  .filter((f) => /\.(sbatch|sh|slurm)$/.test(f))
  .map((f) => readFileSync(join(sbatchDir, f), 'utf8'));

/** A result or a typed error, made of plain data. */
function checkResult(name: string, r: ParseResult<unknown>): void {
  assert.equal(typeof r, 'object', `${name}: no result`);
  if (r.ok) {
    assert.ok(Array.isArray(r.issues), `${name}: issues is not an array`);
    for (const i of r.issues) assert.equal(typeof i.message, 'string');
  } else {
    assert.equal(r.error.kind, 'slurm-parse-error', `${name}: error of kind ${String(r.error.kind)}`);
    assert.equal(typeof r.error.message, 'string');
    assert.ok(r.error.message.length > 0, `${name}: empty error message`);
  }
  JSON.stringify(r);
}

function checkDirectives(text: string, args?: string[]): void {
  const r = parseSbatchScript(text, args);
  assert.ok(Array.isArray(r.problems) && Array.isArray(r.directives), 'directives: shape');
  for (const p of r.problems) {
    // Line 0: a problem of the command-line options (column: the argument's index + 1).
    const lines = text.split('\n').length;
    assert.ok(Number.isInteger(p.line) && p.line >= (p.source === 'command-line' ? 0 : 1) && p.line <= lines, `problem line ${p.line} of ${lines}`);
    assert.ok(Number.isInteger(p.column) && p.column >= 1 && p.endColumn > p.column, `problem columns ${p.column}-${p.endColumn}`);
    assert.equal(typeof p.message, 'string');
  }
  JSON.stringify(r);
}

// ---------------------------------------------------------------- generators

/** Random bytes, decoded the way SSH output is (UTF-8 with replacement) — or as Latin-1, which keeps every byte. */
const randomText = fc.oneof(
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString('utf8')),
  fc.uint8Array({ maxLength: 2048 }).map((b) => Buffer.from(b).toString('latin1')),
  fc.string({ unit: 'binary', maxLength: 512 }),
);

const separators = ['\x1f', '|', '=', ' ', '\n', '\r\n', '\t', ':', '_', '[', ']', '-', '%', '(null)', 'Unknown', 'N/A', '\0'];

type Mutation = (s: string) => string;

/** One edit of a real output: replaced, inserted or deleted characters, line surgery, huge fields. */
const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.nat(), fc.string({ unit: 'binary', maxLength: 8 })).map(([at, x]): Mutation => (s) => {
    const i = s.length ? at % s.length : 0;
    return s.slice(0, i) + x + s.slice(i + 1);
  }),
  fc.tuple(fc.nat(), fc.constantFrom(...separators)).map(([at, x]): Mutation => (s) => {
    const i = s.length ? at % (s.length + 1) : 0;
    return s.slice(0, i) + x + s.slice(i);
  }),
  fc.tuple(fc.nat(), fc.nat({ max: 64 })).map(([at, n]): Mutation => (s) => {
    const i = s.length ? at % s.length : 0;
    return s.slice(0, i) + s.slice(i + n);
  }),
  fc.nat().map((at): Mutation => (s) => s.slice(0, s.length ? at % (s.length + 1) : 0)),
  fc.tuple(fc.nat(), fc.nat()).map(([a, b]): Mutation => (s) => {
    const lines = s.split('\n');
    const i = a % lines.length;
    const j = b % lines.length;
    [lines[i], lines[j]] = [lines[j]!, lines[i]!];
    return lines.join('\n');
  }),
  fc.nat().map((a): Mutation => (s) => {
    const lines = s.split('\n');
    const i = a % lines.length;
    return [...lines.slice(0, i + 1), lines[i]!, ...lines.slice(i + 1)].join('\n');
  }),
  fc.nat().map((a): Mutation => (s) => {
    const lines = s.split('\n');
    lines.splice(a % lines.length, 1);
    return lines.join('\n');
  }),
  // A huge field: a number or a word of 100k characters where a value was.
  fc.tuple(fc.nat(), fc.constantFrom('9', 'x', '\x1f', '=', '[', '1-')).map(([at, c]): Mutation => (s) => {
    const i = s.length ? at % (s.length + 1) : 0;
    return s.slice(0, i) + c.repeat(Math.ceil(100_000 / c.length)) + s.slice(i);
  }),
  // Numbers that overflow, negative ones, NaN-ish words in place of digits.
  fc.constantFrom('99999999999999999999999', '-1', 'NaN', 'Infinity', '1e308', '0x1f', '-0').map((n): Mutation => (s) => s.replace(/\d+/, n)),
);

const mutated = (corpus: string[]) =>
  fc.tuple(fc.constantFrom(...corpus), fc.array(mutation, { minLength: 1, maxLength: 6 })).map(([text, ms]) => ms.reduce((t, m) => m(t), text));

// ---------------------------------------------------------------- properties

test('SLURM output parsers: random bytes give a result or a typed error', () => {
  fc.assert(
    fc.property(randomText, (s) => {
      for (const [name, parse] of parsers) checkResult(name, parse(s));
    }),
    { numRuns: RUNS },
  );
});

test('SLURM output parsers: mutated real outputs give a result or a typed error', () => {
  assert.ok(realOutputs.length > 20, 'the recorded fixtures are there');
  fc.assert(
    fc.property(mutated(realOutputs), (s) => {
      for (const [name, parse] of parsers) checkResult(name, parse(s));
    }),
    { numRuns: RUNS },
  );
});

test('the sbatch directive parser: random bytes and mutated real scripts give problems, never a throw', () => {
  assert.ok(realScripts.length > 0, 'the sbatch fixtures are there');
  const args = fc.array(fc.oneof(fc.string({ maxLength: 40 }), fc.constantFrom('--time', '-t', '--array=1-', '--mem=', '-N', '--', '--wrap', '-J', '--het-group=1')), { maxLength: 6 });
  fc.assert(
    fc.property(fc.oneof(randomText, mutated(realScripts)), fc.option(args, { nil: undefined }), (text, a) => checkDirectives(text, a)),
    { numRuns: RUNS },
  );
  // Directive-dense scripts: every line an #SBATCH with random options and values.
  const directiveLine = fc
    .tuple(fc.constantFrom('#SBATCH', '#SBATCH ', '# SBATCH', '#SBATCH\t'), fc.constantFrom('--time', '-t', '--array', '--mem', '-N', '--nodes', '--gres', '-J', '--dependency', '--signal', '--begin', ''), fc.constantFrom('=', ' ', ''), fc.string({ unit: 'binary', maxLength: 30 }))
    .map((p) => p.join(''));
  fc.assert(
    fc.property(fc.array(directiveLine, { maxLength: 40 }), (lines) => checkDirectives(['#!/bin/bash', ...lines, 'srun hostname'].join('\n'))),
    { numRuns: RUNS },
  );
});
