import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { shellCommand, shellCommandInDir, shellQuote } from '../../daemon/ssh/quote';
import { seededRandom } from '../../daemon/util/random';

// Every shell the remote side might plausibly be using that exists here.
const SHELLS = ['/bin/sh', '/bin/dash', '/bin/bash', '/usr/bin/zsh', '/bin/ksh'].filter((s) => existsSync(s));

/** Runs the quoted command line through a real shell; returns the argv printf saw. */
function roundTrip(shell: string, args: string[], env: NodeJS.ProcessEnv = {}): string[] {
  const cmd = shellCommand(['printf', '%s\\0', ...args]);
  const out = execFileSync(shell, ['-c', cmd], { env: { PATH: '/usr/bin:/bin', ...env } });
  const parts = out.toString('utf8').split('\0');
  assert.equal(parts.pop(), '', 'output ends with NUL');
  return parts;
}

const NASTY = [
  '',
  ' ',
  'two words',
  "it's",
  "'",
  "''",
  '"',
  '\\',
  '\\\\n',
  '$HOME',
  '${HOME}',
  '$(touch /tmp/pwned)',
  '`touch /tmp/pwned`',
  'a;b',
  'a && b || c',
  'a|b',
  'a&',
  '>out',
  '<in',
  '2>&1',
  '*',
  '?',
  '[a-z]',
  '{a,b}',
  '~',
  '~/x',
  '~root',
  '#comment',
  'a#b',
  '!',
  '!!',
  '^',
  'FOO=bar',
  '--job-name=x',
  'line1\nline2',
  '\n',
  '\t',
  '\r\n',
  '\x01\x1b[31m',
  'ünïcödé ✓ 日本',
  '%s%d%%',
  '-n',
  '-e',
  '--',
  "'\"'\"'",
  "$'\\x41'",
];

test('shellQuote: safe tokens stay bare for readable logs', () => {
  for (const s of ['--parsable', '/a/b.sh', 'sbatch', '-o', '%j.out', 'user@host:/p', 'a,b', 'x+y', '--job-name=x', '1.5']) {
    assert.equal(shellQuote(s), s);
  }
});

test('shellQuote: specials are quoted', () => {
  assert.equal(shellQuote(''), "''");
  assert.equal(shellQuote('a b'), "'a b'");
  assert.equal(shellQuote("it's"), "'it'\\''s'");
  assert.equal(shellQuote('FOO=bar'), "'FOO=bar'");
  assert.equal(shellQuote('~'), "'~'");
  assert.equal(shellQuote('#x'), "'#x'");
});

test('shellQuote: NUL is refused', () => {
  assert.throws(() => shellQuote('a\0b'), TypeError);
});

test('shellCommand: empty argv is refused', () => {
  assert.throws(() => shellCommand([]), TypeError);
});

test('round trip of nasty strings through real shells', () => {
  assert.ok(SHELLS.length > 0);
  for (const shell of SHELLS) {
    assert.deepEqual(roundTrip(shell, NASTY), NASTY, shell);
    // One at a time too, so a failure names the culprit.
    for (const s of NASTY) assert.deepEqual(roundTrip(shell, [s]), [s], `${shell}: ${JSON.stringify(s)}`);
  }
});

test('command substitution in arguments does not run', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sshquote-'));
  try {
    const marker = join(dir, 'marker');
    for (const shell of SHELLS) {
      roundTrip(shell, [`$(touch ${marker})`, `\`touch ${marker}\``, `; touch ${marker}`, `' ; touch ${marker} ; '`]);
    }
    assert.equal(existsSync(marker), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a first word that looks like an assignment is run, not assigned', () => {
  // Bare, `FOO=bar` would be a variable assignment and the shell would exit 0.
  assert.throws(
    () => execFileSync('/bin/sh', ['-c', shellCommand(['FOO=bar'])], { stdio: 'pipe' }),
    (err: { status?: number }) => err.status === 127,
  );
});


test('round trip of random strings (fixed seed)', () => {
  const rand = seededRandom(0x5eed);
  // Every ASCII byte except NUL, weighted towards shell metacharacters, plus
  // some multi-byte characters.
  const ascii = Array.from({ length: 127 }, (_, i) => String.fromCharCode(i + 1));
  const meta = [..."'\"\\$`;&|<>(){}[]*?~#!^= \t\n"];
  const wide = ['é', '✓', '日', '😀'];
  const pick = (xs: string[]) => xs[Math.floor(rand() * xs.length)] as string;
  const strings: string[] = [];
  for (let i = 0; i < 400; i++) {
    const len = Math.floor(rand() * 24);
    let s = '';
    for (let j = 0; j < len; j++) {
      const r = rand();
      s += r < 0.5 ? pick(meta) : r < 0.95 ? pick(ascii) : pick(wide);
    }
    strings.push(s);
  }
  for (const shell of SHELLS) {
    // Batches keep the number of shell processes small.
    for (let i = 0; i < strings.length; i += 50) {
      const batch = strings.slice(i, i + 50);
      assert.deepEqual(roundTrip(shell, batch), batch, shell);
    }
  }
});

test('shellCommandInDir: cd into awkward directories, ~ expands', () => {
  const base = mkdtempSync(join(tmpdir(), 'sshquote-dir-'));
  try {
    const names = ["with space", "it's", '$(x)', '-dash', 'new\nline', '*'];
    for (const name of names) {
      const dir = join(base, name);
      mkdirSync(dir);
      for (const shell of SHELLS) {
        const out = execFileSync(shell, ['-c', shellCommandInDir(dir, ['pwd'])], { encoding: 'utf8' });
        assert.equal(out, dir + '\n', `${shell}: ${JSON.stringify(name)}`);
      }
    }
    // Relative dir starting with '-' must not be read as an option.
    for (const shell of SHELLS) {
      const out = execFileSync(shell, ['-c', shellCommandInDir('-dash', ['pwd'])], { encoding: 'utf8', cwd: base });
      assert.equal(out, join(base, '-dash') + '\n');
    }
    const env = { HOME: base, PATH: '/usr/bin:/bin' };
    for (const shell of SHELLS) {
      assert.equal(execFileSync(shell, ['-c', shellCommandInDir('~', ['pwd'])], { encoding: 'utf8', env }), base + '\n');
      assert.equal(execFileSync(shell, ['-c', shellCommandInDir('~/', ['pwd'])], { encoding: 'utf8', env }), base + '\n');
      assert.equal(
        execFileSync(shell, ['-c', shellCommandInDir("~/it's", ['pwd'])], { encoding: 'utf8', env }),
        join(base, "it's") + '\n',
      );
    }
    assert.equal(shellCommandInDir('/a/b', ['ls', '-l']), 'cd /a/b && ls -l');
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
});
