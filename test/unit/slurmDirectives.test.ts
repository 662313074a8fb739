// #SBATCH directives and sbatch command-line options, read as sbatch 22.05
// reads them. Behaviour marked "(sbatch)" was checked against
// `sbatch -v --test-only` 22.05.8.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import type { DirectivesResult, Problem } from '../../daemon/slurm/directives';

const FIXTURES = path.join(path.dirname(fileURLToPath(import.meta.url)), '../fixtures/sbatch');
const fixture = (name: string): string => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** A script from lines, with the shebang first. */
const script = (...lines: string[]): string => ['#!/bin/bash', ...lines, 'echo done', ''].join('\n');

const errors = (r: DirectivesResult): Problem[] => r.problems.filter((p) => p.severity === 'error');
const pick = (p: Problem) => ({ line: p.line, column: p.column, endColumn: p.endColumn, severity: p.severity });

test('single-node CPU job', () => {
  const r = parseSbatchScript(fixture('single-node-cpu.sbatch'));
  assert.deepEqual(r.problems, []);
  const q = r.request;
  assert.equal(q.jobName, 'preprocess');
  assert.equal(q.partition, 'standard');
  assert.equal(q.account, 'proj123');
  assert.deepEqual(q.nodes, { min: 1, max: 1 });
  assert.equal(q.ntasks, 1);
  assert.equal(q.cpusPerTask, 8);
  assert.equal(q.totalCpus, 8);
  assert.equal(q.memMB, 16 * 1024);
  assert.equal(q.memAllOfNode, false);
  assert.equal(q.timeLimitSeconds, 2.5 * 3600);
  assert.equal(q.output, 'logs/%x-%j.out');
  assert.equal(q.error, 'logs/%x-%j.err');
  assert.equal(q.gpus, null);
  assert.equal(q.array, null);
  assert.equal(q.qos, null);
  assert.equal(r.directives.length, 10);
  assert.ok(r.directives.every((d) => d.source === 'script' && d.effective));
  assert.deepEqual(r.directives[0], {
    option: 'job-name',
    raw: '--job-name=preprocess',
    value: 'preprocess',
    line: 2,
    column: 9,
    endColumn: 19,
    valueLine: 2,
    valueColumn: 20,
    valueEndColumn: 30,
    source: 'script',
    component: 0,
    effective: true,
  });
});

test('MPI job with -N and --ntasks-per-node, short options with a space', () => {
  const r = parseSbatchScript(fixture('mpi.sbatch'));
  assert.deepEqual(r.problems, []);
  const q = r.request;
  assert.equal(q.jobName, 'lammps');
  assert.deepEqual(q.nodes, { min: 4, max: 4 });
  assert.equal(q.ntasksPerNode, 32);
  assert.equal(q.ntasks, null);
  assert.equal(q.effectiveTasks, 128);
  assert.equal(q.memPerCpuMB, 2000);
  assert.equal(q.memMB, null);
  assert.equal(q.timeLimitSeconds, 86400);
  assert.equal(q.partition, 'compute');
  assert.equal(q.qos, 'normal');
  assert.equal(q.output, 'lammps.%j.out');
  assert.equal(q.exclusive, 'node');
  assert.equal(q.mailType, 'END,FAIL');
  const n = r.directives.find((d) => d.option === 'nodes');
  assert.deepEqual(n && { raw: n.raw, column: n.column, endColumn: n.endColumn, valueColumn: n.valueColumn, valueEndColumn: n.valueEndColumn }, { raw: '-N 4', column: 9, endColumn: 11, valueColumn: 12, valueEndColumn: 13 });
});

test('GPU job: --gres=gpu:a100:2 per node on 2 nodes, --mem=0', () => {
  const r = parseSbatchScript(fixture('gpu.sbatch'));
  assert.deepEqual(r.problems, []);
  const q = r.request;
  assert.equal(q.gres, 'gpu:a100:2');
  assert.equal(q.gpus, 4);
  assert.equal(q.gpuType, 'a100');
  assert.equal(q.memMB, 0);
  assert.equal(q.memAllOfNode, true);
  assert.equal(q.effectiveTasks, 4);
  assert.equal(q.totalCpus, 64);
  assert.equal(q.constraint, 'a100_80g');
});

