// A cluster defined only by an ssh config alias whose ProxyJump goes through
// the jump host of test/cluster/extra-sshd.sh; and the connection rationing
// (backoff, per-minute cap) against a server that drops every connection.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ClustersAdd, ClustersTest, ErrorCode } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { countLines, loadExtraEnv, startPromptApp, type ExtraEnv, type PromptApp } from './sshPromptHarness';

let env: ClusterEnv;
let extra: ExtraEnv;
let dir = '';
const apps: PromptApp[] = [];

async function app(ssh: Parameters<typeof startPromptApp>[0] = {}): Promise<PromptApp> {
  const a = await startPromptApp(ssh);
  apps.push(a);
  return a;
}

before(() => {
  env = loadClusterEnv();
  extra = loadExtraEnv();
  dir = mkdtempSync(join(tmpdir(), 'ssh-jump-'));
});

after(async () => {
  await Promise.all(apps.map((a) => a.close()));
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function rejects(p: Promise<unknown>): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, String(err));
    return err;
  }
  assert.fail('expected a rejection');
}

test('a cluster given only as an ssh config alias with ProxyJump connects through the jump host', async () => {
  const config = join(dir, 'config');
  writeFileSync(
    config,
    [
      '# the way a user would write it',
      'Host jump',
      '  HostName 127.0.0.1',
      `  Port ${extra.jumpPort}`,
      `  User ${env.user}`,
      `  IdentityFile ${env.identityFile}`,
      `  UserKnownHostsFile ${extra.extraKnownHosts}`,
      '',
      'Host slurm-*',
      '  ProxyJump jump',
      '  ServerAliveInterval 5',
      '',
      'Host slurm-test',
      `  HostName ${env.host}`,
      `  Port ${env.port}`,
      `  User ${env.user}`,
      `  IdentityFile ${env.identityFile}`,
      `  UserKnownHostsFile ${env.knownHostsFile}`,
      '',
      'Host *',
      '  IdentityAgent none',
      '  User nobody-by-default',
      '',
    ].join('\n'),
  );
  const a = await app();
  const info = await a.client.request(ClustersAdd, { name: 'viajump', sshAlias: 'slurm-test', sshConfigFile: config });
  assert.equal(info.host, null);
  assert.equal(info.sshAlias, 'slurm-test');
  const forwardsBefore = countLines(extra.jumpLog, new RegExp(`server_request_direct_tcpip: .*target ${env.host.replace(/\./g, '\\.')} port ${env.port}$`));
  const loginsBefore = countLines(extra.jumpLog, /Accepted publickey for hpcuser/);
  const r = await a.client.request(ClustersTest, { name: 'viajump' });
  assert.equal(r.remoteUser, env.user);
  assert.equal(r.hostKeyFingerprint, env.hostKeyFingerprint);
  assert.equal(a.prompts.length, 0, 'nothing to ask: both host keys are known');
  // The jump host logged one login and one forwarded connection to the cluster's sshd.
  assert.equal(countLines(extra.jumpLog, /Accepted publickey for hpcuser/), loginsBefore + 1);
  assert.equal(countLines(extra.jumpLog, new RegExp(`server_request_direct_tcpip: .*target ${env.host.replace(/\./g, '\\.')} port ${env.port}$`)), forwardsBefore + 1);
  assert.equal(a.app.connections.state('viajump').status, 'ready');
  const budget = a.app.connections.budget('viajump');
  assert.equal(budget.connectionsLastMinute, 1);
  assert.ok(budget.commandsLastMinute >= 2, 'clusters/test ran its commands');
});

test('inline ProxyJump user@host:port; explicit settings override the alias; the hop host key is checked too', async () => {
  const config = join(dir, 'config-inline');
  writeFileSync(config, [`Host hpc`, `  HostName wrong.invalid`, `  Port 1`, `  ProxyJump ${env.user}@127.0.0.1:${extra.jumpPort}`, `Host *`, `  IdentityAgent none`, ''].join('\n'));
  // One known_hosts with the cluster's and the jump host's keys: the hop has no UserKnownHostsFile of its own.
  const both = join(dir, 'kh-both');
  writeFileSync(both, readFileSync(env.knownHostsFile, 'utf8') + readFileSync(extra.extraKnownHosts, 'utf8'));
  const a = await app();
  await a.client.request(ClustersAdd, {
    name: 'inline',
    sshAlias: 'hpc',
    sshConfigFile: config,
    host: env.host,
    port: env.port,
    user: env.user,
    identityFile: env.identityFile,
    knownHostsFile: both,
  });
  const r = await a.client.request(ClustersTest, { name: 'inline' });
  assert.equal(r.remoteUser, env.user);

  // The same, with a known_hosts that lacks the jump host: its key is unknown, the person refuses.
  const onlyCluster = join(dir, 'kh-cluster-only');
  writeFileSync(onlyCluster, readFileSync(env.knownHostsFile, 'utf8'));
  await a.client.request(ClustersAdd, {
    name: 'inline2',
    sshAlias: 'hpc',
    sshConfigFile: config,
    host: env.host,
    port: env.port,
    user: env.user,
    identityFile: env.identityFile,
    knownHostsFile: onlyCluster,
  });
  a.answer = () => ({ outcome: 'cancelled' });
  const err = await rejects(a.client.request(ClustersTest, { name: 'inline2' }));
  assert.equal(err.code, ErrorCode.HostKeyUnknown);
  assert.match(err.message, /jump host/);
  assert.equal(a.prompts.length, 1);
  assert.equal(a.prompts[0]!.kind, 'host-key');
  assert.equal(a.prompts[0]!.hostKey?.port, extra.jumpPort);
  assert.equal(a.app.connections.state('inline2').status, 'failed');
});

