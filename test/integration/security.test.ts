// Security, as an attacker or an auditor would check it, against the real
// built daemon (dist/daemon.js) and the real cluster. Complements
// daemon.test.ts (loopback only, token, foreign Origins, file modes),
// ssh.test.ts and sshPrompt.test.ts (changed and unknown host keys refused),
// templates.test.ts and templatesInjection.test.ts (template values cannot
// inject shell) — not repeated here:
//
// - the front door refuses the token anywhere but the Authorization header,
//   and Origins that only look like a webview's;
// - after a whole session that used a password, a one-time code (TOTP, a
//   PAM sshd of this file's own on 127.0.0.1:2225 with
//   pam_google_authenticator), a key passphrase and the token, none of them
//   is in any file the daemon wrote (log, SQLite and its WAL, caches), in any
//   encoding a log would use; every such file is private (0600/0700);
// - outputs cannot escape their directory on the real cluster: an artifact
//   that is a symlink to ~/.ssh, or a path with `..`, is refused before
//   anything is downloaded.
//
// Needs test/cluster/up.sh and test/cluster/extra-sshd.sh (the PAM sshd's
// user and password, the passphrase key). The one-time-code server needs
// libpam-google-authenticator, which up.sh installs.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHmac, randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import WebSocket from 'ws';
import { connectToRunningDaemon, type SshPromptParams, type SshPromptResult } from '../../daemon/client';
import { statePaths } from '../../daemon/state';
import { ClustersAdd, ClustersTest, ErrorCode, JobsGet, JobsList, JobsSubmit, LogsTail, type JobInfo } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { openDatabase } from '../../daemon/db/database';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { ModelStore } from '../../daemon/db/models';
import { ClusterConnections } from '../../daemon/connections';
import { LocalRunner } from '../../daemon/models/tryLocal';
import { createLogger, memorySink } from '../../daemon/log';
import { SshSession } from '../../daemon/ssh/session';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { killAllDaemons, startDaemon } from './daemonProcess';
import { loadExtraEnv, type ExtraEnv } from './sshPromptHarness';

after(killAllDaemons);

let env: ClusterEnv;
let extra: ExtraEnv;
let work = '';

before(() => {
  env = loadClusterEnv();
  extra = loadExtraEnv();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-security-'));
});

after(() => {
  otp?.stop();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

// ------------------------------------------------------------------ the front door

function upgradeStatus(url: string, headers: Record<string, string>, protocols?: string[]): Promise<number> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, protocols, { headers, handshakeTimeout: 3000 });
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

test('the token counts only in the Authorization header, and only Origins that are VS Code webviews pass', async (t) => {
  const d = await startDaemon();
  t.after(() => d.kill());
  const url = `ws://127.0.0.1:${d.port}/`;
  const auth = { Authorization: `Bearer ${d.token}` };

  assert.equal(await upgradeStatus(`${url}?token=${d.token}`, {}), 401, 'token in the query string');
  assert.equal(await upgradeStatus(`${url}${d.token}`, {}), 401, 'token in the path');
  assert.equal(await upgradeStatus(url, {}, [d.token]), 401, 'token as a WebSocket subprotocol');
  assert.equal(await upgradeStatus(url, { Cookie: `token=${d.token}` }), 401, 'token in a cookie');
  assert.equal(await upgradeStatus(url, { Authorization: `Basic ${Buffer.from(`x:${d.token}`).toString('base64')}` }), 401, 'token as Basic credentials');
  assert.equal(await upgradeStatus(url, { Authorization: `Bearer ${d.token} ${d.token}` }), 401, 'two tokens');
  assert.equal(await upgradeStatus(url, { Authorization: `Bearer ${d.token}x` }), 401, 'a longer token');
  assert.equal(await upgradeStatus(url, auth), 101, 'the right header');

  for (const origin of [
    'vscode-webview://abc@evil.example',
    'vscode-webview://abc/../../evil',
    'vscode-webview://abc:443',
    'vscode-webview://',
    'vscode-webview-evil://abc',
    'https://vscode-webview.evil.example',
    'file://',
    'chrome-extension://abcdefghijklmnop',
    'http://127.0.0.1:' + d.port,
  ]) {
    assert.equal(await upgradeStatus(url, { ...auth, Origin: origin }), 403, `origin ${origin}`);
  }

  // Plain HTTP learns nothing: no token, no version, no state.
  const res = await fetch(`http://127.0.0.1:${d.port}/`, { headers: auth });
  const body = await res.text();
  assert.equal(res.status, 426);
  assert.ok(!body.includes(d.token) && !body.includes(String(d.pid)), body);
  // Nor on IPv6 loopback: the daemon is not there.
  const v6 = await fetch(`http://[::1]:${d.port}/`).then(
    () => 'answered',
    (err: Error & { cause?: { code?: string } }) => err.cause?.code ?? 'error',
  );
  assert.notEqual(v6, 'answered', 'the daemon answers on [::1]');
});

// ------------------------------------------------------------------ a one-time-code sshd of our own

/** RFC 6238 TOTP (SHA-1, 6 digits, 30 s), as pam_google_authenticator checks it. */
function totp(base32: string, at = Date.now()): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const c of base32.replace(/=+$/, '')) bits += alphabet.indexOf(c).toString(2).padStart(5, '0');
  const key = Buffer.from(bits.match(/.{8}/g)!.map((b) => parseInt(b, 2)));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(at / 1000 / 30)));
  const h = createHmac('sha1', key).update(counter).digest();
  const o = h[h.length - 1]! & 0xf;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