test('GPU job: --gpus-per-node × nodes, --mem-per-gpu', () => {
  const r = parseSbatchScript(fixture('gpus-per-node.sbatch'));
  assert.deepEqual(r.problems, []);
  assert.equal(r.request.gpusPerNode, 4);
  assert.equal(r.request.gpus, 8);
  assert.equal(r.request.gpuType, null);
  assert.equal(r.request.memPerGpuMB, 40 * 1024);
  assert.equal(r.request.account, 'ml-lab');
});

test('GPU counts from every form', () => {
  const gpus = (...lines: string[]) => parseSbatchScript(script(...lines)).request;
  assert.deepEqual([gpus('#SBATCH --gpus=a100:3').gpus, gpus('#SBATCH --gpus=a100:3').gpuType], [3, 'a100']);
  assert.equal(gpus('#SBATCH -G 2').gpus, 2);
  assert.equal(gpus('#SBATCH --gpus=v100:2,k80:1').gpus, 3);
  assert.equal(gpus('#SBATCH -n 8 --gpus-per-task=1').gpus, 8);
  assert.equal(gpus('#SBATCH -N 3 --gres=gpu:2').gpus, 6);
  assert.equal(gpus('#SBATCH --gres=gpu').gpus, 1);
  assert.equal(gpus('#SBATCH --gres=gpu:h100:4,nvme:1').gpuType, 'h100');
  assert.equal(gpus('#SBATCH --gres=nvme:1').gpus, null);
  assert.equal(gpus('#SBATCH --ntasks=4').gpus, null);
  // The same GPUs said twice: no complaint. Different numbers: a warning on the second form.
  const same = parseSbatchScript(script('#SBATCH -N 2', '#SBATCH --gres=gpu:a100:2', '#SBATCH --gpus-per-node=2'));
  assert.deepEqual(same.problems, []);
  assert.equal(same.request.gpus, 4);
  assert.equal(same.request.gpuType, 'a100');
  const differ = parseSbatchScript(script('#SBATCH --gres=gpu:a100:2', '#SBATCH --gpus-per-node=4'));
  assert.equal(differ.request.gpus, 4);
  assert.deepEqual(differ.problems.map(pick), [{ line: 2, column: 9, endColumn: 15, severity: 'warning' }]);
});

test('array jobs', () => {
  const r = parseSbatchScript(fixture('array.sbatch'));
  assert.deepEqual(r.problems, []);
  assert.deepEqual(r.request.array, { spec: '0-99%10', taskCount: 100, throttle: 10 });
  assert.equal(r.request.timeLimitSeconds, 30 * 60);
  assert.equal(r.request.memPerCpuMB, 4096);
  assert.deepEqual(parseSbatchScript(script('#SBATCH --array=1,3,5-7:2')).request.array, { spec: '1,3,5-7:2', taskCount: 4, throttle: null });
  assert.deepEqual(parseSbatchScript(script('#SBATCH -a 1-5')).request.array, { spec: '1-5', taskCount: 5, throttle: null });
  const bad = parseSbatchScript(script('#SBATCH --array=5-1'));
  assert.deepEqual(bad.problems.map(pick), [{ line: 2, column: 17, endColumn: 20, severity: 'error' }]);
  assert.match((bad.problems[0] as Problem).message, /Invalid --array/);
});

test('everything quoted and commented', () => {
  const r = parseSbatchScript(fixture('quoted-commented.sbatch'));
  assert.deepEqual(r.problems, []);
  const q = r.request;
  assert.equal(q.jobName, 'my job');
  assert.equal(q.partition, 'long');
  assert.equal(q.timeLimitSeconds, (2 * 24 + 12) * 3600);
  assert.equal(q.output, 'logs/run %j.out');
  assert.equal(q.cpusPerTask, 4);
  assert.equal(q.ntasks, 1);
  // ##SBATCH and # SBATCH are comments: --time stays the quoted one, --mem the one after the blank line.
  assert.equal(q.memMB, 8192);
  const name = r.directives.find((d) => d.option === 'job-name');
  assert.deepEqual(name && [name.raw, name.value, name.column, name.valueColumn, name.valueEndColumn], ['--job-name="my job"', 'my job', 9, 20, 28]);
  const time = r.directives.find((d) => d.option === 'time');
  assert.deepEqual(time && [time.raw, time.value, time.line, time.valueColumn], ['--time "2-12:00:00"', '2-12:00:00', 6, 16]);
  assert.deepEqual(r.options, { 'job-name': 'my job', partition: 'long', time: '2-12:00:00', output: 'logs/run %j.out', 'cpus-per-task': '4', ntasks: '1', mem: '8G' });
});

