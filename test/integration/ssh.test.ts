// SshSession against the real sshd of the local test cluster (npm run cluster:up).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo, Server, Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SshError, SshSession, isNoSuchFile } from '../../daemon/ssh/session';
import type { SshClusterConfig, SshSessionOptions, SshState } from '../../daemon/ssh/session';
import { loadClusterEnv } from './clusterEnv';
import type { ClusterEnv } from './clusterEnv';

let env: ClusterEnv;
let local = ''; // local temp dir for keys and known_hosts variants
let remoteDir = ''; // remote temp dir under the test user's home
let shared: SshSession;
const sessions: SshSession[] = [];

function session(overrides: Partial<SshClusterConfig> = {}, options: SshSessionOptions = {}): SshSession {
  const s = new SshSession(
    {
      name: 'test',
      host: env.host,
      port: env.port,
      user: env.user,
      identityFile: env.identityFile,
      knownHostsFile: env.knownHostsFile,
      ...overrides,
    },
    { readyTimeoutMs: 10_000, ...options },
  );
  sessions.push(s);
  return s;
}

async function rejectsWithKind(p: Promise<unknown>, kind: string): Promise<SshError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof SshError, `expected SshError, got ${String(err)}`);
    assert.equal(err.kind, kind, err.message);
    return err;
  }
  assert.fail(`expected SshError kind ${kind}, but it resolved`);
}

/** A port nothing listens on (bound then released). */
async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** The real host key line from up.sh's known_hosts, re-labelled for another host:port. */
function realHostKey(): string {
  const line = readFileSync(env.knownHostsFile, 'utf8').split('\n').find((l) => l.trim() && !l.startsWith('#'));
  assert.ok(line, 'known_hosts from up.sh has an entry');
  return line.split(/\s+/).slice(1, 3).join(' ');
}

function knownHostsFor(name: string, lines: string[]): string {
  const path = join(local, name);
  writeFileSync(path, lines.join('\n') + '\n');
  return path;
}

/**
 * TCP proxy to the cluster's sshd that the test can cut or freeze, to play
 * dropped connections and hung servers without touching sshd.
 */
class Proxy {
  server: Server;
  port = 0;
  connections = 0;
  private pairs: Array<[Socket, Socket]> = [];
  private frozen = false;

  constructor(target: { host: string; port: number }) {
    this.server = createServer((down) => {
      this.connections++;
      const up = netConnect(target.port, target.host);
      this.pairs.push([down, up]);
      down.on('error', () => up.destroy());
      up.on('error', () => down.destroy());
      down.on('close', () => up.destroy());
      up.on('close', () => down.destroy());
      down.on('data', (b) => {
        if (!this.frozen) up.write(b);
      });
      up.on('data', (b) => {
        if (!this.frozen) down.write(b);
      });
    });
  }

  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }

  /** Every open connection dies at once (RST-like), as when a network drops. */
  cut(): void {
    for (const [a, b] of this.pairs) {
      a.destroy();
      b.destroy();
    }
    this.pairs = [];
  }

  /** Bytes are swallowed in both directions: a hung server. */
  freeze(frozen: boolean): void {
    this.frozen = frozen;
  }

  async close(): Promise<void> {
    this.cut();
    await new Promise<void>((r) => this.server.close(() => r()));
  }
}

async function withProxy(fn: (proxy: Proxy, cfg: Partial<SshClusterConfig>) => Promise<void>): Promise<void> {
  const proxy = new Proxy({ host: env.host, port: env.port });
  await proxy.listen();
  const kh = knownHostsFor(`kh-proxy-${proxy.port}`, [`[127.0.0.1]:${proxy.port} ${realHostKey()}`]);
  try {
    await fn(proxy, { host: '127.0.0.1', port: proxy.port, knownHostsFile: kh });
  } finally {
    await proxy.close();
  }
}

function waitForState(s: SshSession, want: SshState, ms = 10_000): Promise<void> {
  if (s.state === want) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      dispose();
      reject(new Error(`state stayed ${s.state}, wanted ${want}`));
    }, ms);
    const dispose = s.onStateChange((st) => {
      if (st === want) {
        clearTimeout(timer);
        dispose();
        resolve();
      }
    });
  });
}

