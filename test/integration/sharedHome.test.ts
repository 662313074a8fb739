// State that survives shared homes. On clusters the home directory, and so
// the daemon's state directory, is on a network filesystem shared by every
// login node. Two "hosts" are simulated with a UTS namespace of its own
// (unshare -u) whose hostname is login2: two daemons sharing one state
// directory must refuse to, and the second must say where the first runs.
// The network filesystem is a real one: sshfs (FUSE over the test cluster's
// sshd), as this machine's kernel has no NFS client; the registry there uses
// SQLite's rollback journal, since WAL does not work over a network
// filesystem.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness, cliPath, type CliResult } from './cliHarness';
import { readLock } from '../../daemon/lock';
import { isProcessAlive } from '../../daemon/state';
import type { DaemonStatusResult, JobInfo } from '../../daemon/protocol';

let env: ClusterEnv;
const h = new CliHarness({ prefix: 'slurm-ml-sharedhome-' });
let mount: string | undefined;

/** The CLI on "login2": this machine, in a UTS namespace with another hostname. */
function onLogin2(args: string[], stateDir: string): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile(
      'unshare',
      ['-u', 'sh', '-c', 'hostname login2 && exec "$@"', 'sh', process.execPath, cliPath, ...args],
      { env: { ...process.env, SLURM_ML_STATE_DIR: stateDir, SLURM_ML_POLL_INTERVAL_MS: '1000' }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? (typeof (err as NodeJS.ErrnoException).code === 'number' ? Number((err as NodeJS.ErrnoException).code) : 1) : 0, stdout, stderr }),
    );
  });
}

before(async () => {
  env = loadClusterEnv();
  h.open();
});

after(async () => {
  await h.close();
  if (mount) {
    execFileSync('fusermount', ['-u', mount], { stdio: 'ignore' });
    fs.rmSync(mount, { recursive: true, force: true });
  }
});

test('two hosts sharing one state directory: the second refuses and names where the daemon runs; a dead host\'s lock is taken over', async () => {
  await h.addLocalCluster(env);
  const status = await h.json<DaemonStatusResult & { running: boolean }>(['daemon', 'status']);
  assert.equal(status.host, os.hostname());
  const first = status.pid;

  // On login2 the CLI does not start a second daemon on the same registry: it says where the daemon is.
  const there = await onLogin2(['jobs', '--json'], h.stateDir);
  assert.notEqual(there.code, 0, there.stdout);
  assert.match(there.stderr, new RegExp(`runs on host ${os.hostname()} \\(pid ${first}`));
  assert.match(there.stderr, /SLURM_ML_STATE_DIR/);
  // Nor does a daemon started there by hand.
  const daemon = await new Promise<{ code: number | null; stderr: string }>((resolve) => {
    execFile(
      'unshare',
      ['-u', 'sh', '-c', 'hostname login2 && exec "$@"', 'sh', process.execPath, path.join(path.dirname(cliPath), '..', 'dist', 'daemon.js')],
      { env: { ...process.env, SLURM_ML_STATE_DIR: h.stateDir }, timeout: 30_000 },
      (err, _out, stderr) => resolve({ code: err ? ((err as { code?: number }).code ?? 1) : 0, stderr }),
    );
  });
  assert.equal(daemon.code, 4, daemon.stderr);
  assert.match(daemon.stderr, /not starting: the slurm-ml daemon for this state directory runs on host/);
  assert.equal(readLock(path.join(h.stateDir, 'daemon.lock'))?.pid, first, 'the lock still names the first daemon');
  assert.ok(isProcessAlive(first));
  const again = await h.json<DaemonStatusResult>(['daemon', 'status']);
  assert.equal(again.pid, first, 'the first daemon was not disturbed');

  // The first host dies without a word: its lock stays, its heartbeat stops.
  process.kill(first, 'SIGKILL');
  await h.until('the daemon gone', () => (isProcessAlive(first) ? undefined : true), 10_000, 100);
  const lock = path.join(h.stateDir, 'daemon.lock');
  const stopped = new Date(Date.now() - 5 * 60_000);
  fs.utimesSync(lock, stopped, stopped);
  const taken = await onLogin2(['cluster', 'list', '--json'], h.stateDir);
  assert.equal(taken.code, 0, taken.stderr);
  assert.deepEqual((JSON.parse(taken.stdout) as { clusters: { name: string }[] }).clusters.map((c) => c.name), ['local'], 'the same registry, from login2');
  assert.equal(readLock(lock)?.host, 'login2');
  // And now this host is the one told where the daemon runs.
  const here = await h.run(['jobs']);
  assert.notEqual(here.code, 0);
  assert.match(here.stderr, /runs on host login2/);
  const stop = await onLogin2(['daemon', 'stop'], h.stateDir);
  assert.equal(stop.code, 0, stop.stderr);
});

test('a registry on a network filesystem (sshfs) uses the rollback journal and works', async () => {
  // The cluster user's home, mounted here over SFTP: a network filesystem as a shared home is.
  const remote = `/home/${env.user}/slurm-ml-sharedhome-${process.pid}`;
  execFileSync('runuser', ['-u', env.user, '--', 'mkdir', '-p', remote]);
  mount = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sshfs-'));
  execFileSync('sshfs', [
    '-p', String(env.port),
    '-o', `IdentityFile=${env.identityFile},UserKnownHostsFile=${env.knownHostsFile},StrictHostKeyChecking=yes,BatchMode=yes`,
    `${env.user}@${env.host}:${remote}`, mount,
  ]);
  const fsType = fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n').find((l) => l.includes(` ${mount} `))?.split(' - ')[1]?.split(' ')[0];
  assert.equal(fsType, 'fuse.sshfs');
  const nfs = new CliHarness({ prefix: 'slurm-ml-sharedhome-nfs-', stateDir: path.join(mount, 'state') });
  nfs.open();
  try {
    await nfs.addLocalCluster(env);
    const st = await nfs.json<DaemonStatusResult>(['daemon', 'status']);
    assert.equal(st.stateFilesystem, 'fuse.sshfs');
    assert.equal(st.registryJournal, 'delete');
    const job = await nfs.json<JobInfo>(['submit', nfs.script('nfs.sh', 'echo on a shared home'), '--cluster', 'local', '--wait']);
    assert.equal(job.state, 'COMPLETED');
    const listed = await nfs.json<{ jobs: JobInfo[] }>(['jobs']);
    assert.deepEqual(listed.jobs.map((j) => j.id), [job.id]);
    const files = fs.readdirSync(path.join(mount, 'state'));
    assert.ok(files.includes('registry.db'), files.join(' '));
    assert.ok(!files.includes('registry.db-wal') && !files.includes('registry.db-shm'), `no write-ahead log on a network filesystem: ${files.join(' ')}`);
    // The registry is where the remote home is.
    const remoteFiles = execFileSync('runuser', ['-u', env.user, '--', 'ls', `${remote}/state`], { encoding: 'utf8' });
    assert.match(remoteFiles, /registry\.db/);
  } finally {
    await nfs.close();
    execFileSync('runuser', ['-u', env.user, '--', 'rm', '-rf', remote]);
  }
});