test('directives after the first command are ignored, with a warning each', () => {
  const r = parseSbatchScript(fixture('after-command.sbatch'));
  assert.equal(r.request.timeLimitSeconds, 600);
  assert.equal(r.request.memMB, null);
  assert.deepEqual(r.problems.map(pick), [
    { line: 6, column: 1, endColumn: 24, severity: 'warning' },
    { line: 7, column: 1, endColumn: 18, severity: 'warning' },
  ]);
  assert.match((r.problems[0] as Problem).message, /after the first command \(line 5\); sbatch ignores it/);
  assert.equal(r.directives.length, 2);
});

test('what is and is not a directive line (sbatch)', () => {
  const r = parseSbatchScript(
    script(
      '',
      '# a comment, then blank lines',
      '   ',
      '#SBATCH--time=5', // no blank after #SBATCH: still read
      '##SBATCH --mem=1G',
      '# SBATCH --mem=2G',
      '#PBS -l walltime=1:00:00',
      '  #SBATCH --mem=3G', // indented: a comment, with a warning
      '#sbatch --mem=4G', // wrong case: a comment, with a warning
    ),
  );
  assert.equal(r.request.timeLimitSeconds, 300);
  assert.equal(r.request.memMB, null);
  assert.deepEqual(r.problems.map(pick), [
    { line: 9, column: 1, endColumn: 10, severity: 'warning' },
    { line: 10, column: 1, endColumn: 8, severity: 'warning' },
  ]);
});

test('every time form', () => {
  const cases: Array<[string, number | null, boolean]> = [
    ['10', 600, false], // MM
    ['90', 5400, false],
    ['1:30', 120, false], // MM:SS, rounded up to the minute (sbatch)
    ['5:00', 300, false],
    ['00:00:59', 60, false], // (sbatch)
    ['02:30:00', 9000, false], // HH:MM:SS
    ['1:99:00', 3600 + 99 * 60, false], // minutes past 59 are accepted (sbatch)
    ['100:00:00', 360000, false],
    ['2-3', (2 * 24 + 3) * 3600, false], // D-HH
    ['1-02:30', 86400 + 9000, false], // D-HH:MM
    ['3-04:05:06', 3 * 86400 + 4 * 3600 + 6 * 60, false], // D-HH:MM:SS, seconds rounded up
    ['UNLIMITED', null, true],
    ['unlimited', null, true],
    ['infinite', null, true],
    ['-1', null, true],
    ['0', null, true], // no limit
  ];
  for (const [value, seconds, unlimited] of cases) {
    for (const text of [`#SBATCH --time=${value}`, `#SBATCH -t ${value}`, `#SBATCH -t${value}`, `#SBATCH --time ${value}`]) {
      const r = parseSbatchScript(script(text));
      assert.deepEqual(r.problems, [], text);
      assert.equal(r.request.timeLimitSeconds, seconds, text);
      assert.equal(r.request.timeUnlimited, unlimited, text);
    }
  }
  assert.equal(parseSbatchScript(script('#SBATCH --time-min=1:00:00')).request.timeMinSeconds, 3600);
});

test('times sbatch rejects are errors on the value', () => {
  for (const bad of ['abc', '1:2:3:4', '1.5', '00:00.5', 'NONE', '1-', '-5', '1::2']) {
    const r = parseSbatchScript(script(`#SBATCH --time=${bad}`));
    assert.deepEqual(r.problems.map(pick), [{ line: 2, column: 16, endColumn: 16 + bad.length, severity: 'error' }], bad);
    assert.match((r.problems[0] as Problem).message, /Invalid --time specification/);
    assert.equal(r.problems[0]?.option, 'time');
    assert.equal(r.request.timeLimitSeconds, null);
  }
  // The value is a separate word: the problem points at that word.
  const r = parseSbatchScript(script('#SBATCH -p short  -t  ten'));
  assert.deepEqual(r.problems.map(pick), [{ line: 2, column: 23, endColumn: 26, severity: 'error' }]);
});

