// The state file a client finds the daemon by, and the one-daemon-per-user lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ensureStateDir, readStateFile, statePaths, writeStateFile } from '../../daemon/state';
import { acquireLock, AlreadyRunningError, LOCK_STALE_MS, readLock, RunningElsewhereError } from '../../daemon/lock';
import { hostPlatform, usesFileModes } from '../../daemon/platform';

/** Windows has no POSIX modes: the profile directory's ACL protects state there (platforms.test.ts). */
const noModes = !usesFileModes(hostPlatform()) && 'no POSIX file modes on Windows';

function tmp(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-state-'));
}

test('state paths follow SLURM_ML_STATE_DIR, then XDG_STATE_HOME, then ~/.local/state', () => {
  // Linux's rules (other systems: platforms.test.ts).
  const linux = (env: NodeJS.ProcessEnv) => statePaths(env, hostPlatform({ platform: 'linux', env, home: os.homedir() }));
  assert.equal(linux({ SLURM_ML_STATE_DIR: '/a/b' }).stateFile, '/a/b/daemon.json');
  assert.equal(linux({ XDG_STATE_HOME: '/x' }).dir, '/x/slurm-ml');
  assert.equal(linux({}).dir, path.posix.join(os.homedir(), '.local', 'state', 'slurm-ml'));
});

test('the state file and its directory are private to the user', { skip: noModes }, () => {
  const dir = path.join(tmp(), 'state');
  const old = process.umask(0o022);
  try {
    ensureStateDir(dir);
    const file = path.join(dir, 'daemon.json');
    writeStateFile(file, { pid: 1, port: 2, token: 'a'.repeat(64), protocolVersion: 1, daemonVersion: 'x', startedAt: 'now' });
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(dir).mode & 0o777, 0o700);
    assert.equal(readStateFile(file)?.port, 2);
    fs.writeFileSync(file, '{"pid": "garbage"}');
    assert.equal(readStateFile(file), null);
  } finally {
    process.umask(old);
  }
});

test('the lock admits one holder; a lock left by a dead process is taken over', () => {
  const dir = tmp();
  const lockFile = path.join(dir, 'daemon.lock');
  // A live holder: another process's pid in the lock file.
  const sleeper = spawn('sleep', ['30']);
  try {
    fs.writeFileSync(lockFile, String(sleeper.pid));
    assert.throws(() => acquireLock(lockFile), (err: unknown) => err instanceof AlreadyRunningError && err.pid === sleeper.pid);
  } finally {
    sleeper.kill('SIGKILL');
  }
  // A dead holder's lock.
  const dead = spawnSync('true');
  fs.writeFileSync(lockFile, String(dead.pid));
  const lock = acquireLock(lockFile);
  assert.deepEqual(JSON.parse(fs.readFileSync(lockFile, 'utf8')).pid, process.pid);
  assert.equal(readLock(lockFile)?.host, os.hostname(), 'the lock names this host');
  lock.release();
  assert.equal(fs.existsSync(lockFile), false);
});

test('a lock held on another host (a shared home) is refused while its holder beats, and taken over once it stopped', () => {
  const dir = tmp();
  const lockFile = path.join(dir, 'daemon.lock');
  // A daemon on login2 holds it; its pid means nothing here (the same number may even be alive here).
  fs.writeFileSync(lockFile, JSON.stringify({ pid: process.pid, host: 'login2', startedAt: '2026-12-07T10:00:00.000Z' }));
  assert.throws(
    () => acquireLock(lockFile, { host: 'login1' }),
    (err: unknown) => err instanceof RunningElsewhereError && err.holder.host === 'login2' && /runs on host login2 \(pid \d+, since 2026-12-07T10:00:00.000Z/.test(err.message) && /SLURM_ML_STATE_DIR/.test(err.message),
  );
  // Its heartbeat stopped longer ago than LOCK_STALE_MS: login2 is gone, the lock is taken over.
  const old = new Date(Date.now() - LOCK_STALE_MS - 1000);
  fs.utimesSync(lockFile, old, old);
  const lock = acquireLock(lockFile, { host: 'login1' });
  assert.equal(readLock(lockFile)?.host, 'login1');
  lock.release();
});

test('the holder keeps its lock fresh, and hears when another daemon took it over', async () => {
  const dir = tmp();
  const lockFile = path.join(dir, 'daemon.lock');
  let lost: unknown = 'not lost';
  const lock = acquireLock(lockFile, { host: 'login1', heartbeatMs: 50, onLost: (h) => (lost = h) });
  try {
    const old = new Date(Date.now() - 60_000);
    fs.utimesSync(lockFile, old, old);
    await new Promise((r) => setTimeout(r, 200));
    assert.ok(readLock(lockFile)!.heartbeatAgeMs < 1000, 'the heartbeat touched the lock');
    assert.equal(lost, 'not lost');
    fs.writeFileSync(lockFile, JSON.stringify({ pid: 4242, host: 'login2', startedAt: null }));
    await new Promise((r) => setTimeout(r, 200));
    assert.deepEqual(lost && typeof lost === 'object' ? [(lost as { host: string }).host, (lost as { pid: number }).pid] : lost, ['login2', 4242]);
  } finally {
    lock.release();
  }
  assert.ok(fs.existsSync(lockFile), 'release leaves another daemon\'s lock alone');
});