const OTP_PORT = Number(process.env.SLURM_ML_TEST_OTP_PORT ?? 2225);
const PAM_MODULE = ['/lib/x86_64-linux-gnu/security/pam_google_authenticator.so', '/usr/lib/x86_64-linux-gnu/security/pam_google_authenticator.so', '/lib/security/pam_google_authenticator.so'].find((p) => fs.existsSync(p));

/**
 * sshd on 127.0.0.1:OTP_PORT asking the PAM user's password, then a
 * "Verification code" (TOTP). sshd names its PAM service after its program
 * name, so it runs through a symlink with a name of its own and a PAM file of
 * that name, removed again at the end.
 */
class OtpSshd {
  readonly dir = path.join(work, 'otp-sshd');
  readonly secret = 'JBSWY3DPEHPK3PXP' + Buffer.from(randomUUID()).toString('hex').slice(0, 16).toUpperCase().replace(/[^A-Z2-7]/g, 'A');
  readonly service = `sshd-slurmml-otp-${process.pid}`;
  readonly pamFile = `/etc/pam.d/${this.service}`;
  readonly knownHosts = path.join(this.dir, 'known_hosts');
  private pid = 0;

  start(): void {
    fs.mkdirSync(this.dir, { recursive: true });
    const key = path.join(this.dir, 'hostkey');
    const run = (cmd: string, args: string[]) => {
      const r = spawnSync(cmd, args, { encoding: 'utf8' });
      if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr}`);
      return r.stdout;
    };
    run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    const [type, blob] = fs.readFileSync(`${key}.pub`, 'utf8').split(/\s+/);
    fs.writeFileSync(this.knownHosts, `[127.0.0.1]:${OTP_PORT} ${type} ${blob}\n`);
    const secretFile = path.join(this.dir, `otp-${extra.kbdUser}`);
    fs.writeFileSync(secretFile, `${this.secret}\n" TOTP_AUTH\n" WINDOW_SIZE 3\n`, { mode: 0o600 });
    fs.writeFileSync(
      this.pamFile,
      [
        '# slurm-ml security test (test/integration/security.test.ts): password, then a one-time code',
        'auth required pam_unix.so',
        `auth required ${PAM_MODULE} secret=${this.dir}/otp-\${USER} user=root`,
        'account required pam_unix.so',
        'session required pam_permit.so',
        '',
      ].join('\n'),
    );
    const exe = path.join(this.dir, this.service);
    fs.symlinkSync('/usr/sbin/sshd', exe);
    const config = path.join(this.dir, 'sshd_config');
    fs.writeFileSync(
      config,
      [
        `Port ${OTP_PORT}`,
        'ListenAddress 127.0.0.1',
        `HostKey ${key}`,
        `PidFile ${this.dir}/sshd.pid`,
        'PubkeyAuthentication no',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication yes',
        'UsePAM yes',
        'PermitRootLogin no',
        `AllowUsers ${extra.kbdUser}`,
        'PrintMotd no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
    );
    fs.mkdirSync('/run/sshd', { recursive: true });
    run(exe, ['-f', config, '-E', path.join(this.dir, 'sshd.log')]);
    const deadline = Date.now() + 10_000;
    while (!fs.existsSync(`${this.dir}/sshd.pid`)) {
      if (Date.now() > deadline) throw new Error(`the one-time-code sshd did not start: ${fs.readFileSync(path.join(this.dir, 'sshd.log'), 'utf8')}`);
      spawnSync('sleep', ['0.05']);
    }
    this.pid = Number(fs.readFileSync(`${this.dir}/sshd.pid`, 'utf8'));
  }

  stop(): void {
    if (this.pid) {
      try {
        process.kill(this.pid, 'SIGTERM');
      } catch {
        /* gone */
      }
    }
    fs.rmSync(this.pamFile, { force: true });
  }
}

let otp: OtpSshd | undefined;

// ------------------------------------------------------------------ secrets

/** The forms a secret could take in a log or a database: as is, JSON-escaped, base64, hex, UTF-16. */
function forms(secret: string): Buffer[] {
  return [
    Buffer.from(secret),
    Buffer.from(JSON.stringify(secret).slice(1, -1)),
    Buffer.from(Buffer.from(secret).toString('base64').replace(/=+$/, '')),
    Buffer.from(Buffer.from(secret).toString('hex')),
    Buffer.from(secret, 'utf16le'),
  ];
}

function filesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of fs.readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(p, ...filesUnder(p));
    else out.push(p);
  }
  return out;
}

test('after a session that used a password, a one-time code, a passphrase and the token, none of them is in any file the daemon wrote', { timeout: 180_000 }, async (t) => {
  // Debug level: the most the daemon ever writes.
  const d = await startDaemon({ env: { SLURM_ML_LOG_LEVEL: 'debug' } });
  t.after(() => d.kill());
  const noAgent = path.join(work, 'ssh_config');
  fs.writeFileSync(noAgent, 'Host *\n  IdentityAgent none\n');
  const passwordOnly = path.join(work, 'ssh_config_password');
  fs.writeFileSync(passwordOnly, 'Host *\n  IdentityAgent none\n  KbdInteractiveAuthentication no\n');

  const secrets: Record<string, string> = { password: extra.kbdPassword, passphrase: extra.passphrase, token: d.token };
  const wrong = { password: `wrong-${randomUUID()}`, passphrase: `wrong-${randomUUID()}` };
  secrets['wrong password'] = wrong.password;
  secrets['wrong passphrase'] = wrong.passphrase;
  const asked: SshPromptParams[] = [];
  let wrongOnce = new Set<string>(['pw', 'pp']);
  const prompt = async (req: SshPromptParams): Promise<SshPromptResult> => {
    asked.push(req);
    const firstTry = wrongOnce.delete(req.cluster);
    if (req.kind === 'passphrase') return { outcome: 'answered', answers: [firstTry ? wrong.passphrase : extra.passphrase] };
    const answers = req.prompts.map((p) => {
      if (/verification code/i.test(p.prompt)) {
        const code = totp(otp!.secret);
        secrets[`one-time code ${asked.length}`] = code;
        return code;
      }
      return firstTry ? wrong.password : extra.kbdPassword;
    });
    return { outcome: 'answered', answers };
  };
  const c = await connectToRunningDaemon({ paths: statePaths({ SLURM_ML_STATE_DIR: d.stateDir }), clientName: 'security.test', prompt, requestTimeoutMs: 60_000 });
  assert.ok(c, 'connected');
  t.after(() => c.rpc.close());
  const rpc = c.rpc;

  // Password (a wrong one first: refused answers are secrets too).
  await rpc.request(ClustersAdd, { name: 'pw', host: '127.0.0.1', port: extra.kbdPort, user: extra.kbdUser, knownHostsFile: extra.extraKnownHosts, sshConfigFile: passwordOnly });
  await assert.rejects(rpc.request(ClustersTest, { name: 'pw' }), (e: RpcError) => e.code === ErrorCode.SshAuthFailed);
  assert.equal((await rpc.request(ClustersTest, { name: 'pw' })).remoteUser, extra.kbdUser);

  // Password and one-time code over keyboard-interactive.
  assert.ok(PAM_MODULE, 'pam_google_authenticator.so is not installed: run test/cluster/up.sh (it installs libpam-google-authenticator)');
  {
    otp = new OtpSshd();
    otp.start();
    await rpc.request(ClustersAdd, { name: 'otp', host: '127.0.0.1', port: OTP_PORT, user: extra.kbdUser, knownHostsFile: otp.knownHosts, sshConfigFile: noAgent });
    assert.equal((await rpc.request(ClustersTest, { name: 'otp' })).remoteUser, extra.kbdUser);
    assert.ok(
      asked.some((a) => a.cluster === 'otp' && a.prompts.some((p) => /verification code/i.test(p.prompt))),
      `the one-time code was asked: ${JSON.stringify(asked.filter((a) => a.cluster === 'otp'))}`,
    );
  }

  // A passphrase-protected key on the real cluster, a wrong passphrase first; then a job through it, its log followed.
  await rpc.request(ClustersAdd, { name: 'pp', host: env.host, port: env.port, user: env.user, identityFile: extra.passphraseIdentity, knownHostsFile: env.knownHostsFile, sshConfigFile: noAgent });
  assert.equal((await rpc.request(ClustersTest, { name: 'pp' })).remoteUser, env.user);
  assert.ok(asked.filter((a) => a.kind === 'passphrase').length >= 2, 'the wrong passphrase was given, then the right one');
  const job = await rpc.request(JobsSubmit, { cluster: 'pp', script: '#!/bin/bash\necho "security test job"\n', scriptName: 'security.sh', sbatchArgs: ['--time=1'] });
  const deadline = Date.now() + 90_000;
  let ended: JobInfo = job;
  while (!ended.terminal) {
    assert.ok(Date.now() < deadline, `job ${job.slurmJobId} did not end within 90 s (${ended.state})`);
    await new Promise((r) => setTimeout(r, 1000));
    ended = await rpc.request(JobsGet, { ref: job.id });
  }
  assert.equal(ended.state, 'COMPLETED');
  await rpc.request(LogsTail, { ref: job.id, stream: 'stdout' });
  await rpc.request(JobsList, {});
  rpc.close();

  // While it runs (SQLite's WAL and shared memory are there), and again after a clean stop.
  const check = (when: string) => {
    const files = filesUnder(d.stateDir);
    const written = files.filter((f) => fs.statSync(f).isFile() && f !== d.stateFile);
    assert.ok(written.some((f) => f.endsWith('registry.db')) && written.some((f) => f.endsWith('daemon.log')), `the log and the registry are there: ${written.join(', ')}`);
    t.diagnostic(`${when}: searched ${written.length} files (${written.map((f) => path.relative(d.stateDir, f)).join(', ')}) for ${Object.keys(secrets).length} secrets in ${forms('x').length} encodings`);
    for (const f of written) {
      const bytes = fs.readFileSync(f);
      const text = bytes.toString('latin1');
      for (const [what, secret] of Object.entries(secrets)) {
        // A 6-digit code as is could be part of any longer number: only a number of its own counts.
        if (/^\d+$/.test(secret)) assert.doesNotMatch(text, new RegExp(`(?<![0-9])${secret}(?![0-9])`), `the ${what} is in ${f} (${when})`);
        for (const form of forms(secret).slice(/^\d+$/.test(secret) ? 2 : 0)) assert.equal(bytes.indexOf(form), -1, `the ${what} is in ${f} (${when})`);
      }
    }
    for (const f of files) {
      const mode = fs.statSync(f).mode;
      assert.equal(mode & 0o077, 0, `${path.relative(d.stateDir, f)} is open to group/other (${(mode & 0o777).toString(8)}, ${when})`);
    }
  };
  // What is searched is what a leak would be in: the log names the session's logins and prompts.
  const logText = fs.readFileSync(d.logFile, 'utf8');
  for (const seen of ['"otp"', '"pp"', '"pw"', 'keyboard-interactive', 'passphrase']) assert.ok(logText.includes(seen), `the debug log mentions ${seen}`);
  check('running');
  // The token is only in daemon.json, which nobody else can read.
  assert.ok(fs.readFileSync(d.stateFile, 'utf8').includes(d.token));
  assert.equal(await d.stop(), 0);
  check('stopped');
});

// ------------------------------------------------------------------ outputs stay in their directory

test('an artifact that leaves its directory (a symlink to ~/.ssh, a path with ..) is refused before any download', { timeout: 60_000 }, async (t) => {
  const ssh = new SshSession({ name: 'security', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  const remote = `${await ssh.homeDir()}/.slurm-ml/test-security-${randomUUID()}`;
  t.after(async () => {
    await ssh.exec(['rm', '-rf', '--', remote]).catch(() => undefined);
    await ssh.close();
  });
  // A job's artifact directory holding a link to the user's authorized_keys, named like a model.
  await ssh.mkdirp(`${remote}/linked`);
  const target = `${await ssh.homeDir()}/.ssh/authorized_keys`;
  const ln = await ssh.exec(['ln', '-s', '--', target, `${remote}/linked/model.onnx`]);
  assert.equal(ln.code, 0, ln.stderr);
  const size = (await ssh.stat(`${remote}/linked/model.onnx`)).size;

  const db = openDatabase(':memory:');
  const clusters = new ClusterStore(db);
  const jobs = new JobStore(db);
  const models = new ModelStore(db);
  const cluster = clusters.add({ name: 'local', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  const register = (model: string, artifactPath: string, file: string) => {
    const job = jobs.create({ clusterId: cluster.id, name: `train-${model}`, script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [], kind: 'train', modelName: model });
    models.registerVersion({ model, clusterId: cluster.id, artifactPath, artifacts: [{ path: file, size }], metrics: {}, trainingJobId: job.id, gitCommit: null, tags: {} });
  };
  register('linked', `${remote}/linked`, `${remote}/linked/model.onnx`);
  register('dotdot', `${remote}/linked`, `${remote}/linked/../../../.ssh/model.onnx`);
  register('elsewhere', `${remote}/linked`, `${await ssh.homeDir()}/.ssh/model.onnx`);
  const log = createLogger(memorySink('warn'));
  const connections = new ClusterConnections(log, { sshConfigFile: path.join(work, 'no-ssh-config') });
  const cacheDir = path.join(work, 'cache');
  const runner = new LocalRunner({ models, clusters, connections, cacheDir, log });
  t.after(async () => {
    await runner.close();
    await connections.closeAll();
    db.close();
  });

  await assert.rejects(runner.run('linked', [[1]]), (e: RpcError) => e.code === ErrorCode.Conflict && /resolves to .*authorized_keys, outside the version's artifact directory/.test(e.message));
  for (const m of ['dotdot', 'elsewhere']) {
    await assert.rejects(runner.run(m, [[1]]), (e: RpcError) => e.code === ErrorCode.Conflict && /not inside the version's artifact directory/.test(e.message), m);
  }
  const cached = fs.existsSync(cacheDir) ? filesUnder(cacheDir).filter((f) => fs.statSync(f).isFile()) : [];
  assert.deepEqual(cached, [], 'nothing was downloaded');
});