test('memory sizes', () => {
  const mem = (v: string) => parseSbatchScript(script(`#SBATCH --mem=${v}`));
  const cases: Array<[string, number]> = [
    ['500', 500],
    ['500M', 500],
    ['4G', 4096],
    ['4g', 4096],
    ['4GB', 4096], // (sbatch)
    ['1T', 1024 * 1024],
    ['1024K', 1],
    ['1025K', 2], // K rounds up to whole MB
    ['0', 0],
  ];
  for (const [v, mb] of cases) {
    const r = mem(v);
    assert.deepEqual(r.problems, [], v);
    assert.equal(r.request.memMB, mb, v);
  }
  assert.equal(mem('0').request.memAllOfNode, true);
  for (const bad of ['4.5G', '4GiB', '4P', '-1', '4x', 'lots']) {
    const r = mem(bad);
    assert.deepEqual(r.problems.map(pick), [{ line: 2, column: 15, endColumn: 15 + bad.length, severity: 'error' }], bad);
    assert.equal(r.request.memMB, null);
  }
  assert.equal(parseSbatchScript(script('#SBATCH --mem-per-cpu=3500')).request.memPerCpuMB, 3500);
  assert.equal(parseSbatchScript(script('#SBATCH --mem-per-gpu=80G')).request.memPerGpuMB, 81920);
  assert.equal(parseSbatchScript(script('#SBATCH --tmp=100G')).request.tmpMB, 102400);
});

test('--mem, --mem-per-cpu, --mem-per-gpu exclude each other; the command line replaces the script', () => {
  const both = parseSbatchScript(script('#SBATCH --mem=4G', '#SBATCH --mem-per-cpu=1G'));
  assert.deepEqual(errors(both).map(pick), [{ line: 3, column: 9, endColumn: 22, severity: 'error' }]);
  assert.match((errors(both)[0] as Problem).message, /mutually exclusive/);
  const cli = parseSbatchScript(script('#SBATCH --mem=4G'), ['--mem-per-cpu=2G']);
  assert.deepEqual(cli.problems, []);
  assert.equal(cli.request.memMB, null);
  assert.equal(cli.request.memPerCpuMB, 2048);
  assert.equal(cli.directives[0]?.effective, false);
});

test('nodes, tasks and CPUs', () => {
  const req = (...l: string[]) => parseSbatchScript(script(...l)).request;
  assert.deepEqual(req('#SBATCH -N2-4').nodes, { min: 2, max: 4 });
  assert.deepEqual(req('#SBATCH --nodes=1-2').nodes, { min: 1, max: 2 });
  assert.deepEqual(req('#SBATCH -N 3').nodes, { min: 3, max: 3 });
  assert.equal(req('#SBATCH -N 3').effectiveTasks, 3);
  assert.equal(req('#SBATCH -n 16 -c 2').totalCpus, 32);
  assert.equal(req('#SBATCH --tasks-per-node=2 -N 2').ntasksPerNode, 2); // an alias sbatch accepts (sbatch)
  assert.equal(req('#SBATCH --tasks-per-node=2 -N 2').effectiveTasks, 4);
  const r = parseSbatchScript(script('#SBATCH --nodes=4-2 --ntasks=0 -c x'));
  assert.deepEqual(r.problems.map(pick), [
    { line: 2, column: 17, endColumn: 20, severity: 'error' },
    { line: 2, column: 30, endColumn: 31, severity: 'error' },
    { line: 2, column: 35, endColumn: 36, severity: 'error' },
  ]);
});

