// The daemon and the CLI on the editor's own runtime (no separate Node.js):
// the daemon the extension started runs on the extension host's executable
// with ELECTRON_RUN_AS_NODE=1 and has loaded its native SQLite binding there;
// onnxruntime-node, which it loads when it first estimates with a runtime
// model, computes on that runtime what the TypeScript trees compute; and
// "Install 'slurm-ml' Command in PATH" gives a terminal a `slurm-ml` that
// reaches the same daemon with no `node` on PATH at all.
import * as assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { InstalledCli } from '../../../extension/installCli';
import type { SlurmMlApi } from '../../../extension/main';
import { trainQuantileGbdt, type Dataset } from '../../../daemon/runtime/gbdt';
import { predictCalibrated } from '../../../daemon/runtime/conformal';
import { exportOnnx } from '../../../daemon/runtime/onnxExport';
import { activateWithTestCluster, clusterName, env } from './support';

const linuxOnly = process.platform === 'linux' ? it : it.skip;

function dataset(n: number): Dataset {
  const X = new Float64Array(n * 2);
  const y = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    X[i * 2] = (i * 37) % 600;
    X[i * 2 + 1] = i % 8;
    y[i] = Math.log1p(X[i * 2]!) + 0.1 * X[i * 2 + 1]!;
  }
  return { n, d: 2, X, y, featureNames: ['limit', 'cpus'] };
}

describe('Slurm ML on the editor\'s own runtime', () => {
  let api: SlurmMlApi;
  let extensionPath: string;

  before(async () => {
    api = await activateWithTestCluster();
    extensionPath = vscode.extensions.getExtension('slurm-ml.slurm-ml')!.extensionPath;
  });

  linuxOnly('runs its daemon on the extension host\'s executable, as Node, with its SQLite binding loaded', () => {
    const s = api.daemon.state;
    assert.equal(s.kind, 'connected');
    const pid = (s as { pid: number }).pid;
    assert.equal(fs.realpathSync(`/proc/${pid}/exe`), fs.realpathSync(process.execPath), 'the daemon runs on the editor runtime');
    const environ = fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
    assert.ok(environ.includes('ELECTRON_RUN_AS_NODE=1'), 'started with ELECTRON_RUN_AS_NODE=1');
    // The registry is open, so its native binding is mapped into the daemon, from the extension's own node_modules.
    const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
    const natives = [...new Set(maps.split('\n').map((l) => l.split(/\s+/).slice(5).join(' ')).filter((f) => f.endsWith('.node')))];
    assert.ok(natives.some((f) => f.startsWith(fs.realpathSync(extensionPath)) && /@libsql\/[^/]+\/index\.node$/.test(f)), `the libsql binding (@libsql/<platform>/index.node) loaded (native modules mapped: ${natives.join(', ') || 'none'})`);
  });

  it('runs a runtime model with onnxruntime-node on the editor runtime, with the results of the TypeScript trees', () => {
    const data = dataset(400);
    const model = trainQuantileGbdt(data, { quantiles: [0.1, 0.5, 0.9], trees: 20 });
    const file = path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', `runtime-${process.pid}.onnx`);
    fs.writeFileSync(file, exportOnnx(model));
    const rows = 5;
    const script = `
      const ort = require(${JSON.stringify(path.join(extensionPath, 'node_modules', 'onnxruntime-node'))});
      const X = new Float32Array(${JSON.stringify(Array.from(data.X.subarray(0, rows * 2)))});
      ort.InferenceSession.create(${JSON.stringify(file)}, { intraOpNumThreads: 1 })
        .then((s) => s.run({ input: new ort.Tensor('float32', X, [${rows}, 2]) }))
        .then((o) => console.log(JSON.stringify(Array.from(o.quantiles.data))), (e) => { console.error(e.stack || e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' }, encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    const onnx = JSON.parse(r.stdout) as number[];
    const ts = predictCalibrated(model, data.X, rows);
    assert.equal(onnx.length, ts.length);
    for (let i = 0; i < ts.length; i++) assert.ok(Math.abs(onnx[i]! - ts[i]!) < 1e-4, `value ${i}: onnx ${onnx[i]} vs ${ts[i]}`);
  });

  it('installs a slurm-ml command that works with no node on PATH and reaches the same daemon', async function () {
    if (process.platform === 'win32') this.skip();
    const dir = path.join(env.SLURM_ML_VSCODE_TMP ?? '/tmp', 'bin');
    const installed = await vscode.commands.executeCommand<InstalledCli>('slurmMl.installCli', dir);
    assert.ok(installed, 'the command returns what it wrote');
    assert.equal(installed.file, path.join(dir, 'slurm-ml'));
    assert.ok(fs.statSync(installed.file).mode & 0o111, 'the launcher is executable');
    // A shell whose PATH is only that directory: no node anywhere on it.
    const shell = (cmd: string) =>
      spawnSync('/bin/sh', ['-c', cmd], { encoding: 'utf8', timeout: 60_000, env: { PATH: dir, HOME: env.HOME, SLURM_ML_STATE_DIR: env.SLURM_ML_STATE_DIR } });
    assert.notEqual(shell('command -v node').status, 0, 'no node on this PATH');
    const version = shell('slurm-ml --version');
    assert.equal(version.status, 0, version.stderr);
    assert.equal(version.stdout.trim(), `slurm-ml ${vscode.extensions.getExtension('slurm-ml.slurm-ml')!.packageJSON.version}`);
    const status = shell('slurm-ml daemon status --json');
    assert.equal(status.status, 0, status.stderr);
    assert.equal((JSON.parse(status.stdout) as { pid: number }).pid, (api.daemon.state as { pid: number }).pid, 'the CLI talks to the daemon the editor started');
    const clusters = shell('slurm-ml cluster list --json');
    assert.equal(clusters.status, 0, clusters.stderr);
    assert.ok((JSON.parse(clusters.stdout) as { clusters: { name: string }[] }).clusters.some((c) => c.name === clusterName), `the CLI lists ${clusterName}`);
    // Run again: it replaces its own launcher without asking.
    assert.ok(await vscode.commands.executeCommand<InstalledCli>('slurmMl.installCli', dir));
  });
});
