// The real built daemon (dist/daemon.js, `npm run build` first) over a real
// WebSocket on 127.0.0.1, and the CLI that manages it. No cluster, no SSH
// server: everything here is about the daemon process and its front door.
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer, connect as netConnect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { endianness, hostname, networkInterfaces } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import { ErrorCode, PROTOCOL_VERSION } from '../../daemon/protocol';
import { isProcessAlive } from '../../daemon/state';
import { adoptDaemonPid, cliScript, exited, freshStateDir, killAllDaemons, spawnDaemon, startDaemon } from './daemonProcess';
import type { RunningDaemon } from './daemonProcess';

after(killAllDaemons);

// ------------------------------------------------------------------ helpers

interface Response {
  jsonrpc: '2.0';
  id: number | string | null;
  result?: unknown;
  error?: { code: number; message: string; data?: { correlationId?: string; field?: string } };
}

/** A client that can send what a well-behaved client never would. */
class RawClient {
  private readonly inbox: Response[] = [];
  private readonly waiters: (() => void)[] = [];
  private nextId = 1;
  closed: Promise<number>;

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as Response;
      // Notifications are not what these tests wait for.
      if (!('id' in msg)) return;
      this.inbox.push(msg);
      for (const w of this.waiters.splice(0)) w();
    });
    this.closed = new Promise((r) => ws.once('close', (code) => r(code)));
  }

  static async open(port: number, token: string, headers: Record<string, string> = {}): Promise<RawClient> {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers: { Authorization: `Bearer ${token}`, ...headers }, handshakeTimeout: 3000 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    ws.on('error', () => {
      /* seen as 'close' */
    });
    return new RawClient(ws);
  }

  static async initialized(d: RunningDaemon): Promise<RawClient> {
    const c = await RawClient.open(d.port, d.token);
    const init = await c.request('initialize', { protocolVersion: PROTOCOL_VERSION, clientName: 'daemon.test' });
    assert.equal(init.error, undefined, JSON.stringify(init.error));
    return c;
  }

  /** The next message answering `id` (null: one the daemon could not attribute to a request). */
  async take(id: number | string | null, timeoutMs = 3000): Promise<Response> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const i = this.inbox.findIndex((m) => m.id === id);
      if (i >= 0) return this.inbox.splice(i, 1)[0]!;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no answer with id ${String(id)} within ${timeoutMs} ms`);
      await new Promise<void>((r) => {
        const t = setTimeout(r, left);
        this.waiters.push(() => {
          clearTimeout(t);
          r();
        });
      });
    }
  }

  request(method: string, params?: unknown): Promise<Response> {
    const id = this.nextId++;
    this.ws.send(JSON.stringify({ jsonrpc: '2.0', id, method, params }));
    return this.take(id);
  }

  async result<T = Record<string, unknown>>(method: string, params?: unknown): Promise<T> {
    const r = await this.request(method, params);
    assert.equal(r.error, undefined, `${method} failed: ${JSON.stringify(r.error)}`);
    return r.result as T;
  }

  close(): void {
    this.ws.terminate();
  }
}

/** The HTTP status the daemon answers a WebSocket upgrade with (101 when it accepts). */
function upgradeStatus(port: number, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(`ws://127.0.0.1:${port}/`, { headers, handshakeTimeout: 3000 });
    ws.on('error', reject);
    ws.once('open', () => {
      ws.terminate();
      resolve(101);
    });
    ws.once('unexpected-response', (req, res) => {
      resolve(res.statusCode ?? 0);
      req.destroy();
    });
  });
}

interface LogLine {
  time: string;
  level: string;
  msg: string;
  [k: string]: unknown;
}

/** The daemon's log from a byte offset on; every line must be JSON (asserted). */
function logLines(file: string, fromByte = 0): LogLine[] {
  const text = readFileSync(file).subarray(fromByte).toString('utf8');
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        assert.fail(`log line is not JSON: ${l}`);
      }
    });
}

const logSize = (file: string) => statSync(file).size;

