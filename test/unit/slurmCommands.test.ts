// Argument vectors for the SLURM commands, and that the recorded fixtures
// came from these very commands.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import {
  FIELD_SEPARATOR,
  SACCT_FORMAT,
  SINFO_FORMAT,
  SQUEUE_FORMAT,
  sacctCommand,
  sbatchCommand,
  sbatchTestOnlyCommand,
  sbatchVersionCommand,
  scancelCommand,
  scontrolShowJobCommand,
  sinfoCommand,
  squeueCommand,
  squeuePathsCommand,
  squeueUserCommand,
  squeueVersionCommand,
} from '../../daemon/slurm/commands';
import { shellCommand } from '../../daemon/ssh/quote';
import { manifest } from '../fixtures/slurm/fixtures';

test('sbatch', () => {
  assert.deepEqual(sbatchCommand('/h/run.sh'), ['sbatch', '--parsable', '/h/run.sh']);
  assert.deepEqual(sbatchCommand('/h/run dir/run.sh', { jobName: 'a "b" | c', extraArgs: ['--time=10', '--partition=long'], scriptArgs: ['x y'] }), [
    'sbatch', '--parsable', '--job-name=a "b" | c', '--time=10', '--partition=long', '/h/run dir/run.sh', 'x y',
  ]);
  assert.deepEqual(sbatchCommand('-odd.sh'), ['sbatch', '--parsable', './-odd.sh']);
  assert.throws(() => sbatchCommand(''), RangeError);
  assert.throws(() => sbatchCommand('/s', { jobName: 'two\nlines' }), RangeError);
  assert.throws(() => sbatchCommand('/s', { jobName: '' }), RangeError);
  assert.throws(() => sbatchCommand('/s', { extraArgs: ['--x\0'] }), RangeError);
});

test('sbatch --test-only pins the time format of the start it prints', () => {
  assert.deepEqual(sbatchTestOnlyCommand(), ['env', 'SLURM_TIME_FORMAT=standard', 'sbatch', '--test-only']);
  assert.deepEqual(sbatchTestOnlyCommand(['--time=5', '-p', 'long']), ['env', 'SLURM_TIME_FORMAT=standard', 'sbatch', '--test-only', '--time=5', '-p', 'long']);
  assert.throws(() => sbatchTestOnlyCommand(['--time=5\n']), RangeError);
});

test('squeue, scontrol, sacct pin the time format and name their jobs', () => {
  assert.deepEqual(squeueCommand(['1', '2_3']), [
    'env', 'SLURM_TIME_FORMAT=standard', 'squeue', '--noheader', '--states=all', '--jobs=1,2_3', `--format=${SQUEUE_FORMAT}`,
  ]);
  assert.ok(SQUEUE_FORMAT.endsWith(`${FIELD_SEPARATOR}%j`), 'the job name is the last column');
  assert.deepEqual(squeueUserCommand('hpcuser').slice(-2), ['--user=hpcuser', `--format=${SQUEUE_FORMAT}`]);
  assert.throws(() => squeueUserCommand('a,b'), RangeError);
  assert.deepEqual(scontrolShowJobCommand('7'), ['env', 'SLURM_TIME_FORMAT=standard', 'scontrol', '--oneliner', 'show', 'job', '7']);
  assert.deepEqual(sacctCommand(['5', '6']), [
    'env', 'SLURM_TIME_FORMAT=standard', 'sacct', '--parsable2', '--noheader', `--delimiter=${FIELD_SEPARATOR}`, '--jobs=5,6', `--format=${SACCT_FORMAT}`,
  ]);
  assert.ok(SACCT_FORMAT.endsWith(',WorkDir,JobName'));
  assert.deepEqual(scancelCommand('9'), ['scancel', '9']);
  assert.deepEqual(scancelCommand('9_[1-3]', { signal: 'USR1' }), ['scancel', '--signal=USR1', '9_[1-3]']);
  assert.deepEqual(sinfoCommand(), ['sinfo', '--noheader', `--format=${SINFO_FORMAT}`]);
  assert.deepEqual(sbatchVersionCommand(), ['sbatch', '--version']);
  assert.deepEqual(squeueVersionCommand(), ['squeue', '--version']);
});

test('bad ids never reach a command', () => {
  for (const bad of ['', '1;reboot', '$(id)', '-a', '1 2', '1,2', '1.batch']) {
    assert.throws(() => squeueCommand([bad]), RangeError, bad);
    assert.throws(() => sacctCommand([bad]), RangeError, bad);
    assert.throws(() => scontrolShowJobCommand(bad), RangeError, bad);
    assert.throws(() => scancelCommand(bad), RangeError, bad);
  }
  assert.throws(() => squeueCommand([]), RangeError);
  assert.throws(() => scancelCommand('1', { signal: 'KILL; rm' }), RangeError);
});

test('quoted for a POSIX shell, every argument arrives intact (the separator too)', () => {
  const argv = [...squeueCommand(['1']), ...sbatchCommand("/d d/it's.sh", { jobName: `weird | "dq" 'sq' ünï ✓ $HOME \`id\`` })];
  const out = execFileSync('sh', ['-c', `printf '%s\\0' ${shellCommand(argv)}`]);
  assert.deepEqual(out.toString('utf8').split('\0').slice(0, -1), argv);
});

test('the fixtures were recorded with the current formats', () => {
  const formats = new Map([
    ['squeue', `--format=${SQUEUE_FORMAT}`],
    ['sacct', `--format=${SACCT_FORMAT}`],
    ['sinfo', `--format=${SINFO_FORMAT}`],
  ]);
  let checked = 0;
  for (const f of manifest.fixtures) {
    const cmd = f.argv.find((a) => formats.has(a));
    if (cmd === undefined || f.argv.includes('--version')) continue;
    const format = f.argv.find((a) => a.startsWith('--format=') || a.startsWith('--Format='));
    const expected = format?.startsWith('--Format=') ? squeuePathsCommand(['1']).find((a) => a.startsWith('--Format=')) : formats.get(cmd);
    assert.equal(format, expected, `${f.file}: re-record the fixtures (test/cluster/record-fixtures.ts) after changing a format`);
    assert.equal(f.command, shellCommand(f.argv));
    checked++;
  }
  assert.ok(checked >= 10, String(checked));
});