test('command-line options override the script; the script path ends them', () => {
  const r = parseSbatchScript(fixture('single-node-cpu.sbatch'), ['--time=5', '-p', 'long', '--qos', 'high', 'job.sbatch', '--mem=1']);
  assert.deepEqual(r.problems, []);
  assert.equal(r.request.timeLimitSeconds, 300);
  assert.equal(r.request.partition, 'long');
  assert.equal(r.request.qos, 'high');
  assert.equal(r.request.memMB, 16384); // --mem=1 is an argument of the script, not sbatch's
  const time = r.directives.filter((d) => d.option === 'time');
  assert.deepEqual(
    time.map((d) => [d.source, d.effective, d.line, d.column, d.value]),
    [
      ['script', false, 9, 9, '02:30:00'],
      ['command-line', true, 0, 1, '5'],
    ],
  );
  const p = r.directives.find((d) => d.source === 'command-line' && d.option === 'partition');
  assert.deepEqual(p && [p.raw, p.column, p.valueColumn], ['-p long', 2, 3]);
  // Command-line problems have line 0 and the argument's index + 1 as column.
  const bad = parseSbatchScript(script(), ['-N', '2', '--time=soon']);
  assert.deepEqual(bad.problems.map((x) => [x.line, x.column, x.source, x.option]), [[0, 3, 'command-line', 'time']]);
});

test('problems with exact positions', () => {
  const r = parseSbatchScript(
    script(
      '#SBATCH --foo=1 --time=10', // 2: unknown option (warning), time still read
      '#SBATCH --acc=x', // 3: ambiguous (sbatch)
      '#SBATCH --hold=yes', // 4: no value allowed (sbatch)
      '#SBATCH --nice 5', // 5: optional value only with = (sbatch: Invalid directive found in batch script: 5)
      '#SBATCH --job-name="unclosed', // 6
      '#SBATCH stray', // 7
      '#SBATCH --output=run#1.log', // 8: # starts a comment (sbatch)
      '#SBATCH -Z', // 9
    ),
  );
  assert.deepEqual(
    r.problems.map((p) => [p.line, p.column, p.endColumn, p.severity]),
    [
      [2, 9, 14, 'warning'],
      [3, 9, 14, 'error'],
      [4, 9, 19, 'error'],
      [5, 16, 17, 'error'],
      [6, 20, 29, 'error'],
      [7, 9, 14, 'error'],
      [8, 21, 27, 'warning'],
      [9, 10, 11, 'warning'],
    ],
  );
  assert.equal(r.request.timeLimitSeconds, 600);
  assert.equal(r.request.output, 'run');
  assert.equal(r.request.jobName, 'unclosed');
  assert.match(r.problems.find((p) => p.line === 7)?.message ?? '', /Invalid directive found in batch script: stray/);
  assert.match(r.problems.find((p) => p.line === 3)?.message ?? '', /--account, --acctg-freq/);
});

test('getopt details: abbreviations, clusters, a value on the next line, --, empty words', () => {
  const abbr = parseSbatchScript(script('#SBATCH --part=debug'));
  assert.equal(abbr.request.partition, 'debug');
  assert.deepEqual(abbr.problems.map(pick), [{ line: 2, column: 9, endColumn: 15, severity: 'warning' }]);
  const cluster = parseSbatchScript(script('#SBATCH -HJname -t10'));
  assert.deepEqual(cluster.problems, []);
  assert.equal(cluster.request.hold, true);
  assert.equal(cluster.request.jobName, 'name');
  assert.deepEqual(
    cluster.directives.map((d) => [d.option, d.column, d.endColumn, d.valueColumn]),
    [
      ['hold', 9, 11, null],
      ['job-name', 11, 12, 12],
      ['time', 17, 19, 19],
    ],
  );
  const nextLine = parseSbatchScript(script('#SBATCH --time', '#SBATCH 10'));
  assert.deepEqual(nextLine.problems, []);
  assert.equal(nextLine.request.timeLimitSeconds, 600);
  assert.deepEqual([nextLine.directives[0]?.valueLine, nextLine.directives[0]?.valueColumn], [3, 9]);
  const dashdash = parseSbatchScript(script('#SBATCH -- --time=5'));
  assert.deepEqual(errors(dashdash).map(pick), [{ line: 2, column: 12, endColumn: 20, severity: 'error' }]);
  // An empty word ends the line for sbatch (sbatch).
  const empty = parseSbatchScript(script('#SBATCH "" --time=5'));
  assert.equal(empty.request.timeLimitSeconds, null);
  const missing = parseSbatchScript(script('#SBATCH --time'));
  assert.deepEqual(errors(missing).map(pick), [{ line: 2, column: 9, endColumn: 15, severity: 'error' }]);
  const escaped = parseSbatchScript(script('#SBATCH --job-name=a\\#1\\"x --comment=\'x "y"\''));
  assert.deepEqual(escaped.problems, []);
  assert.equal(escaped.request.jobName, 'a#1"x'); // (sbatch)
  assert.equal(escaped.options.comment, 'x "y"');
  // A backslash does not join words: a blank always ends one outside quotes (sbatch).
  const space = parseSbatchScript(script('#SBATCH --job-name=a\\ b'));
  assert.equal(space.request.jobName, 'a');
  assert.deepEqual(errors(space).map(pick), [{ line: 2, column: 23, endColumn: 24, severity: 'error' }]);
});

