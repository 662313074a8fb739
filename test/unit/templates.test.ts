// sbatch templates: the header, the variables' types and coercion, the
// load-time checks (raw output, string values in #SBATCH lines, quotes,
// comments, here-documents, unknown references), strict rendering, shell
// quoting, workspace overrides and the cache, and the protocol methods.
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import Handlebars from 'handlebars';
import { ErrorCode, TemplatesList, TemplatesRender, type TemplateVariable } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { createEngine } from '../../daemon/templates/engine';
import { parseHeader, TemplateError } from '../../daemon/templates/header';
import { compileTemplate, findBuiltinTemplatesDir, TemplateService, WORKSPACE_TEMPLATES } from '../../daemon/templates/service';
import { validateValues } from '../../daemon/templates/values';
import { startHarness } from './harness';

const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-templates-'));
after(() => fs.rmSync(tmp, { recursive: true, force: true }));

const builtinDir = findBuiltinTemplatesDir(path.join(__dirname, '..', '..', 'daemon', 'templates'));

function header(variables: unknown[], kind = 'job'): string {
  return `{{!-- slurm-ml ${JSON.stringify({ kind, description: 'test', variables })} --}}\n`;
}

/** Compiles a template from text; returns its info and a render function. */
function compile(body: string, variables: unknown[] = [], file = 't.sbatch.hbs') {
  return compileTemplate(createEngine(), { name: 't', source: 'workspace', path: file }, header(variables) + body);
}

function loadError(body: string, variables: unknown[] = []): string {
  try {
    compile(body, variables);
  } catch (err) {
    assert.ok(err instanceof TemplateError, `expected a TemplateError, got ${String(err)}`);
    return err.message;
  }
  assert.fail('the template loaded');
}

function rpcError(f: () => unknown): RpcError {
  try {
    f();
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    return err;
  }
  assert.fail('no error');
}

function variable(v: Partial<TemplateVariable> & Pick<TemplateVariable, 'name' | 'type'>): TemplateVariable {
  return { description: '', required: false, default: null, values: null, pattern: null, min: null, max: null, ...v };
}

/** The problem validateValues reports for one value of one variable. */
function valueError(v: TemplateVariable, value: unknown): { message: string; field: string | undefined } {
  const e = rpcError(() => validateValues('t', [v], { [v.name]: value }));
  assert.equal(e.code, ErrorCode.InvalidParams);
  return { message: e.message, field: e.data?.field };
}

function coerced(v: TemplateVariable, value: unknown): unknown {
  return validateValues('t', [v], { [v.name]: value })[v.name];
}

// ------------------------------------------------------------------ header

test('header: a file without one, or with something before it, is refused naming the file', () => {
  assert.throws(() => parseHeader('/w/x.sbatch.hbs', '#!/bin/bash\necho hi\n'), /template \/w\/x\.sbatch\.hbs: does not start with a header/);
  assert.throws(() => parseHeader('/w/x.sbatch.hbs', '\n' + header([])), /x\.sbatch\.hbs: does not start with a header.*not even a blank line/);
});

