// Hostile values through the shipped templates, proven by running the
// rendered scripts: `bash -n` accepts them, and executed with stub `python3`
// and `apptainer` on PATH (which record their argv and environment) every
// value arrives byte for byte, and none of the commands hidden in the values
// ran (no marker file anywhere).
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { findBuiltinTemplatesDir, TemplateService, type ContextField } from '../../daemon/templates/service';

const tmp = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-inject-')));
const marker = `slurm-ml-pwned-${process.pid}-${Date.now()}`;
const markerInTmp = path.join(os.tmpdir(), marker);
after(() => {
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.rmSync(markerInTmp, { force: true });
});

/** Every way a value could try to run a command, each touching a marker file. */
const HOSTILE = [
  `'; touch ${markerInTmp} #`,
  `$(touch ${markerInTmp})`,
  `\`touch ${markerInTmp}\``,
  `x\ntouch ${markerInTmp}\n`,
  `" ; touch ${marker} ; "`,
  `\\'$(touch ${marker})\\'`,
  `--config=$(touch ${marker})`,
  `~/${marker} * ? [a] {b,c} !! $HOME \${PATH} %s \t end`,
];
/** 10 kB of shell syntax. */
const BIG = Array.from({ length: 10_000 }, (_, i) => `'"$\`;|&<>(){}[]*?~!#\\\n\t x`[i % 25]).join('');

const stubs = path.join(tmp, 'bin');
fs.mkdirSync(stubs);
// Each stub writes its argv and environment, NUL-separated, where STUB_OUT says.
const STUB = `#!/bin/bash
printf '%s\\0' "$@" > "$STUB_OUT/$(basename "$0").argv"
env -0 > "$STUB_OUT/$(basename "$0").env"
`;
for (const name of ['python3', 'apptainer', 'module']) fs.writeFileSync(path.join(stubs, name), STUB, { mode: 0o755 });

const service = new TemplateService({ builtinDir: findBuiltinTemplatesDir(path.join(__dirname, '..', '..', 'daemon', 'templates')) });

function readNul(file: string): string[] {
  const parts = fs.readFileSync(file, 'utf8').split('\0');
  assert.equal(parts.pop(), '');
  return parts;
}

