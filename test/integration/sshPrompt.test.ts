// Login prompts answered by a client over the protocol: keyboard-interactive
// and password through PAM (test/cluster/extra-sshd.sh, 127.0.0.1:2224), an
// unknown host key, and a passphrase-protected key.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClustersAdd, ClustersTest, ErrorCode } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { countLines, loadExtraEnv, startPromptApp, type ExtraEnv, type PromptApp } from './sshPromptHarness';

let env: ClusterEnv;
let extra: ExtraEnv;
let dir = '';
let noAgent = ''; // an ssh config that keeps the machine's own ~/.ssh/config and agent out
const apps: PromptApp[] = [];

async function app(opts: Parameters<typeof startPromptApp>[0] = {}): Promise<PromptApp> {
  const a = await startPromptApp(opts);
  apps.push(a);
  return a;
}

async function rejects(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

const failedAttempts = () => countLines(extra.kbdLog, new RegExp(`Failed (keyboard-interactive/pam|password) for ${extra.kbdUser}`));

before(() => {
  env = loadClusterEnv();
  extra = loadExtraEnv();
  dir = mkdtempSync(join(tmpdir(), 'ssh-prompt-'));
  noAgent = join(dir, 'config');
  writeFileSync(noAgent, 'Host *\n  IdentityAgent none\n');
});

after(async () => {
  await Promise.all(apps.map((a) => a.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

function kbdCluster(name: string, config = noAgent) {
  return { name, host: '127.0.0.1', port: extra.kbdPort, user: extra.kbdUser, knownHostsFile: extra.extraKnownHosts, sshConfigFile: config };
}

test('keyboard-interactive: the prompt goes to the client, the answer logs in; nothing secret is logged', async () => {
  const a = await app();
  await a.client.request(ClustersAdd, kbdCluster('kbd'));
  a.answer = (req) => ({ outcome: 'answered', answers: req.prompts.map(() => extra.kbdPassword) });
  const r = await a.client.request(ClustersTest, { name: 'kbd' });
  assert.equal(r.remoteUser, extra.kbdUser);
  assert.equal(a.prompts.length, 1);
  const p = a.prompts[0]!;
  assert.equal(p.cluster, 'kbd');
  assert.equal(p.kind, 'keyboard-interactive');
  assert.equal(p.prompts.length, 1);
  assert.match(p.prompts[0]!.prompt, /Password/);
  assert.equal(p.prompts[0]!.echo, false);
  assert.equal(a.app.connections.state('kbd').status, 'ready');
  assert.ok(!a.logLines.some((l) => l.includes(extra.kbdPassword)), 'the password is not in the daemon log');
});

test('a wrong answer fails once with a clear message, no retry storm; background work does not retry; a person does', async () => {
  const a = await app();
  await a.client.request(ClustersAdd, kbdCluster('kbd-wrong'));
  a.answer = (req) => ({ outcome: 'answered', answers: req.prompts.map(() => 'not-the-password') });
  const before = failedAttempts();
  const err = await rejects(a.client.request(ClustersTest, { name: 'kbd-wrong' }));
  assert.equal(err.code, ErrorCode.SshAuthFailed);
  assert.match(err.message, /did not accept the answers to its keyboard-interactive prompts/);
  assert.equal(a.prompts.length, 1, 'asked once: no password prompt after the keyboard-interactive one failed');
  const st = a.app.connections.state('kbd-wrong');
  assert.equal(st.status, 'failed');
  assert.equal(st.retryAt, null);
  // The poller's kind of call is refused without connecting.
  const record = a.app.clusters.get('kbd-wrong');
  const bg = await rejects(a.app.connections.session(record, { background: true }));
  assert.match(bg.message, /not retried automatically/);
  await new Promise((r) => setTimeout(r, 300)); // let sshd write its log
  assert.equal(failedAttempts(), before + 1, 'exactly one failed attempt reached sshd');
  assert.equal(a.prompts.length, 1);
  // A person's next request retries (and asks again).
  a.answer = (req) => ({ outcome: 'answered', answers: req.prompts.map(() => extra.kbdPassword) });
  const r = await a.client.request(ClustersTest, { name: 'kbd-wrong' });
  assert.equal(r.remoteUser, extra.kbdUser);
  assert.equal(a.prompts.length, 2);
});

test('password authentication (KbdInteractiveAuthentication no in the ssh config); cancel fails without an attempt', async () => {
  const config = join(dir, 'config-password');
  writeFileSync(config, 'Host *\n  IdentityAgent none\n  KbdInteractiveAuthentication no\n');
  const a = await app();
  await a.client.request(ClustersAdd, kbdCluster('pw', config));
  a.answer = () => ({ outcome: 'answered', answers: [extra.kbdPassword] });
  const r = await a.client.request(ClustersTest, { name: 'pw' });
  assert.equal(r.remoteUser, extra.kbdUser);
  assert.deepEqual(
    a.prompts.map((p) => [p.kind, p.prompts.length, p.prompts[0]?.echo]),
    [['password', 1, false]],
  );

  await a.client.request(ClustersAdd, kbdCluster('pw-cancel', config));
  a.answer = () => ({ outcome: 'cancelled' });
  const before = failedAttempts();
  const err = await rejects(a.client.request(ClustersTest, { name: 'pw-cancel' }));
  assert.equal(err.code, ErrorCode.SshAuthFailed);
  assert.match(err.message, /cancelled/);
  assert.equal(a.app.connections.state('pw-cancel').status, 'failed');
  await new Promise((r) => setTimeout(r, 200));
  assert.equal(failedAttempts(), before);
});

test('no client can answer: waiting-for-user with a message, and background calls do not retry', async () => {
  const a = await app({ prompts: false });
  await a.client.request(ClustersAdd, kbdCluster('nobody'));
  const err = await rejects(a.client.request(ClustersTest, { name: 'nobody' }));
  assert.equal(err.code, ErrorCode.SshAuthFailed);
  assert.match(err.message, /needs answers to keyboard-interactive prompts, but nobody was asked: no connected client can ask you/);
  const st = a.app.connections.state('nobody');
  assert.equal(st.status, 'waiting-for-user');
  assert.match(st.message ?? '', /keyboard-interactive/);
  const bg = await rejects(a.app.connections.session(a.app.clusters.get('nobody'), { background: true }));
  assert.match(bg.message, /waiting for a client that can ask you/);
  assert.equal(a.app.connections.budget('nobody').connectionsLastMinute, 1);
});

test('unknown host key: asked with the fingerprint; accepted keys are written to known_hosts and not asked again', async () => {
  const a = await app();
  const kh = join(dir, 'new-dir', 'known_hosts'); // neither exists yet
  await a.client.request(ClustersAdd, { name: 'hk', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: kh, sshConfigFile: noAgent });
  a.answer = (req) => (req.kind === 'host-key' && req.hostKey?.fingerprint === env.hostKeyFingerprint ? { outcome: 'accepted' } : { outcome: 'cancelled' });
  const r = await a.client.request(ClustersTest, { name: 'hk' });
  assert.equal(r.hostKeyFingerprint, env.hostKeyFingerprint);
  assert.equal(a.prompts.length, 1);
  assert.deepEqual(a.prompts[0]!.hostKey, { host: env.host, port: env.port, keyType: 'ssh-ed25519', fingerprint: env.hostKeyFingerprint });
  const line = readFileSync(kh, 'utf8').trim();
  const [, type, blob] = readFileSync(env.knownHostsFile, 'utf8').trim().split(/\s+/);
  assert.equal(line, `[${env.host}]:${env.port} ${type} ${blob}`);
  assert.equal(statSync(kh).mode & 0o777, 0o600);
  assert.equal(statSync(join(dir, 'new-dir')).mode & 0o777, 0o700);
  // A new connection finds the key: nothing asked.
  await a.app.connections.disconnect('hk');
  await a.client.request(ClustersTest, { name: 'hk' });
  assert.equal(a.prompts.length, 1);
});

test('unknown host key rejected: refused, nothing written; a changed key is refused without asking', async () => {
  const a = await app();
  const kh = join(dir, 'kh-reject');
  await a.client.request(ClustersAdd, { name: 'hk-no', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: kh, sshConfigFile: noAgent });
  a.answer = () => ({ outcome: 'cancelled' });
  const err = await rejects(a.client.request(ClustersTest, { name: 'hk-no' }));
  assert.equal(err.code, ErrorCode.HostKeyUnknown);
  assert.match(err.message, /did not accept/);
  assert.equal(err.data?.fingerprint, env.hostKeyFingerprint);
  assert.equal(existsSync(kh), false);
  assert.equal(a.app.connections.state('hk-no').status, 'failed');

  const changed = join(dir, 'kh-changed');
  // Another ed25519 key (the jump host's) listed for the cluster's address.
  const jumpKey = readFileSync(extra.extraKnownHosts, 'utf8').split('\n')[0]!.split(/\s+/).slice(1).join(' ');
  writeFileSync(changed, `[${env.host}]:${env.port} ${jumpKey}\n`);
  await a.client.request(ClustersAdd, { name: 'hk-changed', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: changed, sshConfigFile: noAgent });
  const before = a.prompts.length;
  const err2 = await rejects(a.client.request(ClustersTest, { name: 'hk-changed' }));
  assert.equal(err2.code, ErrorCode.HostKeyChanged);
  assert.match(err2.message, /HOST KEY CHANGED/);
  assert.equal(a.prompts.length, before, 'a changed key is never offered for acceptance');
});

test('passphrase-protected key: asked for the passphrase, a wrong one asked again, then it logs in', async () => {
  const a = await app();
  await a.client.request(ClustersAdd, {
    name: 'pp',
    host: env.host,
    port: env.port,
    user: env.user,
    identityFile: extra.passphraseIdentity,
    knownHostsFile: env.knownHostsFile,
    sshConfigFile: noAgent,
  });
  let n = 0;
  a.answer = (req) => {
    assert.equal(req.kind, 'passphrase');
    return { outcome: 'answered', answers: [n++ === 0 ? 'wrong passphrase' : extra.passphrase] };
  };
  const r = await a.client.request(ClustersTest, { name: 'pp' });
  assert.equal(r.remoteUser, env.user);
  assert.equal(a.prompts.length, 2);
  assert.equal(a.prompts[0]!.prompts[0]!.echo, false);
  assert.match(a.prompts[1]!.instructions ?? '', /Wrong passphrase/);
});

test('passphrase wrong three times: fails with a clear message', async () => {
  const a = await app();
  await a.client.request(ClustersAdd, {
    name: 'pp-wrong',
    host: env.host,
    port: env.port,
    user: env.user,
    identityFile: extra.passphraseIdentity,
    knownHostsFile: env.knownHostsFile,
    sshConfigFile: noAgent,
  });
  a.answer = () => ({ outcome: 'answered', answers: ['nope'] });
  const err = await rejects(a.client.request(ClustersTest, { name: 'pp-wrong' }));
  assert.equal(err.code, ErrorCode.SshAuthFailed);
  assert.match(err.message, /Wrong passphrase .* \(3 attempts\)/);
  assert.equal(a.prompts.length, 3);
  assert.equal(a.app.connections.state('pp-wrong').status, 'failed');
});
