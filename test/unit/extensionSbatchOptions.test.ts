// #SBATCH completion and hover logic without VS Code: where the cursor is
// (option word or value, `=` or next word, short or long), what is offered,
// and that every option offered is one the daemon's parser accepts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import { completionSpot, findOption, inDirectiveBlock, optionAt, optionMarkdown, sbatchOptions } from '../../extension/model/sbatchOptions';

test('an option word is completed after #SBATCH, with the range of the word typed so far', () => {
  assert.deepEqual(completionSpot('#SBATCH --par', 13), { kind: 'option', start: 8, end: 13, typed: '--par' });
  assert.deepEqual(completionSpot('#SBATCH ', 8), { kind: 'option', start: 8, end: 8, typed: '' });
  assert.deepEqual(completionSpot('#SBATCH -N 1 --ti', 17), { kind: 'option', start: 13, end: 17, typed: '--ti' });
  assert.equal(completionSpot('# SBATCH --par', 14), undefined, 'not a directive');
  assert.equal(completionSpot('#SBATCH --time=10 # --par', 25), undefined, 'inside a comment');
  assert.equal(completionSpot('#SBATCH', 3), undefined);
});

test('a value is completed after --opt=, after --opt and a blank, and after a short option', () => {
  const v = (line: string, ch = line.length) => {
    const s = completionSpot(line, ch);
    return s?.kind === 'value' ? { option: s.option.name, start: s.start, typed: s.typed } : s;
  };
  assert.deepEqual(v('#SBATCH --partition=de'), { option: 'partition', start: 20, typed: 'de' });
  assert.deepEqual(v('#SBATCH --qos '), { option: 'qos', start: 14, typed: '' });
  assert.deepEqual(v('#SBATCH --qos lo'), { option: 'qos', start: 14, typed: 'lo' });
  assert.deepEqual(v('#SBATCH -p '), { option: 'partition', start: 11, typed: '' });
  assert.deepEqual(v('#SBATCH -pde'), { option: 'partition', start: 10, typed: 'de' });
  assert.deepEqual(v('#SBATCH -A res'), { option: 'account', start: 11, typed: 'res' });
  assert.deepEqual(v('#SBATCH --mail-type='), { option: 'mail-type', start: 20, typed: '' });
  assert.equal(v('#SBATCH --hold='), undefined, '--hold takes no value');
  // The value's whole word is replaced, also when the cursor is in its middle.
  const mid = completionSpot('#SBATCH --partition=debug', 22)!;
  assert.equal(mid.end, 25);
  assert.equal(findOption('partition')?.clusterValue, 'partition');
  assert.equal(findOption('q')?.clusterValue, 'qos');
  assert.equal(findOption('A')?.clusterValue, 'account');
  assert.equal(findOption('tasks-per-node')?.name, 'ntasks-per-node', 'an alias documents its option');
});

test('only lines in the directive block (before the first command) count; a template\'s handlebars lines do not end it', () => {
  const lines = ['#!/bin/bash', '#SBATCH -N 1', '', '# a comment', '#SBATCH --time=5', 'echo hi', '#SBATCH --mem=1G'];
  assert.equal(inDirectiveBlock(lines, 1), true);
  assert.equal(inDirectiveBlock(lines, 4), true);
  assert.equal(inDirectiveBlock(lines, 6), false, 'sbatch ignores directives after a command');
  assert.equal(inDirectiveBlock(lines, 3), false, 'a comment is not a directive');
  const tpl = ['{{!-- slurm-ml {"kind": "job"} --}}', '#!/bin/bash', '{{#if partition}}', '#SBATCH --partition={{partition}}', '{{/if}}', '#SBATCH --time=5'];
  assert.equal(inDirectiveBlock(tpl, 5), true);
});

test('every option offered is accepted by the directive parser, and the common ones are documented', () => {
  for (const o of sbatchOptions()) {
    const script = `#!/bin/bash\n#SBATCH --${o.name}${o.arg === 'required' ? '=1' : ''}\necho\n`;
    const unknown = parseSbatchScript(script).problems.filter((p) => /unrecognized|unknown|invalid option/i.test(p.message));
    assert.deepEqual(unknown, [], `--${o.name}`);
  }
  for (const name of ['time', 'partition', 'qos', 'account', 'mem', 'cpus-per-task', 'gres', 'array', 'output', 'job-name', 'nodes', 'ntasks']) {
    assert.doesNotMatch(findOption(name)!.doc.summary, /man sbatch/, `--${name} has its own documentation`);
  }
  const md = optionMarkdown(findOption('time')!);
  assert.match(md, /^\*\*#SBATCH --time=<time>, -t <time>\*\*/);
  assert.match(md, /TIMEOUT/);
});

test('hover finds the option under the cursor, long or short, not words inside values', () => {
  const at = optionAt('#SBATCH --time=10 -p debug', 10)!;
  assert.equal(at.option.name, 'time');
  assert.deepEqual([at.start, at.end], [8, 14]);
  assert.equal(optionAt('#SBATCH --time=10 -p debug', 19)!.option.name, 'partition');
  assert.equal(optionAt('#SBATCH --output=/a-b/c', 20), undefined);
  assert.equal(optionAt('echo --time', 7), undefined);
});