async function waitFor<T>(what: string, f: () => T | undefined | false, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = f();
    if (v !== undefined && v !== false) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

const mode = (p: string) => statSync(p).mode & 0o777;

/** Live (non-zombie) daemon processes whose SLURM_ML_STATE_DIR is `stateDir`. */
function daemonPidsFor(stateDir: string): number[] {
  const pids: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmdline = readFileSync(`/proc/${name}/cmdline`, 'utf8');
      if (!cmdline.includes('daemon.js')) continue;
      const environ = readFileSync(`/proc/${name}/environ`, 'utf8').split('\0');
      if (environ.includes(`SLURM_ML_STATE_DIR=${stateDir}`) && isProcessAlive(Number(name))) pids.push(Number(name));
    } catch {
      /* gone meanwhile, or not ours */
    }
  }
  return pids;
}

function runCli(args: string[], stateDir: string): Promise<{ code: number; stdout: string; stderr: string }> {
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_ML_STATE_DIR: stateDir };
  delete env.SLURM_ML_PORT;
  delete env.SLURM_ML_LOG_LEVEL;
  return new Promise((resolve, reject) => {
    execFile(process.execPath, [cliScript, ...args], { env, timeout: 15_000 }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') return reject(err);
      resolve({ code: typeof err?.code === 'number' ? err.code : 0, stdout, stderr });
    });
  });
}

/** A local port nothing listens on. */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** IPv4 address as /proc/net/tcp writes it: the 32-bit value in host byte order, hex. */
function procHex(ip: string): string {
  const b = ip.split('.').map(Number);
  const bytes = endianness() === 'LE' ? b.reverse() : b;
  return bytes.map((x) => x.toString(16).padStart(2, '0')).join('').toUpperCase();
}

// -------------------------------------------------------------------- tests

test('the daemon listens on 127.0.0.1 only', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());

  let checked = 0;
  if (existsSync('/proc/net/tcp')) {
    // Every listening socket on the daemon's port, IPv4 and IPv6: exactly one, on loopback.
    const portHex = d.port.toString(16).toUpperCase().padStart(4, '0');
    const listening: string[] = [];
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      if (!existsSync(table)) continue;
      for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
        const f = line.trim().split(/\s+/);
        if (f.length < 4 || f[3] !== '0A') continue; // 0A = LISTEN
        const [addr, port] = f[1]!.split(':');
        if (port === portHex) listening.push(`${table}:${addr}`);
      }
    }
    assert.deepEqual(listening, [`/proc/net/tcp:${procHex('127.0.0.1')}`]);
    checked++;
  }

  // And from the outside: the machine's other addresses must not answer on that port.
  const others = Object.values(networkInterfaces())
    .flat()
    .filter((a) => a && !a.internal && a.family === 'IPv4')
    .map((a) => a!.address);
  for (const address of others) {
    const outcome = await new Promise<string>((resolve) => {
      const s = netConnect({ host: address, port: d.port, timeout: 2000 });
      s.once('connect', () => {
        s.destroy();
        resolve('connected');
      });
      s.once('timeout', () => {
        s.destroy();
        resolve('timeout');
      });
      s.once('error', (err: NodeJS.ErrnoException) => resolve(err.code ?? 'error'));
    });
    assert.notEqual(outcome, 'connected', `the daemon's port answers on ${address}`);
    checked++;
  }
  assert.ok(checked > 0, 'neither /proc/net/tcp nor a non-loopback address to check against');
});

test('state file, state dir and registry are private to the user', async (t) => {
  // A state dir that already exists with loose permissions must be tightened, not trusted.
  const stateDir = freshStateDir();
  mkdirSync(stateDir);
  chmodSync(stateDir, 0o755);
  const d = await startDaemon({ stateDir });
  t.after(() => d.kill());

  assert.equal(mode(stateDir).toString(8), '700');
  assert.equal(mode(d.stateFile).toString(8), '600');
  const state = JSON.parse(readFileSync(d.stateFile, 'utf8')) as Record<string, unknown>;
  assert.equal(state.pid, d.pid);
  assert.equal(typeof state.port, 'number');
  assert.ok((state.port as number) > 0);
  assert.equal(typeof state.token, 'string');
  assert.ok((state.token as string).length >= 32, `token too short: ${String(state.token).length} chars`);
  assert.equal(state.protocolVersion, PROTOCOL_VERSION);

  // The registry (and SQLite's side files) and the lock: nothing for group or other.
  const c = await RawClient.initialized(d);
  t.after(() => c.close());
  const status = await c.result<{ database: string }>('daemon/status', {});
  assert.equal(status.database, join(stateDir, 'registry.db'));
  assert.ok(existsSync(status.database));
  for (const f of readdirSync(stateDir)) {
    assert.equal(mode(join(stateDir, f)) & 0o077, 0, `${f} is accessible to group/other (mode ${mode(join(stateDir, f)).toString(8)})`);
  }
});