/** Accepts TCP connections and drops them at once: a server that is down in a way backoff must absorb. */
class Dropper {
  server: Server;
  connections = 0;
  port = 0;
  constructor() {
    this.server = createServer((s: Socket) => {
      this.connections++;
      s.destroy();
    });
  }
  async listen(): Promise<void> {
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    this.port = (this.server.address() as AddressInfo).port;
  }
  close(): Promise<void> {
    return new Promise((r) => this.server.close(() => r()));
  }
}

test('backoff and the per-minute cap: 20 hammering calls open at most 2 connections', async () => {
  const dropper = new Dropper();
  await dropper.listen();
  try {
    // No jitter: the backoff after the first failure ends at once, so the cap is what stops the third attempt.
    const a = await app({ ssh: { random: () => 0 } });
    const cluster = await a.client.request(ClustersAdd, {
      name: 'flaky',
      host: '127.0.0.1',
      port: dropper.port,
      user: env.user,
      identityFile: env.identityFile,
      knownHostsFile: env.knownHostsFile,
      sshConfigFile: join(dir, 'no-config'),
    });
    const record = a.app.clusters.get(cluster.name);
    const states: string[] = [];
    a.app.connections.onStateChange((name, st) => name === 'flaky' && states.push(st.status));
    const started = Date.now();
    const results = [];
    for (let i = 0; i < 10; i++) results.push(await a.app.connections.session(record).then(() => null, (e: unknown) => e as RpcError));
    results.push(...(await Promise.all(Array.from({ length: 10 }, () => a.app.connections.session(record, { background: true }).then(() => null, (e: unknown) => e as RpcError)))));
    assert.ok(Date.now() - started < 5000, 'refusals are immediate');
    assert.equal(dropper.connections, 2);
    assert.ok(results.every((r) => r instanceof RpcError && r.code === ErrorCode.SshConnectFailed));
    const refused = results.filter((r) => /next attempt allowed at/.test(r!.message));
    assert.ok(refused.length >= 18, `${refused.length} calls were refused without connecting`);
    const st = a.app.connections.state('flaky');
    assert.equal(st.status, 'backoff');
    assert.ok(st.retryAt !== null);
    const wait = Date.parse(st.retryAt) - Date.now();
    assert.ok(wait > 50_000 && wait <= 60_000, `the cap frees a slot a minute after the first attempt (in ${wait} ms)`);
    assert.match(st.message ?? '', /connectionsPerMinute 2/);
    assert.ok(states.includes('connecting') && states.includes('backoff'));
    assert.deepEqual(a.app.connections.budget('flaky'), { commandsLastMinute: 0, connectionsLastMinute: 2, connectionsPerMinuteCap: 2 });
  } finally {
    await dropper.close();
  }
});

test('exponential backoff: after a failure, calls before retryAt are refused at once with the time', async () => {
  const dropper = new Dropper();
  await dropper.listen();
  try {
    const a = await app({ ssh: { random: () => 1, backoffBaseMs: 800, connectionsPerMinute: 10 } });
    await a.client.request(ClustersAdd, {
      name: 'flaky2',
      host: '127.0.0.1',
      port: dropper.port,
      user: env.user,
      identityFile: env.identityFile,
      knownHostsFile: env.knownHostsFile,
      sshConfigFile: join(dir, 'no-config'),
    });
    const record = a.app.clusters.get('flaky2');
    const first = await rejects(a.app.connections.session(record));
    assert.match(first.message, /closed by the server during login|Connection lost before handshake/);
    const st1 = a.app.connections.state('flaky2');
    assert.equal(st1.status, 'backoff');
    const d1 = Date.parse(st1.retryAt!) - Date.now();
    assert.ok(d1 > 500 && d1 <= 800, `first backoff ~0.8 s (${d1} ms)`);
    const early = await rejects(a.app.connections.session(record));
    assert.match(early.message, /next attempt allowed at/);
    assert.equal(dropper.connections, 1);
    await new Promise((r) => setTimeout(r, d1 + 50));
    await rejects(a.app.connections.session(record));
    assert.equal(dropper.connections, 2);
    const d2 = Date.parse(a.app.connections.state('flaky2').retryAt!) - Date.now();
    assert.ok(d2 > 1300 && d2 <= 1600, `second backoff doubled to ~1.6 s (${d2} ms)`);
  } finally {
    await dropper.close();
  }
});