before(async () => {
  env = loadClusterEnv();
  local = mkdtempSync(join(tmpdir(), 'ssh-it-'));
  shared = session();
  const home = await shared.homeDir();
  remoteDir = `${home}/slurm-ml-ssh-test-${process.pid}-${Date.now()}`;
  await shared.mkdirp(remoteDir);
});

after(async () => {
  if (remoteDir && shared) await shared.exec(['rm', '-rf', remoteDir]).catch(() => undefined);
  await Promise.all(sessions.map((s) => s.close()));
  if (local) rmSync(local, { recursive: true, force: true });
});

test('connects with the pinned host key; state and fingerprint are reported', async () => {
  const s = session();
  const seen: SshState[] = [];
  const dispose = s.onStateChange((st) => seen.push(st));
  assert.equal(s.state, 'disconnected');
  await Promise.all([s.connect(), s.connect(), s.connect()]);
  await s.connect(); // idempotent when ready
  assert.equal(s.state, 'ready');
  assert.equal(s.lastError, undefined);
  assert.equal(s.hostKeyFingerprint, env.hostKeyFingerprint);
  assert.deepEqual(seen, ['connecting', 'ready']);
  dispose();
  await s.close();
  assert.equal(s.state, 'disconnected');
  await rejectsWithKind(s.exec(['true']), 'closed');
});

test('exec passes nasty arguments literally and runs nothing they contain', async () => {
  const marker = `${remoteDir}/pwned`;
  const nasty = [
    '',
    'two words',
    "it's",
    '"double"',
    '$HOME',
    `$(touch ${marker})`,
    `\`touch ${marker}\``,
    `; touch ${marker}`,
    `&& touch ${marker}`,
    `| touch ${marker}`,
    '*',
    '~',
    '#not a comment',
    'FOO=bar',
    'line1\nline2',
    '\t',
    'ünïcödé ✓',
    '-n',
    '\\backslash\\',
  ];
  const r = await shared.exec(['printf', '%s\\0', ...nasty]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.split('\0').slice(0, -1), nasty);

  const echo = await shared.exec(['echo', `$(touch ${marker})`, "it's", '$HOME', '*']);
  assert.equal(echo.stdout, `$(touch ${marker}) it's $HOME *\n`);

  const check = await shared.exec(['test', '-e', marker]);
  assert.equal(check.code, 1, 'the marker file must not exist');
  await assert.rejects(shared.stat(marker), (err) => isNoSuchFile(err));
});

test('exec with stdin; without stdin the command sees EOF at once', async () => {
  const r = await shared.exec(['cat'], { stdin: 'hello\nworld\n' });
  assert.deepEqual([r.code, r.stdout], [0, 'hello\nworld\n']);

  const empty = await shared.exec(['cat'], { timeoutMs: 5000 });
  assert.deepEqual([empty.code, empty.stdout], [0, '']);

  // Bigger than ssh2's 2 MiB channel window, so flow control is exercised.
  const big = Buffer.alloc(5 * 1024 * 1024, 0xab);
  const wc = await shared.exec(['wc', '-c'], { stdin: big, timeoutMs: 30_000 });
  assert.equal(wc.stdout.trim(), String(big.length));

  const back = await shared.exec(['head', '-c', String(3 * 1024 * 1024), '/dev/zero'], { timeoutMs: 30_000 });
  assert.equal(back.stdout.length, 3 * 1024 * 1024);
});

test('nonzero exit codes, stderr and signals come back as results', async () => {
  const r = await shared.exec(['sh', '-c', 'echo out; echo err >&2; exit 3']);
  assert.deepEqual(r, { code: 3, signal: null, stdout: 'out\n', stderr: 'err\n' });

  const missing = await shared.exec(['definitely-not-a-command-xyz']);
  assert.equal(missing.code, 127);
  assert.match(missing.stderr, /not found/);

  const killed = await shared.exec(['sh', '-c', 'kill -TERM $$']);
  assert.equal(killed.code, null);
  assert.equal(killed.signal, 'SIGTERM');
});