test('flags and other fields', () => {
  const r = parseSbatchScript(
    script(
      '#SBATCH --exclusive=user --requeue -d afterok:123:456 --begin=now+1hour',
      '#SBATCH -C "skylake|cascadelake" -w node[01-04] -x node05 -D /scratch/me',
      '#SBATCH --reservation=maint --licenses=matlab:1 -e err.txt -i /dev/null',
    ),
  );
  assert.deepEqual(r.problems, []);
  const q = r.request;
  assert.equal(q.exclusive, 'user');
  assert.equal(q.requeue, true);
  assert.equal(q.dependency, 'afterok:123:456');
  assert.equal(q.begin, 'now+1hour');
  assert.equal(q.constraint, 'skylake|cascadelake');
  assert.equal(q.nodelist, 'node[01-04]');
  assert.equal(q.exclude, 'node05');
  assert.equal(q.chdir, '/scratch/me');
  assert.equal(q.reservation, 'maint');
  assert.equal(q.licenses, 'matlab:1');
  assert.equal(q.error, 'err.txt');
  assert.equal(q.input, '/dev/null');
  assert.equal(parseSbatchScript(script('#SBATCH --no-requeue')).request.requeue, false);
  assert.equal(parseSbatchScript(script('#SBATCH --exclusive=foo')).problems[0]?.severity, 'error');
});

test('shell variables in directives are not expanded', () => {
  const r = parseSbatchScript(script('#SBATCH --output=$HOME/logs/%j.out --dependency=afterok:${JOB}'));
  assert.deepEqual(r.problems.map((p) => [p.line, p.column, p.endColumn, p.severity, p.option]), [
    [2, 18, 35, 'warning', 'output'],
    [2, 49, 63, 'warning', 'dependency'], // not type:jobid
    [2, 49, 63, 'warning', 'dependency'], // not expanded
  ]);
  assert.match((r.problems[0] as Problem).message, /\$HOME is not expanded/);
});

test('a repeated option: the last wins, the earlier one gets a warning', () => {
  const r = parseSbatchScript(script('#SBATCH --time=10', '#SBATCH -t 20'));
  assert.equal(r.request.timeLimitSeconds, 1200);
  assert.deepEqual(r.problems.map(pick), [{ line: 2, column: 9, endColumn: 15, severity: 'warning' }]);
  assert.deepEqual(
    r.directives.map((d) => d.effective),
    [false, true],
  );
});

test('heterogeneous jobs: the request is the first component', () => {
  const r = parseSbatchScript(script('#SBATCH --time=5 -N 1', '#SBATCH hetjob', '#SBATCH --time=7 -N 4'));
  assert.equal(r.request.hetComponents, 2);
  assert.equal(r.request.timeLimitSeconds, 300);
  assert.deepEqual(r.request.nodes, { min: 1, max: 1 });
  assert.deepEqual(
    r.directives.map((d) => [d.option, d.component, d.effective]),
    [
      ['time', 0, true],
      ['nodes', 0, true],
      ['time', 1, false],
      ['nodes', 1, false],
    ],
  );
  assert.deepEqual(r.problems.map(pick), [{ line: 3, column: 9, endColumn: 15, severity: 'warning' }]);
  // "hetjob" inside a value is just text (sbatch).
  assert.equal(parseSbatchScript(script('#SBATCH --job-name=hetjob_x')).request.hetComponents, 1);
});

