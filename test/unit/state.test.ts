// The state file a client finds the daemon by, and the one-daemon-per-user lock.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { acquireLock, AlreadyRunningError, ensureStateDir, readStateFile, statePaths, writeStateFile } from '../../daemon/state';
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
  assert.equal(fs.readFileSync(lockFile, 'utf8'), String(process.pid));
  lock.release();
  assert.equal(fs.existsSync(lockFile), false);
});