test('exec in a working directory, including ~ and names needing quotes', async () => {
  const dir = `${remoteDir}/a dir; with $(stuff)`;
  await shared.mkdirp(dir);
  const r = await shared.exec(['pwd'], { cwd: dir });
  assert.equal(r.stdout, dir + '\n');
  const home = await shared.homeDir();
  assert.equal((await shared.exec(['pwd'], { cwd: '~' })).stdout, home + '\n');
  assert.equal((await shared.exec(['pwd'])).stdout, home + '\n');
  const rel = remoteDir.slice(home.length + 1);
  assert.equal((await shared.exec(['pwd'], { cwd: `~/${rel}` })).stdout, remoteDir + '\n');
  const bad = await shared.exec(['pwd'], { cwd: `${remoteDir}/nope` });
  assert.notEqual(bad.code, 0);
  assert.equal(bad.stdout, '');
});

test('SFTP: mkdirp, write with mode, stat, read back, ~ paths', async () => {
  const dir = `${remoteDir}/sftp/deep/er`;
  await shared.mkdirp(dir);
  await shared.mkdirp(dir); // existing: fine
  const st = await shared.stat(dir);
  assert.equal(st.isDirectory, true);

  const script = `${dir}/job.sh`;
  await shared.writeFile(script, '#!/bin/sh\necho "from script $1"\n', 0o755);
  const sst = await shared.stat(script);
  assert.equal(sst.isFile, true);
  assert.equal(sst.mode & 0o777, 0o755);
  const ran = await shared.exec([script, 'x y']);
  assert.equal(ran.stdout, 'from script x y\n');

  // Mode is applied to an existing file too.
  await shared.writeFile(script, 'echo\n', 0o600);
  assert.equal((await shared.stat(script)).mode & 0o777, 0o600);

  const bytes = Buffer.from(Array.from({ length: 70_000 }, (_, i) => (i * 7) & 0xff));
  await shared.writeFile(`${dir}/data.bin`, bytes);
  assert.ok((await shared.readFile(`${dir}/data.bin`)).equals(bytes));

  const home = await shared.homeDir();
  const rel = dir.slice(home.length + 1);
  assert.equal((await shared.readFile(`~/${rel}/data.bin`)).length, bytes.length);
  assert.equal((await shared.stat('~')).isDirectory, true);

  await assert.rejects(shared.readFile(`${dir}/missing`), (err) => isNoSuchFile(err));
  await rejectsWithKind(shared.mkdirp(`${dir}/data.bin/sub`), 'sftp');
});

test('many concurrent execs share one connection', async () => {
  await withProxy(async (proxy, cfg) => {
    const s = session(cfg);
    const results = await Promise.all(
      Array.from({ length: 10 }, (_, i) => s.exec(['sh', '-c', `sleep 0.2; echo ${i}`])),
    );
    assert.deepEqual(
      results.map((r) => r.stdout),
      Array.from({ length: 10 }, (_, i) => `${i}\n`),
    );
    // More than the channel limit: they queue, and all complete.
    const many = await Promise.all(Array.from({ length: 40 }, (_, i) => s.exec(['echo', String(i)])));
    assert.ok(many.every((r, i) => r.stdout === `${i}\n`));
    assert.equal(proxy.connections, 1);
  });
});

test('timeout kills the remote command and rejects with kind timeout', async () => {
  const s = session();
  await s.connect();
  // A duration unique to this run, so pgrep cannot see another run's sleep.
  const secs = `31.${process.pid}${Date.now() % 1000}`;
  const t0 = Date.now();
  await rejectsWithKind(s.exec(['sleep', secs], { timeoutMs: 500 }), 'timeout');
  assert.ok(Date.now() - t0 < 3000);
  // The sleep was killed (OpenSSH honours the signal request).
  let alive = '';
  for (let i = 0; i < 20; i++) {
    alive = (await s.exec(['pgrep', '-u', env.user, '-f', `sleep ${secs.replace('.', '[.]')}`])).stdout;
    if (alive === '') break;
    await new Promise((r) => setTimeout(r, 100));
  }
  assert.equal(alive, '', 'remote sleep still running');
  // The connection is still usable.
  assert.equal((await s.exec(['echo', 'ok'])).stdout, 'ok\n');
});

