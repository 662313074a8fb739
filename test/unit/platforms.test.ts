// What differs on Windows and macOS, worked out on Linux with path.win32 /
// path.posix: where state lives and what protects it, where ssh's files are,
// which SSH agents are asked, and Windows-style ssh files (CRLF, backslashes).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { ClusterConnections } from '../../daemon/connections';
import { createLogger, memorySink } from '../../daemon/log';
import { defaultStateDir, hostPlatform, usesFileModes } from '../../daemon/platform';
import { ensureStateDir, metricsToken, statePaths } from '../../daemon/state';
import {
  defaultAgents,
  defaultIdentityFiles,
  expandTilde,
  parseSshConfig,
  resolveChain,
  resolveHost,
  systemSshConfigFile,
  userSshFile,
  type ResolveContext,
} from '../../daemon/ssh/sshConfig';

const fixtures = path.join(__dirname, '..', 'fixtures', 'windows');

const windowsEnv = {
  USERPROFILE: 'C:\\Users\\alice',
  LOCALAPPDATA: 'C:\\Users\\alice\\AppData\\Local',
  APPDATA: 'C:\\Users\\alice\\AppData\\Roaming',
  PROGRAMDATA: 'C:\\ProgramData',
};
const windows = (env: Record<string, string | undefined> = windowsEnv) => hostPlatform({ platform: 'win32', env });
const mac = (env: Record<string, string | undefined> = { HOME: '/Users/alice' }) => hostPlatform({ platform: 'darwin', env });
const linux = (env: Record<string, string | undefined> = { HOME: '/home/alice' }) => hostPlatform({ platform: 'linux', env });

test('state directory: %LOCALAPPDATA%\\slurm-ml on Windows, Application Support on macOS, XDG on Linux; SLURM_ML_STATE_DIR everywhere', () => {
  assert.equal(windows().home, 'C:\\Users\\alice');
  assert.equal(statePaths(windowsEnv, windows()).stateFile, 'C:\\Users\\alice\\AppData\\Local\\slurm-ml\\daemon.json');
  assert.equal(statePaths(windowsEnv, windows()).database, 'C:\\Users\\alice\\AppData\\Local\\slurm-ml\\registry.db');
  // Without %LOCALAPPDATA% (a stripped environment): the same place, from the profile.
  assert.equal(defaultStateDir(windows({ USERPROFILE: 'C:\\Users\\bob' })), 'C:\\Users\\bob\\AppData\\Local\\slurm-ml');
  // XDG_STATE_HOME is a Unix convention; Windows ignores it.
  assert.equal(defaultStateDir(windows({ ...windowsEnv, XDG_STATE_HOME: 'C:\\xdg' })), 'C:\\Users\\alice\\AppData\\Local\\slurm-ml');
  assert.equal(defaultStateDir(windows({ ...windowsEnv, SLURM_ML_STATE_DIR: 'D:\\slurm state' })), 'D:\\slurm state');

  assert.equal(statePaths({ HOME: '/Users/alice' }, mac()).lockFile, '/Users/alice/Library/Application Support/slurm-ml/daemon.lock');
  // The Dock-started editor would not see a shell's XDG_STATE_HOME: macOS does not read it, so editor and CLI agree.
  assert.equal(defaultStateDir(mac({ HOME: '/Users/alice', XDG_STATE_HOME: '/Users/alice/.state' })), '/Users/alice/Library/Application Support/slurm-ml');
  assert.equal(defaultStateDir(mac({ HOME: '/Users/alice', SLURM_ML_STATE_DIR: '/Volumes/x/s' })), '/Volumes/x/s');

  // Linux unchanged: existing users keep their registry.
  assert.equal(defaultStateDir(linux()), '/home/alice/.local/state/slurm-ml');
  assert.equal(defaultStateDir(linux({ HOME: '/home/alice', XDG_STATE_HOME: '/var/xdg' })), '/var/xdg/slurm-ml');
});