test('Windows line endings: read the same, and an error because sbatch refuses them', () => {
  const lf = fixture('quoted-commented.sbatch');
  const crlf = lf.replace(/\n/g, '\r\n');
  const a = parseSbatchScript(lf);
  const b = parseSbatchScript(crlf);
  assert.deepEqual(b.request, a.request);
  assert.deepEqual(b.directives, a.directives);
  assert.deepEqual(b.problems.map(pick), [{ line: 1, column: 20, endColumn: 21, severity: 'error' }]); // after `#!/usr/bin/env bash`
  assert.match((b.problems[0] as Problem).message, /DOS line breaks/);
});

test('a UTF-8 byte order mark: same directives and columns, and an error because sbatch refuses it', () => {
  const text = fixture('single-node-cpu.sbatch');
  const a = parseSbatchScript(text);
  const b = parseSbatchScript(`\uFEFF${text}`);
  assert.deepEqual(b.request, a.request);
  assert.deepEqual(b.directives, a.directives);
  assert.deepEqual(b.problems.map(pick), [{ line: 1, column: 1, endColumn: 2, severity: 'error' }]);
  assert.match((b.problems[0] as Problem).message, /byte order mark/);
});

test('whole-script checks sbatch makes', () => {
  const first = (t: string) => parseSbatchScript(t).problems[0]?.message ?? '';
  assert.match(first(''), /empty/);
  assert.match(first(' \n\t\n'), /only whitespace/);
  assert.match(first('#SBATCH --time=5\necho\n'), /must start with #!/);
  assert.match(first('#!/bin/sh\necho a\0b\n'), /NUL/);
  // Without a shebang the first line is the first command: the directive after it is ignored.
  const r = parseSbatchScript('echo hi\n#SBATCH --time=5\n');
  assert.equal(r.request.timeLimitSeconds, null);
  assert.equal(r.problems.length, 2);
});

test('templates and garbage never throw', () => {
  const tpl = parseSbatchScript(script('#SBATCH --time={{ time }}', '#SBATCH --job-name={{name}} --mem={{#if big}}64G{{/if}}'));
  assert.ok(tpl.problems.length > 0);
  for (const input of [undefined, null, 42, {}, ['#!/bin/sh']] as unknown[]) {
    const r = parseSbatchScript(input as string, input as string[]);
    assert.equal(r.request.timeLimitSeconds, null);
  }
  assert.doesNotThrow(() => parseSbatchScript(script('#SBATCH --time=5'), [undefined, 7, null] as unknown as string[]));
  // Random bytes, decoded both ways.
  let seed = 12345;
  const rand = () => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
  for (let i = 0; i < 200; i++) {
    const bytes = Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 400) }, () => Math.floor(rand() * 256)));
    const prefix = i % 2 === 0 ? '#!/bin/sh\n#SBATCH ' : '';
    for (const text of [prefix + bytes.toString('latin1'), prefix + bytes.toString('utf8')]) {
      const r = parseSbatchScript(text);
      for (const p of r.problems) assert.ok(p.line >= 0 && p.column >= 1 && p.endColumn > p.column, JSON.stringify(p));
    }
  }
});

test('10 MB inputs: no throw, in reasonable time, bounded output', () => {
  const MB10 = 10 * 1024 * 1024;
  const inputs = [
    `#!/bin/sh\n${'#SBATCH --time=5 -N 2 --job-name="x y"\n'.repeat(MB10 / 40)}echo\n`,
    `#!/bin/sh\n#SBATCH ${'-HHHHHHHHHHHHHHHH '.repeat(MB10 / 18)}`,
    `#!/bin/sh\n#SBATCH --job-name="${'a '.repeat(MB10 / 2)}`,
    `#!/bin/sh\necho\n${'#SBATCH --time=5\n'.repeat(MB10 / 17)}`,
    Buffer.alloc(MB10, 'garbage\u0000\u00ff\r\n#SBATCH ').toString('latin1'),
    `#!/bin/sh\n${'# comment\n'.repeat(MB10 / 10)}`,
  ];
  for (const text of inputs) {
    const t0 = performance.now();
    const r = parseSbatchScript(text);
    const ms = performance.now() - t0;
    assert.ok(ms < 5000, `${ms} ms`);
    assert.ok(r.problems.length <= 1001);
    assert.ok(r.directives.length <= 10_000);
  }
});