test('host key changed: refused, message names offered and known fingerprints', async () => {
  const keyPath = join(local, 'other_host_key');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', keyPath]);
  const other = readFileSync(keyPath + '.pub', 'utf8').split(' ').slice(0, 2).join(' ');
  const otherFp = execFileSync('ssh-keygen', ['-lf', keyPath + '.pub'], { encoding: 'utf8' }).split(' ')[1] as string;
  const kh = knownHostsFor('kh-changed', [`[${env.host}]:${env.port} ${other}`]);
  const s = session({ knownHostsFile: kh });
  const err = await rejectsWithKind(s.connect(), 'host-key-changed');
  assert.ok(err.message.includes(env.hostKeyFingerprint), err.message);
  assert.ok(err.message.includes(otherFp), err.message);
  assert.ok(err.message.includes(`ssh-keygen -R '[${env.host}]:${env.port}'`), err.message);
  assert.ok(err.message.includes('"test"'), 'names the cluster');
  assert.equal(err.fingerprint, env.hostKeyFingerprint);
  assert.equal(s.state, 'failed');
  assert.equal(s.lastError, err.message);
  // exec reports the same refusal.
  await rejectsWithKind(s.exec(['true']), 'host-key-changed');
});

test('host key unknown: empty or missing known_hosts, or entry for another port', async () => {
  for (const kh of [
    knownHostsFor('kh-empty', []),
    join(local, 'kh-missing'),
    knownHostsFor('kh-port22', [`${env.host} ${realHostKey()}`]),
  ]) {
    const err = await rejectsWithKind(session({ knownHostsFile: kh }).connect(), 'host-key-unknown');
    assert.ok(err.message.includes(env.hostKeyFingerprint), err.message);
    assert.ok(err.message.includes('ssh-keyscan -p'), err.message);
  }
});

test('host key revoked: refused even when also listed as valid', async () => {
  const kh = knownHostsFor('kh-revoked', [`@revoked * ${realHostKey()}`, `[${env.host}]:${env.port} ${realHostKey()}`]);
  const err = await rejectsWithKind(session({ knownHostsFile: kh }).connect(), 'host-key-revoked');
  assert.ok(err.message.includes(env.hostKeyFingerprint));
});

test('hashed known_hosts entry is accepted', async () => {
  const kh = knownHostsFor('kh-hashed', [`[${env.host}]:${env.port} ${realHostKey()}`]);
  execFileSync('ssh-keygen', ['-H', '-f', kh], { stdio: 'pipe' });
  assert.match(readFileSync(kh, 'utf8'), /^\|1\|/);
  const s = session({ knownHostsFile: kh });
  assert.equal((await s.exec(['echo', 'hashed'])).stdout, 'hashed\n');
});

test('wrong port: kind connect', async () => {
  const port = await freePort();
  const s = session({ port });
  const err = await rejectsWithKind(s.connect(), 'connect');
  assert.match(err.message, /ECONNREFUSED/);
  assert.equal(s.state, 'failed');
});

test('unauthorized key: kind auth; unreadable or encrypted identity: kind identity', async () => {
  const stranger = join(local, 'stranger');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', stranger]);
  await rejectsWithKind(session({ identityFile: stranger }).connect(), 'auth');

  const missing = await rejectsWithKind(session({ identityFile: join(local, 'nope') }).connect(), 'identity');
  assert.match(missing.message, /ENOENT/);

  const locked = join(local, 'locked');
  execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret phrase', '-f', locked]);
  const enc = await rejectsWithKind(session({ identityFile: locked }).connect(), 'identity');
  assert.match(enc.message, /passphrase/);

  await rejectsWithKind(session({ identityFile: stranger + '.pub' }).connect(), 'identity');
});