test('header: malformed ones are refused with the file and the problem', () => {
  const cases: [string, RegExp][] = [
    ['{{!-- slurm-ml {"kind": "train", --}}\n#!/bin/bash\n', /f\.sbatch\.hbs: header: not JSON/],
    ['{{!-- slurm-ml {"kind": "train"}\n#!/bin/bash\n', /header: the \{\{!-- slurm-ml comment is never closed/],
    [header([], 'deploy'), /header: kind: /],
    ['{{!-- slurm-ml {"kind": "job", "varaibles": []} --}}\n', /header: unknown key\(s\) "varaibles"/],
    [header([{ name: 'cpus', typ: 'integer' }]), /header: variable "cpus" (type: |.*unknown key\(s\) "typ")/],
    [header([{ name: 'cpus', type: 'int' }]), /header: variable "cpus" type: /],
    [header([{ name: 'mode', type: 'enum' }]), /header: variable "mode" values: an enum variable needs "values"/],
    [header([{ name: 'mode', type: 'enum', values: ['a b'] }]), /variable "mode" values\[0\]: an enum value is a plain word/],
    [header([{ name: 'p', type: 'token', pattern: '([' }]), /variable "p" pattern: not a regular expression/],
    [header([{ name: 'n', type: 'string', min: 1 }]), /variable "n" min: "min" applies to integer\/number variables, not string/],
    [header([{ name: 'a', type: 'string' }, { name: 'a', type: 'token' }]), /variable "a" name: variable "a" is declared twice/],
    [header([{ name: 'slurm_ml', type: 'string' }]), /variable "slurm_ml" name: "slurm_ml" is reserved for the values the daemon supplies/],
    [header([{ name: 'two words', type: 'string' }]), /a variable name is letters, digits and "_"/],
    [header([{ name: '__proto__', type: 'string' }]), /a variable name is/],
    [header([{ name: 'x', type: 'string', required: true, default: 'a' }]), /variable "x" required: a variable with a default is not required/],
  ];
  for (const [text, re] of cases) assert.throws(() => parseHeader('/w/f.sbatch.hbs', text), re, text);
});

test('header: required follows the default unless said; the header does not reach the script', () => {
  const t = compile('#!/bin/bash\necho {{a}} {{b}} {{c}}\n', [
    { name: 'a', type: 'string' },
    { name: 'b', type: 'string', default: 'x' },
    { name: 'c', type: 'string', required: false },
  ]);
  assert.deepEqual(
    t.info.variables.map((v) => [v.name, v.required, v.default]),
    [
      ['a', true, null],
      ['b', false, 'x'],
      ['c', false, null],
    ],
  );
  assert.equal(t.render({ a: 'A', b: 'B', c: null, slurm_ml: {} }), '#!/bin/bash\necho A B \n');
});

test('header: a default that its own type refuses, or no #! after the header, fails at load', () => {
  assert.match(loadError('#!/bin/bash\n', [{ name: 'cpus', type: 'integer', default: 'four' }]), /variable "cpus" default: expected an integer, got "four"/);
  assert.match(loadError('#!/bin/bash\n', [{ name: 'cpus', type: 'integer', default: 0, min: 1 }]), /variable "cpus" default: must be at least 1/);
  assert.match(loadError('\n#!/bin/bash\n'), /the line after the header must be the interpreter line/);
  assert.match(loadError('echo hi\n'), /the line after the header must be the interpreter line/);
});

// ------------------------------------------------------------------ values

test('values: string takes any text up to 64 KiB, numbers and booleans as text; NUL and more are refused', () => {
  const v = variable({ name: 'note', type: 'string' });
  const text = 'a\nb \'c\' "d" $(e) `f` ; g # h \\ i';
  assert.equal(coerced(v, text), text);
  assert.equal(coerced(v, 4), '4');
  assert.equal(coerced(v, false), 'false');
  assert.equal(coerced(v, 'x'.repeat(65_536)), 'x'.repeat(65_536));
  assert.match(valueError(v, 'x'.repeat(65_537)).message, /^variable "note": longer than 65536 characters/);
  assert.match(valueError(v, 'a\0b').message, /^variable "note": must not contain NUL/);
});

test('values: token is a plain word; spaces, ";" and other shell syntax are refused naming the variable', () => {
  const v = variable({ name: 'partition', type: 'token' });
  assert.equal(coerced(v, 'gpu-a100.long'), 'gpu-a100.long');
  assert.equal(coerced(v, 'gpu:a100:2'), 'gpu:a100:2');
  for (const bad of ['two words', 'a;b', 'debug; touch /tmp/x', '$(id)', '`id`', "it's", 'a\nb', '', 'a*', '~x']) {
    const e = valueError(v, bad);
    assert.match(e.message, /^variable "partition": expected a token \(letters, digits and \. _ : = \/ \+ -\), got /, bad);
    assert.equal(e.field, 'values.partition');
  }
  assert.equal(valueError(v, 'a b').message, 'variable "partition": expected a token (letters, digits and . _ : = / + -), got "a b"');
});

test('values: a token with its own pattern must match it whole, and still cannot carry shell syntax', () => {
  const v = variable({ name: 'gres', type: 'token', pattern: 'gpu:[a-z0-9]+:\\d' });
  assert.equal(coerced(v, 'gpu:a100:2'), 'gpu:a100:2');
  assert.match(valueError(v, 'gpu:a100:2x').message, /^variable "gres": expected a token matching \/gpu:\[a-z0-9\]\+:\\d\/, got "gpu:a100:2x"/);
  const loose = variable({ name: 'any', type: 'token', pattern: '.*' });
  assert.equal(coerced(loose, 'node01,node02@x%y'), 'node01,node02@x%y');
  assert.match(valueError(loose, 'a b').message, /^variable "any": expected a token \(letters, digits and _ - \. , \/ : @ % \+ =\)/);
  assert.match(valueError(loose, 'a;b').message, /^variable "any": expected a token/);
});

test('values: integer and number, from JSON or from CLI text, with min and max', () => {
  const cpus = variable({ name: 'cpus', type: 'integer', min: 1, max: 64 });
  assert.equal(coerced(cpus, 4), 4);
  assert.equal(coerced(cpus, '4'), 4);
  assert.equal(coerced(cpus, ' 8 '), 8);
  assert.equal(valueError(cpus, 'four').message, 'variable "cpus": expected an integer, got "four"');
  assert.equal(valueError(cpus, '4.5').message, 'variable "cpus": expected an integer, got "4.5"');
  assert.equal(valueError(cpus, 4.5).message, 'variable "cpus": expected an integer, got 4.5');
  assert.equal(valueError(cpus, '0x10').message, 'variable "cpus": expected an integer, got "0x10"');
  assert.equal(valueError(cpus, true).message, 'variable "cpus": expected an integer, got true');
  assert.equal(valueError(cpus, 0).message, 'variable "cpus": must be at least 1, got 0');
  assert.equal(valueError(cpus, '65').message, 'variable "cpus": must be at most 64, got "65"');
  const lr = variable({ name: 'lr', type: 'number', min: 0 });
  assert.equal(coerced(lr, '0.001'), 0.001);
  assert.equal(coerced(lr, '1e-3'), 0.001);
  assert.equal(coerced(lr, '.5'), 0.5);
  assert.equal(coerced(lr, 2), 2);
  assert.equal(valueError(lr, 'fast').message, 'variable "lr": expected a number, got "fast"');
  assert.equal(valueError(lr, 'Infinity').message, 'variable "lr": expected a number, got "Infinity"');
  assert.equal(valueError(lr, '-1').message, 'variable "lr": must be at least 0, got "-1"');
});

test('values: boolean, enum, time and memory', () => {
  const b = variable({ name: 'debug', type: 'boolean' });
  for (const t of [true, 'true', 'TRUE', 'yes', '1', 'on', 1]) assert.equal(coerced(b, t), true, String(t));
  for (const f of [false, 'false', 'no', '0', 'off', 0]) assert.equal(coerced(b, f), false, String(f));
  assert.equal(valueError(b, 'maybe').message, 'variable "debug": expected true or false, got "maybe"');

  const e = variable({ name: 'precision', type: 'enum', values: ['fp32', 'bf16'] });
  assert.equal(coerced(e, 'bf16'), 'bf16');
  assert.equal(valueError(e, 'fp8').message, 'variable "precision": expected one of fp32, bf16, got "fp8"');

  const t = variable({ name: 'time', type: 'time' });
  for (const ok of ['30', '30:00', '1:00:00', '2-0', '2-12:30', '2-12:30:00', 'UNLIMITED', 'infinite', 90]) assert.equal(coerced(t, ok), String(ok));
  for (const bad of ['1h', '1:2:3:4', '-5', '1-', 'soon', '1:00 ']) assert.match(valueError(t, bad).message, /^variable "time": expected a SLURM time/, bad);

  const m = variable({ name: 'mem', type: 'memory' });
  for (const ok of ['16G', '4000M', '4000', '1T', '512K', 2048]) assert.equal(coerced(m, ok), String(ok));
  for (const bad of ['16GB', '16g', '-1', '1.5G', 'lots']) assert.match(valueError(m, bad).message, /^variable "mem": expected memory as a number/, bad);
});

test('values: unknown and missing variables are named; defaults apply; unset optional ones are null', () => {
  const vars = [
    variable({ name: 'cpus', type: 'integer', default: 1 }),
    variable({ name: 'entry', type: 'string', required: true, description: 'the script to run' }),
    variable({ name: 'qos', type: 'token' }),
  ];
  assert.deepEqual(validateValues('t', vars, { entry: 'x.py' }), { cpus: 1, entry: 'x.py', qos: null });
  assert.deepEqual(validateValues('t', vars, { entry: 'x.py', cpus: '3', qos: 'high' }), { cpus: 3, entry: 'x.py', qos: 'high' });
  let e = rpcError(() => validateValues('t', vars, { entry: 'x', cpsu: 4 }));
  assert.equal(e.message, 'unknown variable "cpsu": template t has cpus, entry, qos');
  assert.equal(e.data?.field, 'values.cpsu');
  e = rpcError(() => validateValues('t', vars, { cpus: 2 }));
  assert.equal(e.message, 'variable "entry" is required (the script to run)');
  assert.equal(e.data?.field, 'values.entry');
  e = rpcError(() => validateValues('t', vars, { entry: 'x', slurm_ml: 'mine' }));
  assert.match(e.message, /variable "slurm_ml" is reserved/);
  assert.equal(e.data?.field, 'values.slurm_ml');
});

// ------------------------------------------------------------------ checks

test('raw output is refused: {{{x}}} and {{& x}}', () => {
  const vars = [{ name: 'x', type: 'string' }];
  assert.match(loadError('#!/bin/bash\necho {{{x}}}\n', vars), /t\.sbatch\.hbs: line 3: \{\{\{x\}\}\} \/ \{\{& x\}\}: raw output is not allowed/);
  assert.match(loadError('#!/bin/bash\necho {{& x}}\n', vars), /line 3: .*raw output is not allowed/);
  assert.match(loadError('#!/bin/bash\necho {{{slurm_ml.run_dir}}}\n'), /raw output is not allowed/);
});

test('a string variable (or a slurm_ml value) in an #SBATCH line is refused; plain-word types are fine there', () => {
  const vars = [
    { name: 'note', type: 'string', default: 'x' },
    { name: 'partition', type: 'token', default: 'debug' },
    { name: 'cpus', type: 'integer', default: 1 },
    { name: 'time', type: 'time', default: '10' },
    { name: 'mem', type: 'memory', default: '1G' },
    { name: 'mode', type: 'enum', values: ['a'], default: 'a' },
    { name: 'exclusive', type: 'boolean', default: false },
  ];
  const ok = compile('#!/bin/bash\n#SBATCH --partition={{partition}} --cpus-per-task={{cpus}}\n#SBATCH --time={{time}} --mem={{mem}} --comment={{mode}}-{{exclusive}}\necho {{note}}\n', vars);
  assert.ok(ok.info);
  assert.match(loadError('#!/bin/bash\n#SBATCH --comment={{note}}\n', vars), /line 3: \{\{note\}\} is shell-quoted text in an #SBATCH line: sbatch reads these lines without a shell/);
  assert.match(loadError('#!/bin/bash\n  #SBATCH --job-name={{slurm_ml.job_name}}\n', vars), /\{\{slurm_ml\.job_name\}\} is shell-quoted text in an #SBATCH line/);
  // On either branch of an if, and when the line is put together across blocks.
  assert.match(loadError('#!/bin/bash\n{{#if exclusive}}\n#SBATCH --exclusive\n{{else}}\n#SBATCH --comment={{note}}\n{{/if}}\n', vars), /line 6: \{\{note\}\} is shell-quoted text in an #SBATCH line/);
  assert.match(loadError('#!/bin/bash\n#SBATCH {{#if exclusive}}--x={{/if}}{{note}}\n', vars), /\{\{note\}\} is shell-quoted text in an #SBATCH line/);
});

test('a shell-quoted value inside quotes, a comment, a here-document, or after \\ or $ is refused', () => {
  const vars = [{ name: 'x', type: 'string', default: 'v' }];
  const cases: [string, RegExp][] = [
    ['echo "{{x}}"', /\{\{x\}\} is inside double quotes "\.\.\."; a value is inserted already quoted as one shell word, so write it bare/],
    ["echo '{{x}}'", /is inside single quotes/],
    ['echo "a $(date) {{x}}"', /is inside double quotes/],
    ['echo `echo {{x}}`', /is inside backquotes/],
    ['echo ${HOME:-{{x}} }', /is inside \$\{\.\.\.\}/],
    ['echo $(( 1 + {{x}} ))', /is inside \$\(\(\.\.\.\)\)/],
    ['echo hi # {{x}}', /is shell-quoted text in a comment: a newline in the value would end the comment/],
    ['# note: {{x}}', /is shell-quoted text in a comment/],
    ['cat <<EOF\nvalue {{x}}\nEOF', /is inside a here-document/],
    ["cat <<-'END' > f\n\t{{x}}\n\tEND", /is inside a here-document/],
    // (`\{{x}}` is handlebars' escape for a literal "{{x}}"; `\\{{x}}` is a backslash, then the value.)
    ['echo \\\\{{x}}', /follows a backslash/],
    ['echo ${{x}}', /follows "\$"/],
  ];
  for (const [line, re] of cases) assert.match(loadError(`#!/bin/bash\n${line}\n`, vars), re, line);
  // Bare words are fine, also inside $(...) (even within double quotes) and after a here-document ends.
  const t = compile(
    '#!/bin/bash\necho {{x}} --flag={{x}} pre{{x}}post\nout="$(printf %s {{x}})"\ncat <<EOF\nliteral\nEOF\necho {{x}}\ncat <<<"here-string" | grep -q {{x}} || true\n',
    vars,
  );
  assert.equal(
    t.render({ x: "it's", slurm_ml: {} }),
    `#!/bin/bash\necho 'it'\\''s' --flag='it'\\''s' pre'it'\\''s'post\nout="$(printf %s 'it'\\''s')"\ncat <<EOF\nliteral\nEOF\necho 'it'\\''s'\ncat <<<"here-string" | grep -q 'it'\\''s' || true\n`,
  );
});

test('unknown references, helpers and partials fail at load; inside each/with strict mode fails at render', () => {
  const vars = [{ name: 'cpus', type: 'integer', default: 1 }];
  assert.match(loadError('#!/bin/bash\necho {{cpsu}}\n', vars), /line 3: \{\{cpsu\}\}: unknown variable "cpsu" \(declared: cpus/);
  assert.match(loadError('#!/bin/bash\n{{#if qos}}x{{/if}}\n', vars), /unknown variable "qos"/);
  assert.match(loadError('#!/bin/bash\necho {{slurm_ml.rundir}}\n'), /\{\{slurm_ml\.rundir\}\}: slurm_ml has job_name, run_dir/);
  assert.match(loadError('#!/bin/bash\necho {{cpus.x}}\n', vars), /variable "cpus" is a integer, it has no fields/);
  assert.match(loadError('#!/bin/bash\n{{> header}}\n'), /partials .* are not supported/);
  assert.match(loadError('#!/bin/bash\n{{#repeat 3}}x{{/repeat}}\n'), /unknown block helper/);
  assert.match(loadError('#!/bin/bash\necho {{upper cpus}}\n', vars), /unknown helper "upper"/);
  // Strict mode: a reference the load-time check cannot resolve fails when rendered, not as ''.
  const t = compile('#!/bin/bash\n{{#with slurm_ml}}\necho {{nope}}\n{{/with}}\n', vars);
  assert.throws(() => t.render({ cpus: 1, slurm_ml: { run_dir: '/r' } }), /"nope" not defined/);
});

test('{{x}} shell-quotes text and prints numbers, booleans and plain words bare; other handlebars users keep HTML escaping', () => {
  const t = compile('#!/bin/bash\necho {{s}} {{n}} {{b}} {{tok}} {{empty}} {{unset}}.\n', [
    { name: 's', type: 'string' },
    { name: 'n', type: 'number' },
    { name: 'b', type: 'boolean' },
    { name: 'tok', type: 'token' },
    { name: 'empty', type: 'string' },
    { name: 'unset', type: 'string', required: false },
  ]);
  const hb = createEngine();
  assert.equal(
    t.render({ s: 'a <b> & "c"', n: -1.5, b: false, tok: new hb.SafeString('gpu:a100:2'), empty: '', unset: null, slurm_ml: {} }),
    `#!/bin/bash\necho 'a <b> & "c"' -1.5 false gpu:a100:2 '' .\n`,
  );
  // The shared handlebars runtime is untouched: the global instance and a fresh one still HTML-escape.
  assert.equal(Handlebars.compile('{{x}}')({ x: '<a b>' }), '&lt;a b&gt;');
  assert.equal(Handlebars.create().compile('{{x}}')({ x: "it's" }), 'it&#x27;s');
});

// ----------------------------------------------------------------- service

function writeTemplate(dir: string, name: string, text: string): string {
  fs.mkdirSync(dir, { recursive: true });
  const file = path.join(dir, `${name}.sbatch.hbs`);
  fs.writeFileSync(file, text);
  return file;
}

test('the shipped templates load, and are found from the sources and from the bundle', () => {
  assert.ok(builtinDir, 'templates/ found from daemon/templates');
  assert.equal(findBuiltinTemplatesDir(path.join(__dirname, '..', '..', 'dist')), builtinDir, 'found from dist/');
  assert.equal(findBuiltinTemplatesDir(tmp), null);
  const s = new TemplateService({ builtinDir });
  const list = s.list();
  assert.deepEqual(
    list.map((t) => [t.name, t.kind, t.source]),
    [
      ['evaluate', 'evaluate', 'builtin'],
      ['generic', 'job', 'builtin'],
      ['predict', 'predict', 'builtin'],
      ['train', 'train', 'builtin'],
    ],
  );
  for (const t of list) {
    for (const name of ['partition', 'qos', 'account', 'cpus', 'mem', 'time', 'gpus', 'image']) assert.ok(t.variables.some((v) => v.name === name), `${t.name} has ${name}`);
  }
});

test('train renders the resources into #SBATCH lines and the contract into exports', () => {
  const s = new TemplateService({ builtinDir });
  const r = s.render(
    'train',
    { cpus: '4', mem: '8G', time: '2:00:00', partition: 'long', qos: 'high', account: 'research', gpus: '2' },
    { run_dir: '/home/u/.slurm-ml/runs/r1', entrypoint: '/home/u/.slurm-ml/runs/r1/train.py', config: '/home/u/.slurm-ml/runs/r1/config.json', artifact_dir: '/home/u/.slurm-ml/runs/r1/artifacts', metrics_file: '/home/u/.slurm-ml/runs/r1/metrics.json', model: 'iris' },
  );
  assert.match(r.script, /^#!\/bin\/bash\n#SBATCH --cpus-per-task=4\n#SBATCH --mem=8G\n#SBATCH --time=2:00:00\n#SBATCH --partition=long\n#SBATCH --qos=high\n#SBATCH --account=research\n#SBATCH --gres=gpu:2\n# /);
  assert.match(r.script, /\nexport SLURM_ML_ARTIFACT_DIR=\/home\/u\/\.slurm-ml\/runs\/r1\/artifacts\n/);
  assert.match(r.script, /\nexport SLURM_ML_MODEL=iris\n/);
  assert.match(r.script, /\npython3 "\$\{args\[@\]\}"\n$/);
  assert.deepEqual(r.values, { partition: 'long', qos: 'high', account: 'research', cpus: 4, mem: '8G', time: '2:00:00', gpus: 2, image: null, bind: null, python: 'python3', modules: null, mlflow_tracking_uri: null, mlflow_experiment: null });
  const plain = s.render('train', {}, {});
  assert.doesNotMatch(plain.script, /#SBATCH --(mem|time|partition|qos|account|gres)/, 'unset resources are left to the cluster');
  assert.match(plain.script, /^#!\/bin\/bash\n#SBATCH --cpus-per-task=1\n# Rendered/);
  const img = s.render('train', { image: '/images/torch 2.sif', gpus: 1 }, {});
  assert.match(img.script, /\ncontainer_args=\(exec --nv\)\n"\$container" "\$\{container_args\[@\]\}" '\/images\/torch 2\.sif' python3 "\$\{args\[@\]\}"\n/);
});

test('workspace templates override builtin ones; NotFound names what exists; a broken one is named', () => {
  const builtin = path.join(tmp, 'builtin');
  const ws = path.join(tmp, 'ws');
  writeTemplate(builtin, 'train', header([], 'train') + '#!/bin/bash\necho builtin\n');
  writeTemplate(builtin, 'other', header([]) + '#!/bin/bash\necho other\n');
  const s = new TemplateService({ builtinDir: builtin });
  assert.equal(s.render('train', {}, {}).script, '#!/bin/bash\necho builtin\n');
  const wsFile = writeTemplate(path.join(ws, WORKSPACE_TEMPLATES), 'train', header([{ name: 'who', type: 'string', default: 'me' }], 'train') + '#!/bin/bash\necho workspace {{who}}\n');
  assert.equal(s.render('train', {}, {}, ws).script, '#!/bin/bash\necho workspace me\n');
  assert.equal(s.render('train', {}, {}).script, '#!/bin/bash\necho builtin\n', 'without the workspace, the builtin one');
  assert.deepEqual(
    s.list(ws).map((t) => [t.name, t.source, t.path]),
    [
      ['other', 'builtin', path.join(builtin, 'other.sbatch.hbs')],
      ['train', 'workspace', wsFile],
    ],
  );
  let e = rpcError(() => s.get('nope', ws));
  assert.equal(e.code, ErrorCode.NotFound);
  assert.match(e.message, /no template "nope" in .*; available: other, train/);
  writeTemplate(path.join(ws, WORKSPACE_TEMPLATES), 'broken', '{{!-- slurm-ml {"kind": "job", "variables": [{"name": "x", "type": "strnig"}]} --}}\n#!/bin/bash\n');
  e = rpcError(() => s.get('broken', ws));
  assert.equal(e.code, ErrorCode.InvalidParams);
  assert.match(e.message, /template .*ws\/\.slurm-ml\/templates\/broken\.sbatch\.hbs: header: variable "x" type: /);
  // A workspace without a templates directory just has the builtin ones.
  assert.deepEqual(
    s.list(path.join(tmp, 'empty-ws')).map((t) => t.name),
    ['other', 'train'],
  );
});

test('compiled templates are cached by path and mtime: an edited file is read again', () => {
  const dir = path.join(tmp, 'cache');
  const file = writeTemplate(dir, 'c', header([]) + '#!/bin/bash\necho one\n');
  const s = new TemplateService({ builtinDir: dir });
  assert.equal(s.render('c', {}, {}).script, '#!/bin/bash\necho one\n');
  const first = s.get('c');
  assert.equal(s.get('c'), first, 'unchanged file: the same compiled template');
  fs.writeFileSync(file, header([]) + '#!/bin/bash\necho two\n');
  fs.utimesSync(file, new Date(), new Date(Date.now() + 5000));
  assert.equal(s.render('c', {}, {}).script, '#!/bin/bash\necho two\n');
  assert.notEqual(s.get('c'), first);
});

test('render: values are checked against the template, context values are quoted and must not hold NUL', () => {
  const s = new TemplateService({ builtinDir });
  let e = rpcError(() => s.render('train', { cpus: 'four' }, {}));
  assert.equal(e.message, 'variable "cpus": expected an integer, got "four"');
  assert.equal(e.data?.field, 'values.cpus');
  e = rpcError(() => s.render('train', { partition: 'debug; rm -rf ~' }, {}));
  assert.match(e.message, /^variable "partition": expected a token/);
  e = rpcError(() => s.render('predict', {}, { input: 'a\0b' }));
  assert.equal(e.data?.field, 'input');
  assert.match(s.render('predict', {}, { input: '/data/my input.csv' }).script, /\nexport SLURM_ML_INPUT='\/data\/my input\.csv'\n/);
  assert.deepEqual(s.validate('generic', { command: 'true', cpus: '2' }), { command: 'true', arg1: null, arg2: null, arg3: null, arg4: null, workdir: null, partition: null, qos: null, account: null, cpus: 2, mem: null, time: null, gpus: 0, image: null, bind: null });
});

// ---------------------------------------------------------------- protocol

test('templates/list and templates/render over the protocol', async () => {
  const h = await startHarness();
  try {
    const { templates } = await h.client.request(TemplatesList, {});
    assert.deepEqual(
      templates.map((t) => t.name),
      ['evaluate', 'generic', 'predict', 'train'],
    );
    const r = await h.client.request(TemplatesRender, { template: 'generic', values: { command: 'echo "$1"', arg1: '$(id)', cpus: 2 } });
    assert.equal(r.template, 'generic');
    assert.match(r.script, /\nbash -c 'echo "\$1"' slurm-ml '\$\(id\)' +\n/);
    assert.equal(r.values.cpus, 2);
    await assert.rejects(h.client.request(TemplatesRender, { template: 'train', values: { cpus: 'four' } }), (err: unknown) => {
      assert.ok(err instanceof RpcError);
      assert.equal(err.code, ErrorCode.InvalidParams);
      assert.equal(err.message, 'variable "cpus": expected an integer, got "four"');
      assert.equal(err.data?.field, 'values.cpus');
      return true;
    });
    await assert.rejects(h.client.request(TemplatesRender, { template: 'nope', values: {} }), (err: unknown) => err instanceof RpcError && err.code === ErrorCode.NotFound);
  } finally {
    await h.close();
  }
});