test('connections need the token and may not come from a foreign origin', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  const auth = { Authorization: `Bearer ${d.token}` };

  assert.equal(await upgradeStatus(d.port, {}), 401, 'no token');
  assert.equal(await upgradeStatus(d.port, { Authorization: `Bearer ${'0'.repeat(d.token.length)}` }), 401, 'wrong token');
  assert.equal(await upgradeStatus(d.port, { Authorization: `Bearer ${d.token.slice(0, -1)}` }), 401, 'truncated token');
  assert.equal(await upgradeStatus(d.port, { Authorization: d.token }), 401, 'token without "Bearer"');
  assert.equal(await upgradeStatus(d.port, auth), 101, 'right token');

  for (const origin of ['https://evil.example', 'http://localhost:3000', 'null', 'http://127.0.0.1']) {
    assert.equal(await upgradeStatus(d.port, { ...auth, Origin: origin }), 403, `origin ${origin}`);
  }
  assert.equal(await upgradeStatus(d.port, { ...auth, Origin: 'vscode-webview://1a2b3c4d5e' }), 101, 'VS Code webview origin');

  // Accepted means served: the webview-origin connection answers requests.
  const c = await RawClient.open(d.port, d.token, { Origin: 'vscode-webview://1a2b3c4d5e' });
  t.after(() => c.close());
  assert.equal((await c.request('initialize', { protocolVersion: PROTOCOL_VERSION, clientName: 'webview' })).error, undefined);
  assert.equal((await c.result<{ pid: number }>('daemon/status', {})).pid, d.pid);

  // The refusals are in the log, saying why.
  const refused = logLines(d.logFile).filter((l) => l.msg === 'connection refused');
  assert.equal(refused.length, 4 + 4);
});

test('bad messages get error answers and the connection keeps serving', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  const c = await RawClient.open(d.port, d.token);
  t.after(() => c.close());

  const alive = async () => assert.equal((await c.result<{ pid: number }>('daemon/status', {})).pid, d.pid);

  const early = await c.request('daemon/status', {});
  assert.equal(early.error?.code, ErrorCode.ServerNotInitialized);
  assert.equal((await c.request('initialize', { protocolVersion: PROTOCOL_VERSION, clientName: 'daemon.test' })).error, undefined);
  await alive();

  c.ws.send('{"jsonrpc":"2.0","id":7,"method":');
  const notJson = await c.take(null);
  assert.equal(notJson.error?.code, ErrorCode.ParseError);
  await alive();

  const unknown = await c.request('clusters/explode', {});
  assert.equal(unknown.error?.code, ErrorCode.MethodNotFound);
  assert.match(unknown.error!.message, /clusters\/explode/);
  await alive();

  const badPort = await c.request('clusters/add', { name: 'c1', host: 'login.example', port: '22', user: 'alice', identityFile: '/home/alice/.ssh/id_ed25519' });
  assert.equal(badPort.error?.code, ErrorCode.InvalidParams);
  assert.ok(badPort.error!.message.startsWith('params.port'), badPort.error!.message);
  assert.equal(badPort.error!.data?.field, 'params.port');
  // Nothing was registered by the rejected request.
  assert.deepEqual((await c.result<{ clusters: unknown[] }>('clusters/list', {})).clusters, []);

  c.ws.send(Buffer.from('{"jsonrpc":"2.0","id":8,"method":"daemon/status","params":{}}'), { binary: true });
  const binary = await c.take(null);
  assert.ok(binary.error, 'a binary frame gets an error');
  assert.equal(binary.error.code, ErrorCode.ParseError);
  await alive();

  const batch = await (c.ws.send('[{"jsonrpc":"2.0","id":9,"method":"daemon/status"}]'), c.take(null));
  assert.equal(batch.error?.code, ErrorCode.InvalidRequest);
  await alive();

  // The daemon never hung up on us.
  assert.equal(c.ws.readyState, WebSocket.OPEN);
});

