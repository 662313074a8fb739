// The ML workflows end to end on the real cluster, driven through the CLI as a
// researcher would: train the sample project twice (at once), evaluate both,
// gate, promote, predict with name@prod, roll back, force a failing gate,
// and a training that fails.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, repoRoot } from './cliHarness';
import { SshSession } from '../../daemon/ssh/session';
import type { GateResult, JobDetail, JobInfo, ModelVersionInfo } from '../../daemon/protocol';

const sample = path.join(repoRoot, 'test', 'demo', 'ml');

let env: ClusterEnv;
let ssh: SshSession;
let remoteInput: string;
const h = new CliHarness({ prefix: 'slurm-ml-ml-', timeoutMs: 300_000, maxBuffer: 16 << 20 });

const workflow = (...more: string[]) => ['--cluster', 'local', '--workspace', sample, ...more];

async function versions(): Promise<ModelVersionInfo[]> {
  return (await h.json<{ versions: ModelVersionInfo[] }>(['model', 'digits'])).versions;
}

function train(config: string): Promise<JobInfo> {
  return h.json<JobInfo>(['train', 'digits', ...workflow('--entrypoint', 'train.py', '--config', config, '--tag', `config=${config}`, '--wait')]);
}

before(async () => {
  env = loadClusterEnv();
  h.open();
  ssh = new SshSession({ name: 'check', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  // Prediction inputs live on the cluster, as datasets do.
  remoteInput = `${await ssh.homeDir()}/slurm-ml-test-inputs/${path.basename(h.work)}/sample.csv`;
  await ssh.mkdirp(path.posix.dirname(remoteInput));
  await ssh.writeFile(remoteInput, fs.readFileSync(path.join(sample, 'inputs', 'sample.csv')));
  await h.addLocalCluster(env);
});

after(async () => {
  await h.close();
  await ssh.close();
});

describe('train, evaluate, gate, promote, predict, roll back', () => {
  let worse: ModelVersionInfo;
  let better: ModelVersionInfo;

  test('two trainings of the same model at once become two distinct versions', async () => {
    const [a, b] = await Promise.all([train('config.json'), train('config-better.json')]);
    for (const j of [a, b]) {
      assert.equal(j.state, 'COMPLETED');
      assert.equal(j.kind, 'train');
      assert.equal(j.finalized, true);
      assert.ok(j.modelVersion !== null);
    }
    assert.deepEqual([a.modelVersion, b.modelVersion].sort(), [1, 2]);
    const all = await versions();
    assert.deepEqual(all.map((v) => v.version).sort(), [1, 2]);
    for (const v of all) {
      assert.ok(v.metrics.accuracy! > 0.9, JSON.stringify(v.metrics));
      assert.ok(v.artifacts.some((f) => f.path.endsWith('/model.onnx') && f.size > 1000), JSON.stringify(v.artifacts));
      assert.equal(v.cluster, 'local');
    }
    const byConfig = (c: string) => all.find((v) => v.tags.config === c)!;
    worse = byConfig('config.json');
    better = byConfig('config-better.json');
    assert.ok(better.metrics.accuracy! > worse.metrics.accuracy!, 'the better config trains a better model');
    // The artifact is really on the cluster where the version says.
    const st = await ssh.stat(`${better.artifactPath}/model.onnx`);
    assert.equal(st.size, better.artifacts.find((f) => f.path.endsWith('/model.onnx'))!.size);
  });

  test('evaluations store accuracy and latency percentiles on each version', async () => {
    const jobs = await Promise.all(
      [worse, better].map((v) => h.json<JobInfo>(['evaluate', `digits@v${v.version}`, ...workflow('--dataset', 'digits', '--entrypoint', 'evaluate.py', '--config', 'config.json', '--wait')])),
    );
    assert.ok(jobs.every((j) => j.state === 'COMPLETED' && j.kind === 'evaluate'));
    const all = await versions();
    for (const v of [worse, better]) {
      const now = all.find((x) => x.version === v.version)!;
      for (const k of ['accuracy', 'f1_macro', 'latency_p50_ms', 'latency_p95_ms', 'latency_p99_ms', 'throughput_rows_per_s']) {
        assert.equal(typeof now.evaluation?.[k], 'number', `${k} on v${v.version}: ${JSON.stringify(now.evaluation)}`);
      }
    }
  });

  test('the gate compares a candidate with a baseline rule by rule', async () => {
    // This model predicts in microseconds, where a shared test machine's noise is
    // larger than 10 %: its latency rule allows 1 ms more, absolutely.
    const set = await h.json<{ rules: unknown[] }>(['rules', 'digits', '--set', 'accuracy:higher:0.01:absolute', '--set', 'latency_p95_ms:lower:1:absolute']);
    assert.equal(set.rules.length, 2);
    const pass = await h.json<GateResult>(['gate', 'digits', '--candidate', String(better.version), '--baseline', String(worse.version)]);
    assert.equal(pass.pass, true);
    assert.deepEqual(pass.rules.map((r) => [r.metric, r.pass]), [['accuracy', true], ['latency_p95_ms', true]]);
    // The candidate's numbers are its evaluation's (over its training metrics).
    const evaluated = (await versions()).find((v) => v.version === better.version)!;
    assert.equal(pass.rules[0]!.candidate, evaluated.evaluation!.accuracy);
    const fail = await h.json<GateResult>(['gate', 'digits', '--candidate', String(worse.version), '--baseline', String(better.version)], 5);
    assert.equal(fail.pass, false);
    assert.equal(fail.rules.find((r) => r.metric === 'accuracy')?.pass, false);
    assert.match(fail.rules.find((r) => r.metric === 'accuracy')!.detail, /dropped/);
  });

  test('promote to prod needs a passing gate; predict with name@prod; rollback restores the previous prod', async () => {
    const first = await h.json<{ fromVersion: number | null; toVersion: number; gate: GateResult | null }>(['promote', 'digits', String(worse.version)]);
    assert.deepEqual([first.fromVersion, first.toVersion, first.gate], [null, worse.version, null]);
    const second = await h.json<{ fromVersion: number | null; toVersion: number; gate: GateResult | null }>(['promote', 'digits', String(better.version)]);
    assert.equal(second.fromVersion, worse.version);
    assert.equal(second.gate?.pass, true);

    const pred = await h.json<JobDetail>(['predict', 'digits@prod', ...workflow('--input', remoteInput, '--entrypoint', 'predict.py', '--wait')]);
    assert.equal(pred.state, 'COMPLETED');
    assert.equal(pred.kind, 'predict');
    assert.equal(pred.modelVersion, better.version);
    const detail = await h.json<JobDetail>(['job', pred.id]);
    const names = (detail.outputs ?? []).map((f) => path.posix.basename(f.path)).sort();
    assert.deepEqual(names, ['predictions.csv', 'summary.json']);
    assert.ok(detail.outputs!.every((f) => f.path.startsWith(`${pred.outputDir}/`)));
    const rows = (await ssh.readFile(`${pred.outputDir}/predictions.csv`)).toString().trim().split('\n');
    assert.equal(rows.length, 21, 'a header and one row per input row');
    // The same version runs locally too (ONNX, downloaded once): it agrees with the cluster's prediction.
    const firstRow = fs.readFileSync(path.join(sample, 'inputs', 'sample.csv'), 'utf8').trim().split('\n')[1]!.split(',').map(Number);
    const inputFile = path.join(h.work, 'row.json');
    fs.writeFileSync(inputFile, JSON.stringify({ input: [firstRow] }));
    const tried = await h.json<{ version: number; outputs: { label: number[]; probabilities: number[][] }; cached: boolean }>(['try', 'digits@prod', '--input', inputFile]);
    assert.equal(tried.version, better.version);
    assert.equal(tried.outputs.label[0], Number(rows[1]!.split(',')[1]));
    assert.equal((await h.json<{ cached: boolean }>(['try', 'digits@prod', '--input', inputFile])).cached, true);
    // Each prediction has a directory of its own.
    const again = await h.json<JobInfo>(['predict', 'digits@prod', ...workflow('--input', remoteInput, '--entrypoint', 'predict.py', '--wait')]);
    assert.notEqual(again.outputDir, pred.outputDir);

    const back = await h.json<{ fromVersion: number; toVersion: number }>(['rollback', 'digits', '--reason', 'check the old one']);
    assert.deepEqual([back.fromVersion, back.toVersion], [better.version, worse.version]);
    const model = await h.json<{ model: { aliases: Record<string, number> }; history: { action: string; fromVersion: number | null; toVersion: number | null; why: string | null }[] }>(['model', 'digits']);
    assert.equal(model.model.aliases.prod, worse.version);
    assert.deepEqual(
      model.history.map((h) => [h.action, h.fromVersion, h.toVersion]).reverse(),
      [
        ['promote', null, worse.version],
        ['promote', worse.version, better.version],
        ['rollback', better.version, worse.version],
      ],
    );
    assert.equal(model.history[0]!.why, 'check the old one');
  });

  test('a failing gate blocks promote; --force with a reason moves the alias and records why', async () => {
    // prod is the better version again; the worse one fails the gate against it.
    await h.json(['promote', 'digits', String(better.version)]);
    const blocked = await h.run(['promote', 'digits', String(worse.version)]);
    assert.equal(blocked.code, 1);
    assert.match(blocked.stderr, /accuracy/);
    const noReason = await h.run(['promote', 'digits', String(worse.version), '--force']);
    assert.equal(noReason.code, 1);
    assert.match(noReason.stderr, /reason/);
    const forced = await h.json<{ toVersion: number; gate: GateResult | null }>(['promote', 'digits', String(worse.version), '--force', '--reason', 'hotfix for a data bug']);
    assert.equal(forced.toVersion, worse.version);
    assert.equal(forced.gate?.pass, false);
    const model = await h.json<{ history: { forced: boolean; why: string | null; toVersion: number | null }[] }>(['model', 'digits']);
    assert.deepEqual([model.history[0]!.forced, model.history[0]!.why, model.history[0]!.toVersion], [true, 'hotfix for a data bug', worse.version]);
  });
});

describe('failures', () => {
  test('a training that exits non-zero creates no version and keeps its log tail', async () => {
    const before = (await h.json<{ totalVersions: number }>(['model', 'digits'])).totalVersions;
    const r = await h.run(['train', 'digits', ...workflow('--entrypoint', 'train.py', '--config', 'config-fail.json', '--wait', '--json')]);
    assert.equal(r.code, 4, r.stderr);
    const job = JSON.parse(r.stdout) as JobInfo;
    assert.equal(job.state, 'FAILED');
    assert.equal(job.exitCode, 3);
    assert.equal(job.modelVersion, null);
    const detail = await h.json<JobDetail>(['job', job.id]);
    assert.match(detail.logTail ?? '', /fail/i);
    assert.equal((await h.json<{ totalVersions: number }>(['model', 'digits'])).totalVersions, before);
  });

  test('template values are checked before anything is submitted, naming the variable', async () => {
    const jobsBefore = (await h.json<{ jobs: JobInfo[] }>(['jobs'])).jobs.length;
    for (const [name, value] of [
      ['partition', "'; touch /tmp/pwned #"],
      ['cpus', '$(id)'],
      ['time', 'two hours'],
      ['nosuchvariable', 'x'],
    ]) {
      const r = await h.run(['train', 'digits', ...workflow('--entrypoint', 'train.py', '--config', 'config.json', '--var', `${name}=${value}`)]);
      assert.equal(r.code, 1, `${name}=${value} was accepted`);
      assert.match(r.stderr, new RegExp(`"${name}"`), r.stderr);
    }
    assert.equal((await h.json<{ jobs: JobInfo[] }>(['jobs'])).jobs.length, jobsBefore, 'nothing was submitted');
  });
});