test('agents are asked in order and one that cannot be reached is skipped (a stale SSH_AUTH_SOCK; on Windows the OpenSSH pipe, then Pageant)', async () => {
  // A real ssh-agent holding the cluster key, started for this test and killed after it.
  const out = execFileSync('ssh-agent', ['-s', '-a', join(local, 'agent.sock')], { encoding: 'utf8' });
  const pid = Number(/SSH_AGENT_PID=(\d+)/.exec(out)?.[1]);
  assert.ok(pid > 0, out);
  try {
    const sock = join(local, 'agent.sock');
    execFileSync('ssh-add', ['-q', env.identityFile], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: 'ignore' });
    const stale = join(local, 'gone.sock'); // nothing listens there
    const s = session({ identityFile: null, identityFiles: [], agents: [stale, sock], kbdInteractiveAuth: false, passwordAuth: false });
    await s.connect();
    assert.equal((await s.exec(['echo', 'via agent'])).stdout, 'via agent\n');
    await s.close();
    // With only the unreachable agent the login fails as an authentication failure that names it.
    const err = await rejectsWithKind(session({ identityFile: null, identityFiles: [], agents: [stale], kbdInteractiveAuth: false, passwordAuth: false }).connect(), 'auth');
    assert.match(err.message, /gone\.sock/);
  } finally {
    process.kill(pid, 'SIGTERM');
  }
});

test('server that never sends a banner: kind timeout, no crash from the second error', async () => {
  const held: Socket[] = [];
  const silent = createServer((sock) => held.push(sock));
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  try {
    const port = (silent.address() as AddressInfo).port;
    const s = session({ port }, { readyTimeoutMs: 300 });
    await rejectsWithKind(s.connect(), 'timeout');
    assert.equal(s.state, 'failed');
    // Give ssh2 time for its follow-up "Connection lost before handshake".
    await new Promise((r) => setTimeout(r, 300));
    for (const h of held) h.destroy();
    await new Promise((r) => setTimeout(r, 100));
  } finally {
    for (const h of held) h.destroy();
    await new Promise<void>((r) => silent.close(() => r()));
  }
});

test('dropped connection: state goes disconnected, next exec reconnects', async () => {
  await withProxy(async (proxy, cfg) => {
    const s = session(cfg);
    assert.equal((await s.exec(['echo', '1'])).stdout, '1\n');
    assert.equal((await s.readFile(`${remoteDir}/sftp/deep/er/data.bin`)).length, 70_000);
    const running = s.exec(['sleep', '5']);
    await new Promise((r) => setTimeout(r, 200));
    proxy.cut();
    await rejectsWithKind(running, 'closed');
    await waitForState(s, 'disconnected');
    assert.ok(s.lastError);
    // Lazily reconnects; SFTP is reopened on the new connection.
    assert.equal((await s.exec(['echo', '2'])).stdout, '2\n');
    assert.equal(s.state, 'ready');
    assert.equal((await s.readFile(`${remoteDir}/sftp/deep/er/data.bin`)).length, 70_000);
    assert.equal(proxy.connections, 2);
  });
});

test('hung server: keepalive timeout drops the connection, then it recovers', async () => {
  await withProxy(async (proxy, cfg) => {
    const s = session(cfg, { keepaliveIntervalMs: 200, keepaliveCountMax: 2 });
    await s.connect();
    proxy.freeze(true);
    const pending = s.exec(['echo', 'never']);
    await rejectsWithKind(pending, 'closed');
    await waitForState(s, 'disconnected');
    assert.match(s.lastError ?? '', /Keepalive timeout/);
    proxy.freeze(false);
    assert.equal((await s.exec(['echo', 'back'])).stdout, 'back\n');
  });
});

test('close() during a connect attempt aborts it', async () => {
  // 0 ms: still reading the key files; later: mid-handshake.
  for (const delay of [0, 5, 30]) {
    const s = session();
    const attempt = s.connect();
    await new Promise((r) => setTimeout(r, delay));
    await s.close();
    await rejectsWithKind(attempt, 'closed');
    assert.equal(s.state, 'disconnected');
    await rejectsWithKind(s.connect(), 'closed');
  }
});

test('concurrent callers during a failing connect share one attempt', async () => {
  await withProxy(async (proxy, cfg) => {
    const s = session({ ...cfg, knownHostsFile: knownHostsFor('kh-empty2', []) });
    const all = await Promise.allSettled(Array.from({ length: 5 }, () => s.exec(['true'])));
    assert.ok(all.every((r) => r.status === 'rejected' && (r.reason as SshError).kind === 'host-key-unknown'));
    assert.equal(proxy.connections, 1);
  });
});