test('a second daemon on the same state dir exits 3 and leaves the first alone', async (t) => {
  const first = await startDaemon();
  t.after(() => first.kill());
  const stateBefore = readFileSync(first.stateFile, 'utf8');

  const { child } = spawnDaemon(first.stateDir);
  t.after(() => child.kill('SIGKILL'));
  let timer: NodeJS.Timeout | undefined;
  const code = await Promise.race([exited(child), new Promise((r) => (timer = setTimeout(() => r('still running after 10 s'), 10_000)))]);
  clearTimeout(timer);
  assert.equal(code, 3);

  assert.equal(readFileSync(first.stateFile, 'utf8'), stateBefore, 'the state file was replaced');
  const lock = JSON.parse(readFileSync(join(first.stateDir, 'daemon.lock'), 'utf8')) as { pid: number; host: string };
  assert.deepEqual([lock.pid, lock.host], [first.pid, hostname()], 'the lock still names the first daemon and its host');
  const c = await RawClient.initialized(first);
  t.after(() => c.close());
  assert.equal((await c.result<{ pid: number }>('daemon/status', {})).pid, first.pid);
  assert.ok(
    logLines(first.logFile).some((l) => l.msg === 'not starting: another daemon runs' && l.otherPid === first.pid),
    'the second daemon says why it did not start',
  );
});

test('SIGTERM stops the daemon cleanly and its log is structured', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  const c = await RawClient.initialized(d);
  await c.result('daemon/status', {});
  const failed = await c.request('clusters/remove', { name: 'nope' });
  assert.equal(failed.error?.code, ErrorCode.NotFound);

  const started = Date.now();
  assert.equal(await d.stop(5000), 0);
  assert.ok(Date.now() - started < 5000);
  // A client still connected is told, not left hanging.
  assert.equal(typeof (await c.closed), 'number');
  assert.equal(existsSync(d.stateFile), false, 'state file left behind');
  assert.equal(existsSync(join(d.stateDir, 'daemon.lock')), false, 'lock file left behind');

  const lines = logLines(d.logFile);
  for (const l of lines) {
    assert.equal(typeof l.time, 'string', JSON.stringify(l));
    assert.ok(!Number.isNaN(Date.parse(l.time)), JSON.stringify(l));
    assert.ok(['debug', 'info', 'warn', 'error'].includes(l.level), JSON.stringify(l));
    assert.equal(typeof l.msg, 'string', JSON.stringify(l));
  }
  const msgs = lines.map((l) => l.msg);
  assert.ok(msgs.includes('shutting down'), msgs.join(' | '));
  assert.ok(msgs.indexOf('stopped') > msgs.indexOf('shutting down'), msgs.join(' | '));

  const requests = lines.filter((l) => l.msg === 'request' || l.msg === 'request failed');
  assert.ok(requests.length >= 3, `expected a line per request, got ${requests.length}`);
  for (const l of requests) assert.match(String(l.cid), /^[0-9a-f]{8,}$/, JSON.stringify(l));
  // The correlation id a client is given leads to the request's log line.
  const cid = failed.error!.data?.correlationId;
  assert.ok(cid, 'the error carries a correlation id');
  const line = requests.find((l) => l.cid === cid);
  assert.equal(line?.method, 'clusters/remove');
  assert.equal(line?.outcome, 'error');
});

test('daemon/setLogLevel changes what the log shows', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  const c = await RawClient.initialized(d);
  t.after(() => c.close());

  // Something that logs at debug level without a cluster: an SSH attempt to a port nothing listens on.
  const keys = join(d.stateDir, '..', 'keys');
  mkdirSync(keys, { mode: 0o700 });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1', privateKeyEncoding: { type: 'sec1', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  writeFileSync(join(keys, 'id'), privateKey, { mode: 0o600 });
  writeFileSync(join(keys, 'known_hosts'), '', { mode: 0o600 });
  await c.result('clusters/add', { name: 'nowhere', host: '127.0.0.1', port: await closedPort(), user: 'alice', identityFile: join(keys, 'id'), knownHostsFile: join(keys, 'known_hosts') });
  const tryCluster = async () => {
    const r = await c.request('clusters/test', { name: 'nowhere' });
    assert.equal(r.error?.code, ErrorCode.SshConnectFailed, JSON.stringify(r));
  };

  let from = logSize(d.logFile);
  await tryCluster();
  assert.deepEqual(logLines(d.logFile, from).filter((l) => l.level === 'debug'), [], 'debug lines at level info');

  assert.deepEqual(await c.result('daemon/setLogLevel', { level: 'debug' }), { level: 'debug' });
  from = logSize(d.logFile);
  await tryCluster();
  const debug = logLines(d.logFile, from).filter((l) => l.level === 'debug');
  assert.ok(debug.length > 0, 'no debug lines at level debug');

  assert.deepEqual(await c.result('daemon/setLogLevel', { level: 'warn' }), { level: 'warn' });
  from = logSize(d.logFile);
  assert.equal((await c.result<{ logLevel: string }>('daemon/status', {})).logLevel, 'warn');
  await c.result('clusters/list', {});
  await tryCluster();
  const after = logLines(d.logFile, from);
  assert.deepEqual(after.filter((l) => l.level === 'info' || l.level === 'debug'), [], 'info/debug lines at level warn');
  // Still logging, just less: the failed SSH attempt is a warning.
  assert.ok(after.some((l) => l.level === 'warn'), 'no warning lines at level warn');
});

