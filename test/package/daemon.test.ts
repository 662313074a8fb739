// This machine's package (slurm-ml-<platform>.vsix, npm run package:all) runs:
// unpacked outside the repository, so that only its own node_modules can
// load, its daemon adds the local test cluster, connects over SSH (ssh2
// without its native sshcrypto and cpu-features, which packages leave out),
// submits a job and reads its log, keeping the registry in libsql; and its
// onnxruntime-node loads. Needs the local cluster (test/cluster/up.sh).
//
//   node --import tsx --test test/package/daemon.test.ts
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClusterEnv } from '../integration/clusterEnv';

const root = path.resolve(__dirname, '..', '..');
const target = `${process.platform}-${process.arch}`;
const vsix = path.join(root, `slurm-ml-${target}.vsix`);

test(`the ${target} package's daemon runs a job on the local cluster from its own node_modules`, { timeout: 180_000 }, (t) => {
  assert.ok(fs.existsSync(vsix), `${vsix} missing: npm run package:all (or npm run package -- --target ${target}) first`);
  assert.ok(fs.existsSync(path.join(root, 'dist', 'cli.js')), 'dist/cli.js missing: npm run build first');
  const env = loadClusterEnv();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-package-'));
  const ext = path.join(dir, 'extension');
  const state = path.join(dir, 'state');
  const cli = (...args: string[]) =>
    execFileSync(process.execPath, [path.join(ext, 'dist', 'cli.js'), ...args], { cwd: dir, encoding: 'utf8', env: { ...process.env, SLURM_ML_STATE_DIR: state }, timeout: 120_000 });
  t.after(() => {
    try {
      cli('daemon', 'stop');
    } catch {
      // not started
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  execFileSync('unzip', ['-q', vsix, '-d', dir]);
  assert.equal(fs.existsSync(path.join(ext, 'node_modules', 'ssh2', 'lib', 'protocol', 'crypto', 'build')), false, 'no native sshcrypto in the package');
  assert.equal(fs.existsSync(path.join(ext, 'node_modules', 'cpu-features')), false, 'no cpu-features in the package');
  // The CLI is a protocol client (no native modules); it starts the daemon.js beside it, the package's.
  fs.copyFileSync(path.join(root, 'dist', 'cli.js'), path.join(ext, 'dist', 'cli.js'));

  cli('cluster', 'add', 'pkg', '--host', env.host, '--port', String(env.port), '--user', env.user, '--identity', env.identityFile, '--known-hosts', env.knownHostsFile);
  assert.match(cli('cluster', 'test', 'pkg'), /cluster pkg: ok/);
  const script = path.join(dir, 'job.sh');
  fs.writeFileSync(script, '#!/bin/bash\n#SBATCH --time=1\necho "hello from the packaged daemon"\n');
  const job = JSON.parse(cli('submit', script, '--cluster', 'pkg', '--wait', '--json')) as { id: string; state: string };
  assert.equal(job.state, 'COMPLETED');
  assert.equal(cli('logs', job.id).trim(), 'hello from the packaged daemon');
  const status = cli('daemon', 'status');
  assert.ok(status.includes(path.join(state, 'registry.db')), status);
  // The daemon that ran it is the package's, not the repository's.
  const pid = Number(/pid (\d+)/.exec(status)?.[1]);
  const maps = fs.readFileSync(`/proc/${pid}/maps`, 'utf8');
  assert.ok(maps.includes(path.join(ext, 'node_modules', '@libsql')), 'the daemon loaded the package\'s libsql binary');
  assert.ok(!maps.includes(path.join(root, 'node_modules')), 'and nothing from the repository\'s node_modules');

  const onnx = execFileSync(process.execPath, ['-e', "console.log(typeof require('onnxruntime-node').InferenceSession.create)"], { cwd: ext, encoding: 'utf8' });
  assert.equal(onnx.trim(), 'function');
});
