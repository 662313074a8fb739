// Templates as a user drives them: `slurm-ml templates` and `slurm-ml render`
// through a real daemon (the bundle, so the builtin templates are found from
// dist/), and a rendered generic template submitted to the real local SLURM
// cluster with hostile values: the job prints them back literally and none
// of the commands hidden in them ran on the cluster.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, repoRoot } from './cliHarness';
import type { JobInfo, TemplateInfo } from '../../daemon/protocol';
import { SshSession } from '../../daemon/ssh/session';

let env: ClusterEnv;
// Run from the work directory: --workspace defaults to the current directory.
const h = new CliHarness({ prefix: 'slurm-ml-templates-it-', cwdIsWork: true, maxBuffer: 16 * 1024 * 1024 });

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
});

after(() => h.close());

describe('templates through the CLI and the local cluster', () => {
  test('render train prints the script, and only the script, on stdout', async () => {
    const r = await h.run(['render', 'train', '--var', 'cpus=2', '--var', 'mem=500M', '--var', 'time=5:00', '--var', `partition=${env.defaultPartition ?? 'debug'}`]);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(
      r.stdout.startsWith(`#!/bin/bash\n#SBATCH --cpus-per-task=2\n#SBATCH --mem=500M\n#SBATCH --time=5:00\n#SBATCH --partition=${env.defaultPartition ?? 'debug'}\n# Rendered by slurm-ml`),
      r.stdout.slice(0, 300),
    );
    assert.match(r.stdout, /\nexport SLURM_ML_ARTIFACT_DIR=''\n/, 'a preview has no run: the script falls back to its submit directory');
    const json = await h.run(['render', 'train', '--var', 'cpus=2', '--json']);
    assert.equal(json.code, 0, json.stderr);
    const parsed = JSON.parse(json.stdout) as { template: string; script: string; values: Record<string, unknown> };
    assert.equal(parsed.template, 'train');
    assert.equal(parsed.values.cpus, 2, 'the CLI text "2" arrives as the integer 2');
    assert.equal(parsed.values.python, 'python3', 'defaults are applied');
  });

  test('bad values are refused naming the variable, and nothing is printed on stdout', async () => {
    const cases: [string[], RegExp][] = [
      [['--var', 'cpus=four'], /^slurm-ml: variable "cpus": expected an integer, got "four"\n$/],
      [['--var', 'partition=debug; touch /tmp/x'], /^slurm-ml: variable "partition": expected a token/],
      [['--var', 'mem=lots'], /^slurm-ml: variable "mem": expected memory/],
      [['--var', 'cpsu=4'], /^slurm-ml: unknown variable "cpsu": template train has partition, qos, account, cpus/],
      [['--var', 'slurm_ml=x'], /^slurm-ml: variable "slurm_ml" is reserved/],
    ];
    for (const [args, re] of cases) {
      const r = await h.run(['render', 'train', ...args]);
      assert.equal(r.code, 1, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, re);
      assert.equal(r.stdout, '');
    }
    const missing = await h.run(['render', 'generic']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /variable "command" is required/);
    const usage = await h.run(['render', 'train', '--var', 'cpus']);
    assert.equal(usage.code, 2);
    assert.match(usage.stderr, /--var takes NAME=VALUE/);
  });

  test('templates lists the builtin ones; a workspace template overrides one of the same name', async () => {
    const r = await h.run(['templates', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const { templates } = JSON.parse(r.stdout) as { templates: TemplateInfo[] };
    assert.deepEqual(
      templates.map((t) => [t.name, t.kind, t.source]),
      [
        ['evaluate', 'evaluate', 'builtin'],
        ['generic', 'job', 'builtin'],
        ['predict', 'predict', 'builtin'],
        ['train', 'train', 'builtin'],
      ],
    );
    assert.equal(path.dirname(templates[0]!.path), path.join(repoRoot, 'templates'), 'found by the bundled daemon from dist/');

    const ws = path.join(h.work, 'ws');
    fs.mkdirSync(path.join(ws, '.slurm-ml', 'templates'), { recursive: true });
    fs.writeFileSync(
      path.join(ws, '.slurm-ml', 'templates', 'generic.sbatch.hbs'),
      '{{!-- slurm-ml {"kind": "job", "description": "mine", "variables": [{"name": "greeting", "type": "string", "default": "hi there"}]} --}}\n#!/bin/bash\necho {{greeting}}\n',
    );
    const listed = await h.run(['templates', '--workspace', ws]);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^generic \(job, workspace: .*\/ws\/\.slurm-ml\/templates\/generic\.sbatch\.hbs\)\n  mine\n    greeting +string +=  ?"hi there"/m);
    const rendered = await h.run(['render', 'generic', '--workspace', ws, '--var', "greeting=it's"]);
    assert.equal(rendered.code, 0, rendered.stderr);
    assert.equal(rendered.stdout, "#!/bin/bash\necho 'it'\\''s'\n");

    fs.writeFileSync(path.join(ws, '.slurm-ml', 'templates', 'bad.sbatch.hbs'), '{{!-- slurm-ml {"kind": "job", "variables": [{"name": "x", "type": "string"}]} --}}\n#!/bin/bash\n#SBATCH --comment={{x}}\n');
    const bad = await h.run(['render', 'bad', '--workspace', ws, '--var', 'x=1']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /bad\.sbatch\.hbs: line 3: \{\{x\}\} is shell-quoted text in an #SBATCH line/);
  });

  test('a rendered generic template with hostile values runs on the cluster and prints them literally', async () => {
    const marker = `slurm-ml-tpl-pwned-${process.pid}-${Date.now()}`;
    const args = [
      `'; touch /tmp/${marker}-quote #`,
      `$(touch ~/${marker}-subst)`,
      `\`touch ${marker}-tick\``,
      `line one\ntouch /tmp/${marker}-newline\n"; touch ${marker}-dq; "`,
    ];
    const command = 'printf "<%s>\\n" "$@"; printf "run=%s\\n" "$SLURM_ML_RUN_DIR"';
    const rendered = await h.run([
      'render', 'generic',
      '--var', `command=${command}`,
      ...args.flatMap((a, i) => ['--var', `arg${i + 1}=${a}`]),
      '--var', 'time=2:00', '--var', `partition=${env.defaultPartition ?? 'debug'}`, '--var', 'mem=100M',
    ]);
    assert.equal(rendered.code, 0, rendered.stderr);
    const file = path.join(h.work, 'hostile.sbatch');
    fs.writeFileSync(file, rendered.stdout);

    const submitted = await h.run(['submit', file, '--cluster', 'local', '--wait', '--json']);
    assert.equal(submitted.code, 0, submitted.stderr + submitted.stdout);
    const job = JSON.parse(submitted.stdout) as JobInfo;
    assert.equal(job.state, 'COMPLETED');
    assert.ok(job.stdoutPath);

    const ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
    try {
      const out = (await ssh.readFile(job.stdoutPath)).toString('utf8');
      assert.equal(out, `${args.map((a) => `<${a}>\n`).join('')}run=${job.runDir}\n`, 'every argument arrived as one literal word');
      const home = await ssh.homeDir();
      const found = await ssh.exec(['find', home, job.runDir, '/tmp', '/var/tmp', '-maxdepth', '4', '-name', `${marker}*`]);
      assert.equal(found.stdout, '', `marker files on the cluster: a value ran as a command\n${found.stdout}`);
    } finally {
      await ssh.close();
    }
    const logs = await h.run(['logs', job.id, '--bytes', 'all']);
    assert.equal(logs.code, 0, logs.stderr);
    assert.match(logs.stdout, /<\$\(touch ~\/slurm-ml-tpl-pwned-[0-9-]+-subst\)>\n/);
  });
});