test('on Windows file modes are neither set nor relied on; elsewhere they are', () => {
  assert.equal(usesFileModes(windows()), false);
  assert.equal(usesFileModes(mac()), true);
  assert.equal(usesFileModes(linux()), true);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-platform-'));
  try {
    // A state directory and token someone made readable: Windows leaves the modes alone (the profile's ACL protects them) and works.
    const state = path.join(dir, 'state');
    fs.mkdirSync(state, { mode: 0o755 });
    fs.chmodSync(state, 0o755);
    ensureStateDir(state, { platform: 'win32' });
    assert.equal(fs.statSync(state).mode & 0o777, 0o755);
    const tokenFile = path.join(state, 'metrics-token');
    const token = 'ab'.repeat(32);
    fs.writeFileSync(tokenFile, `${token}\n`, { mode: 0o644 });
    fs.chmodSync(tokenFile, 0o644);
    assert.equal(metricsToken(tokenFile, { platform: 'win32' }), token);
    assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o644);
    // The same on Linux or macOS is tightened.
    ensureStateDir(state, { platform: 'darwin' });
    assert.equal(fs.statSync(state).mode & 0o777, 0o700);
    assert.equal(metricsToken(tokenFile, { platform: 'linux' }), token);
    assert.equal(fs.statSync(tokenFile).mode & 0o777, 0o600);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const winCtx: ResolveContext = {
  home: 'C:\\Users\\alice',
  localUser: 'alice',
  localHost: 'LAPTOP-7',
  uid: -1,
  env: windowsEnv,
  platform: 'win32',
};

test('ssh files on Windows: %USERPROFILE%\\.ssh\\config and known_hosts, %PROGRAMDATA%\\ssh\\ssh_config, default keys', () => {
  assert.equal(userSshFile(winCtx, 'config'), 'C:\\Users\\alice\\.ssh\\config');
  assert.equal(userSshFile(winCtx, 'known_hosts'), 'C:\\Users\\alice\\.ssh\\known_hosts');
  assert.equal(systemSshConfigFile(winCtx), 'C:\\ProgramData\\ssh\\ssh_config');
  assert.equal(defaultIdentityFiles(winCtx.home, 'win32')[3], 'C:\\Users\\alice\\.ssh\\id_ed25519');
  const posix = { ...winCtx, home: '/home/alice', platform: 'linux' as const };
  assert.equal(userSshFile(posix, 'known_hosts'), '/home/alice/.ssh/known_hosts');
  assert.equal(systemSshConfigFile(posix), '/etc/ssh/ssh_config');
  assert.equal(expandTilde('~\\.ssh\\id', winCtx.home, 'win32'), 'C:\\Users\\alice\\.ssh\\id');
  assert.equal(expandTilde('~/.ssh/id', winCtx.home, 'win32'), 'C:\\Users\\alice\\.ssh\\id');
  assert.equal(expandTilde('~\\.ssh\\id', '/home/alice', 'linux'), '~\\.ssh\\id'); // a backslash is a file name character there
});

test('SSH agents: SSH_AUTH_SOCK, else on Windows the OpenSSH agent pipe then Pageant; IdentityAgent overrides', () => {
  assert.deepEqual(defaultAgents(winCtx), ['\\\\.\\pipe\\openssh-ssh-agent', 'pageant']);
  assert.deepEqual(defaultAgents({ ...winCtx, env: { ...windowsEnv, SSH_AUTH_SOCK: '\\\\.\\pipe\\my-agent' } }), ['\\\\.\\pipe\\my-agent']);
  assert.deepEqual(defaultAgents({ env: {}, platform: 'darwin' }), []);
  assert.deepEqual(defaultAgents({ env: { SSH_AUTH_SOCK: '/tmp/ssh-x/agent.1' }, platform: 'linux' }), ['/tmp/ssh-x/agent.1']);
  const c = parseSshConfig('Host none\n  IdentityAgent none\nHost env\n  IdentityAgent SSH_AUTH_SOCK\n', { ctx: winCtx, read: () => undefined });
  assert.deepEqual(resolveHost(c, 'none', winCtx).agents, []);
  assert.deepEqual(resolveHost(c, 'env', winCtx).agents, ['\\\\.\\pipe\\openssh-ssh-agent', 'pageant']);
  assert.deepEqual(resolveHost(c, 'other', winCtx).agents, ['\\\\.\\pipe\\openssh-ssh-agent', 'pageant']);
});

test('a Windows ssh config (CRLF, backslash paths, quoted path with a space, relative Include) resolves as Win32 ssh would', () => {
  const file = path.join(fixtures, 'ssh_config');
  assert.match(fs.readFileSync(file, 'latin1'), /\r\n/, 'the fixture keeps its CRLF line endings');
  // The fixture directory stands in for C:\Users\alice\.ssh: reads of that directory go there.
  const sshDir = 'C:\\Users\\alice\\.ssh';
  const read = (p: string) => {
    if (!p.startsWith(sshDir + '\\')) return undefined;
    try {
      return fs.readFileSync(path.join(fixtures, ...p.slice(sshDir.length + 1).split('\\')), 'utf8');
    } catch {
      return undefined;
    }
  };
  const globbed: string[] = [];
  const config = parseSshConfig(fs.readFileSync(file, 'utf8'), {
    path: `${sshDir}\\config`,
    ctx: winCtx,
    read,
    expandGlob: (p) => {
      globbed.push(p);
      const dir = path.win32.dirname(p);
      const local = path.join(fixtures, ...dir.slice(sshDir.length + 1).split('\\'));
      return fs.readdirSync(local).filter((n) => n.endsWith('.conf')).map((n) => path.win32.join(dir, n));
    },
  });
  assert.deepEqual(globbed, ['C:\\Users\\alice\\.ssh\\config.d\\*.conf'], 'a relative Include is taken from %USERPROFILE%\\.ssh');
  assert.deepEqual(config.warnings, []);
  const { target, jumps } = resolveChain(config, 'hpc', winCtx);
  assert.equal(target.hostName, 'login.hpc.example.org');
  assert.equal(target.user, 'alice');
  assert.equal(target.port, 2200, 'from the included file');
  assert.equal(target.serverAliveIntervalS, 60);
  assert.deepEqual(target.identityFiles, ['C:\\Users\\alice\\.ssh\\id_ed25519_hpc', 'C:\\Users\\Alice Smith\\keys\\hpc key']);
  assert.deepEqual(target.knownHostsFiles, ['C:\\Users\\alice\\.ssh\\known_hosts_hpc']);
  assert.deepEqual(target.agents, ['\\\\.\\pipe\\openssh-ssh-agent', 'pageant']);
  assert.deepEqual(
    jumps.map((j) => [j.name, j.hostName, j.agents]),
    [['gateway', 'gw.hpc.example.org', ['\\\\.\\pipe\\openssh-ssh-agent']]],
  );
  assert.deepEqual(resolveHost(config, 'putty-users', winCtx).agents, ['pageant']);
  for (const v of [target.hostName, target.user, ...target.identityFiles, ...(target.knownHostsFiles ?? [])]) assert.doesNotMatch(v, /\r/);
});

test('a cluster added on Windows: known_hosts, config files, default keys and agents of the Windows user', () => {
  // Neither C:\Users\alice\.ssh\config nor C:\ProgramData\ssh\ssh_config exists here: both read as empty configs.
  const connections = new ClusterConnections(createLogger(memorySink()), { resolveContext: winCtx });
  assert.equal(connections.defaultKnownHostsFile(), 'C:\\Users\\alice\\.ssh\\known_hosts');
  const record = {
    id: 'c1',
    name: 'hpc',
    kind: 'ssh' as const,
    sshAlias: null,
    host: 'login.hpc.example.org',
    port: null,
    user: 'alice',
    identityFile: null,
    knownHostsFile: connections.defaultKnownHostsFile(),
    sshConfigFile: null,
    createdAt: '2026-12-07T00:00:00.000Z',
  };
  const c = connections.resolve(record);
  assert.equal(c.knownHostsFile, 'C:\\Users\\alice\\.ssh\\known_hosts');
  assert.deepEqual(c.identityFiles, defaultIdentityFiles('C:\\Users\\alice', 'win32'));
  assert.equal(c.identityFiles?.[0], 'C:\\Users\\alice\\.ssh\\id_rsa');
  assert.deepEqual(c.agents, ['\\\\.\\pipe\\openssh-ssh-agent', 'pageant']);
  // The user's config is the Windows one: the fixture's directory as %USERPROFILE%\.ssh.
  const fromFixture = new ClusterConnections(createLogger(memorySink()), { resolveContext: winCtx, sshConfigFile: path.join(fixtures, 'ssh_config') });
  const hpc = fromFixture.resolve({ ...record, sshAlias: 'putty-users', host: null });
  assert.equal(hpc.host, 'other.example.org');
  assert.deepEqual(hpc.agents, ['pageant']);
});