test('the CLI starts, reports and stops the daemon', async (t) => {
  const stateDir = freshStateDir();
  t.after(() => daemonPidsFor(stateDir).forEach(adoptDaemonPid));

  const none = await runCli(['daemon', 'status', '--json'], stateDir);
  assert.equal(none.code, 1, none.stderr);
  assert.equal((JSON.parse(none.stdout) as { running: boolean }).running, false);

  const start = await runCli(['daemon', 'start', '--json'], stateDir);
  assert.equal(start.code, 0, start.stderr);
  const started = JSON.parse(start.stdout) as { running: boolean; pid: number; port: number; protocolVersion: number; stateFile: string };
  adoptDaemonPid(started.pid);
  assert.equal(started.running, true);
  assert.ok(isProcessAlive(started.pid));
  assert.ok(started.port > 0);
  assert.equal(started.protocolVersion, PROTOCOL_VERSION);
  assert.equal(started.stateFile, join(stateDir, 'daemon.json'));
  assert.ok(existsSync(started.stateFile));
  // The CLI sends the daemon's output to a log in the state dir, private like the rest.
  const logFile = join(stateDir, 'daemon.log');
  assert.equal(mode(logFile) & 0o077, 0, `log mode ${mode(logFile).toString(8)}`);
  assert.ok(logLines(logFile).some((l) => l.msg === 'listening' && l.port === started.port));

  const status = await runCli(['daemon', 'status', '--json'], stateDir);
  assert.equal(status.code, 0, status.stderr);
  const s = JSON.parse(status.stdout) as { running: boolean; pid: number; port: number };
  assert.equal(s.running, true);
  assert.equal(s.pid, started.pid);
  assert.equal(s.port, started.port);

  const stop = await runCli(['daemon', 'stop'], stateDir);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal(isProcessAlive(started.pid), false, 'daemon still running after `daemon stop`');
  assert.equal(existsSync(started.stateFile), false, 'state file left behind');

  const after = await runCli(['daemon', 'status', '--json'], stateDir);
  assert.equal(after.code, 1);
});

test('two concurrent `daemon start` end with exactly one daemon', async (t) => {
  const stateDir = freshStateDir();
  t.after(() => daemonPidsFor(stateDir).forEach(adoptDaemonPid));

  const [a, b] = await Promise.all([runCli(['daemon', 'start', '--json'], stateDir), runCli(['daemon', 'start', '--json'], stateDir)]);
  assert.equal(a.code, 0, a.stderr);
  assert.equal(b.code, 0, b.stderr);
  const pa = (JSON.parse(a.stdout) as { pid: number }).pid;
  const pb = (JSON.parse(b.stdout) as { pid: number }).pid;
  adoptDaemonPid(pa);
  adoptDaemonPid(pb);
  assert.equal(pa, pb, 'the two starts report different daemons');
  // A daemon that lost the race exits by itself; wait for that, then count.
  const pids = await waitFor('a single daemon process', () => {
    const p = daemonPidsFor(stateDir);
    return p.length === 1 ? p : undefined;
  }).catch(() => daemonPidsFor(stateDir));
  assert.deepEqual(pids, [pa]);

  const stop = await runCli(['daemon', 'stop', '--json'], stateDir);
  assert.equal(stop.code, 0, stop.stderr);
  assert.deepEqual(daemonPidsFor(stateDir), []);
});