function readEnv(file: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const entry of readNul(file)) {
    const eq = entry.indexOf('=');
    env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** Files named as a hidden `touch` would name them, anywhere under dir (the hostile directory names only contain the name). */
function markersUnder(dir: string): string[] {
  const found: string[] = [];
  const walk = (d: string) => {
    for (const e of fs.readdirSync(d, { withFileTypes: true })) {
      const p = path.join(d, e.name);
      if (e.name === marker) found.push(p);
      if (e.isDirectory() && !e.isSymbolicLink()) walk(p);
    }
  };
  walk(dir);
  return found;
}

function assertNothingRan(where: string[]): void {
  assert.equal(fs.existsSync(markerInTmp), false, `${markerInTmp} exists: a value ran as a command`);
  for (const dir of where) assert.deepEqual(markersUnder(dir), [], `marker files under ${dir}`);
}

/** Runs a rendered script as sbatch would (bash, in the run directory), with the stubs first on PATH. */
function runScript(script: string, cwd: string, home: string, out: string): { status: number | null; stdout: string; stderr: string } {
  const file = path.join(tmp, `script-${Math.random().toString(36).slice(2)}.sh`);
  fs.writeFileSync(file, script);
  execFileSync('bash', ['-n', file]);
  const r = spawnSync('bash', [file], {
    cwd,
    env: { PATH: `${stubs}:/usr/bin:/bin`, HOME: home, STUB_OUT: out, SLURM_SUBMIT_DIR: cwd, SLURM_JOB_ID: '42' },
    encoding: 'utf8',
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

for (const kind of ['train', 'predict', 'evaluate'] as const) {
  for (const [i, hostile] of [...HOSTILE, BIG].entries()) {
    for (const image of [false, true]) {
      const label = `${kind}: hostile value #${i}${hostile === BIG ? ' (10 kB)' : ''}${image ? ' with an image' : ''}`;
      test(`${label} arrives literally and runs nothing`, () => {
        const home = path.join(tmp, `home-${kind}-${i}-${image}`);
        const out = path.join(tmp, `out-${kind}-${i}-${image}`);
        fs.mkdirSync(home);
        fs.mkdirSync(out);
        // The run directory's own name is hostile too (when a filesystem allows it).
        const safeName = hostile.length > 200 ? 'big' : hostile.replace(/\//g, '_');
        const runDir = path.join(home, '.slurm-ml', 'runs', `r-${safeName}`);
        fs.mkdirSync(runDir, { recursive: true });
        const context: Partial<Record<ContextField, string>> = {
          job_name: hostile,
          run_dir: runDir,
          entrypoint: path.join(runDir, `${safeName}.py`),
          config: path.join(runDir, `${safeName}.json`),
          artifact_dir: path.join(runDir, 'artifacts'),
          metrics_file: path.join(runDir, 'metrics.json'),
          output_dir: path.join(runDir, `out ${safeName}`),
          model_dir: `/models/${hostile}`,
          model: hostile,
          model_version: '3',
          input: hostile,
          dataset: hostile,
        };
        const values: Record<string, string> = { cpus: '2', mem: '1G', time: '5:00', partition: 'debug' };
        if (image) Object.assign(values, { image: hostile, bind: hostile });
        const rendered = service.render(kind, values, context);
        const r = runScript(rendered.script, runDir, home, out);
        assert.equal(r.status, 0, `the script failed: ${r.stderr}`);

        const argv = readNul(path.join(out, image ? 'apptainer.argv' : 'python3.argv'));
        const python = [context.entrypoint!, '--config', context.config!];
        assert.deepEqual(argv, image ? ['exec', '--bind', hostile, hostile, 'python3', ...python] : python);
        const env = readEnv(path.join(out, image ? 'apptainer.env' : 'python3.env'));
        assert.equal(env.SLURM_ML_RUN_DIR, runDir);
        assert.equal(env.SLURM_ML_CONFIG, context.config);
        assert.equal(env.SLURM_ML_METRICS_FILE, context.metrics_file);
        assert.equal(env.SLURM_ML_OUTPUT_DIR, context.output_dir);
        assert.equal(env.SLURM_ML_MODEL, hostile);
        assert.equal(env.SLURM_ML_MODEL_VERSION, '3');
        if (kind === 'train') assert.equal(env.SLURM_ML_ARTIFACT_DIR, context.artifact_dir);
        else assert.equal(env.SLURM_ML_MODEL_DIR, context.model_dir);
        if (kind === 'predict') assert.equal(env.SLURM_ML_INPUT, hostile);
        if (kind === 'evaluate') assert.equal(env.SLURM_ML_DATASET, hostile);
        // The directories of the contract exist.
        assert.ok(fs.statSync(kind === 'train' ? context.artifact_dir! : context.output_dir!).isDirectory());
        assertNothingRan([home, tmp]);
      });
    }
  }
}

test('generic: hostile arguments reach the command as "$1".."$4", byte for byte', () => {
  const home = path.join(tmp, 'home-generic');
  const runDir = path.join(home, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const args = [HOSTILE[0]!, HOSTILE[1]!, HOSTILE[3]!, BIG];
  const rendered = service.render(
    'generic',
    { command: `printf '%s\\0' "$@" > "$STUB_OUT/args"; printf 'argc=%s\\n' "$#"`, arg1: args[0]!, arg2: args[1]!, arg3: args[2]!, arg4: args[3]! },
    { run_dir: runDir },
  );
  const r = runScript(rendered.script, runDir, home, runDir);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, 'argc=4\n');
  assert.deepEqual(readNul(path.join(runDir, 'args')), args);
  assertNothingRan([home, tmp]);
});

test('generic: unset arguments are left out; a workdir with spaces and quotes is entered', () => {
  const home = path.join(tmp, 'home-generic-2');
  const work = path.join(home, `it's a "dir" $(x)`);
  fs.mkdirSync(work, { recursive: true });
  const rendered = service.render('generic', { command: 'printf "%s|" "$#" "$PWD"', arg1: '' , workdir: work }, {});
  const r = runScript(rendered.script, home, home, home);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout, `1|${work}|`, 'an empty arg1 is one (empty) argument; arg2..4 unset are none');
});

test('modules are loaded by name before the entrypoint; a preview (no slurm_ml values) falls back to the submit directory', () => {
  const home = path.join(tmp, 'home-modules');
  const runDir = path.join(home, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const entry = path.join(runDir, 'train.py');
  const rendered = service.render('train', { modules: 'python/3.11,cuda/12.1' }, { entrypoint: entry });
  const r = runScript(rendered.script, runDir, home, runDir);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readNul(path.join(runDir, 'module.argv')), ['load', 'python/3.11', 'cuda/12.1']);
  const env = readEnv(path.join(runDir, 'python3.env'));
  assert.equal(env.SLURM_ML_RUN_DIR, runDir);
  assert.equal(env.SLURM_ML_ARTIFACT_DIR, path.join(runDir, 'artifacts'));
  assert.equal(env.SLURM_ML_METRICS_FILE, path.join(runDir, 'metrics.json'));
  assert.equal(env.SLURM_ML_CONFIG, '');
  assert.deepEqual(readNul(path.join(runDir, 'python3.argv')), [entry], 'no --config without a config');
  // A module list is names, never code.
  for (const bad of ['python; touch x', '$(id)', 'a b', "x'"]) {
    assert.throws(() => service.render('train', { modules: bad }, { entrypoint: entry }), /modules/);
  }
  // Without an entrypoint the job says what to do instead of running python on nothing.
  const preview = runScript(service.render('train', {}, {}).script, runDir, home, runDir);
  assert.equal(preview.status, 2);
  assert.match(preview.stderr, /no entrypoint: submit this template with slurm-ml train/);
});

test('with an image and no apptainer, singularity is used; with neither, the job says so', () => {
  const home = path.join(tmp, 'home-singularity');
  const runDir = path.join(home, 'run');
  fs.mkdirSync(runDir, { recursive: true });
  const only = path.join(tmp, 'bin-singularity');
  fs.mkdirSync(only);
  fs.writeFileSync(path.join(only, 'singularity'), STUB, { mode: 0o755 });
  const script = service.render('train', { image: '/img/x.sif', gpus: 1 }, { run_dir: runDir, entrypoint: path.join(runDir, 't.py') }).script;
  const file = path.join(tmp, 'sing.sh');
  fs.writeFileSync(file, script);
  const run = (pathEnv: string) => spawnSync('bash', [file], { cwd: runDir, env: { PATH: pathEnv, HOME: home, STUB_OUT: runDir }, encoding: 'utf8' });
  const r = run(`${only}:/usr/bin:/bin`);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(readNul(path.join(runDir, 'singularity.argv')), ['exec', '--nv', '/img/x.sif', 'python3', path.join(runDir, 't.py')]);
  const none = run('/usr/bin:/bin');
  assert.equal(none.status, 127);
  assert.match(none.stderr, /neither is on PATH/);
});

test('control: the marker check catches a value that does run (unquoted, as plain handlebars would leave it)', () => {
  const home = path.join(tmp, 'home-control');
  fs.mkdirSync(home);
  const r = runScript(`#!/bin/bash\necho "${HOSTILE[1]}" >/dev/null\n`, home, home, home);
  assert.equal(r.status, 0, r.stderr);
  assert.throws(() => assertNothingRan([home, tmp]), /a value ran as a command/);
  fs.rmSync(markerInTmp, { force: true });
});
