// The protocol end to end over the in-memory transport, against the real
// handlers and a real in-memory SQLite registry.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import {
  ClustersAdd,
  ClustersList,
  ClustersRemove,
  ClustersTest,
  DaemonSetLogLevel,
  DaemonShutdown,
  DaemonStatus,
  ErrorCode,
  Health,
  Initialize,
  JobsCancel,
  JobsDidChange,
  JobsGet,
  JobsList,
  PROTOCOL_VERSION,
  allErrorCodes,
} from '../../daemon/protocol';
import { RpcConnection, RpcError } from '../../daemon/rpc/connection';
import { createMemoryTransportPair } from '../../daemon/rpc/transport';
import { toRpcError } from '../../daemon/connections';
import { SshError, type SshErrorKind } from '../../daemon/ssh/session';
import { sendRaw, startHarness, type Harness } from './harness';
import { migrations } from '../../daemon/db/migrations';

/** Error codes seen by these tests; the last test checks that every code is produced somewhere. */
const seen = new Set<number>();

async function rejectsWith(p: Promise<unknown>, code: number, match?: RegExp): Promise<RpcError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof RpcError, `expected RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `code ${err.code}: ${err.message}`);
    if (match) assert.match(err.message, match);
    seen.add(err.code);
    return err;
  }
  assert.fail(`expected error ${code}, got a result`);
}

const cluster = {
  name: 'hpc-1',
  host: 'login.example.org',
  port: 2222,
  user: 'alice',
  identityFile: '/home/alice/.ssh/id_ed25519',
  knownHostsFile: '/home/alice/.ssh/known_hosts',
};

describe('protocol over the in-memory transport', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  test('initialize answers with the protocol version and the daemon pid', async () => {
    const r = await h.client.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'again' });
    assert.equal(r.protocolVersion, PROTOCOL_VERSION);
    assert.equal(r.pid, process.pid);
  });

  test('daemon/status round trip', async () => {
    const s = await h.client.request(DaemonStatus, {});
    assert.equal(s.protocolVersion, PROTOCOL_VERSION);
    assert.equal(s.connections, 1);
    assert.equal(s.logLevel, 'debug');
  });

  test('daemon/setLogLevel changes what is logged', async () => {
    await h.client.request(DaemonSetLogLevel, { level: 'error' });
    const before = h.logLines.length;
    await h.client.request(ClustersList, {});
    assert.equal(h.logLines.length, before, 'an info line was logged at level error');
    await h.client.request(DaemonSetLogLevel, { level: 'debug' });
    await h.client.request(ClustersList, {});
    assert.ok(h.logLines.length > before);
  });

  test('every request is logged as JSON with a correlation id', async () => {
    await h.client.request(Health, {});
    const line = h.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).findLast((l: Record<string, unknown>) => l.method === 'health');
    assert.ok(line, 'no log line for health');
    assert.match(String(line.cid), /^[0-9a-f]{12}$/);
    assert.equal(line.outcome, 'ok');
    assert.equal(typeof line.ms, 'number');
  });

  test('clusters: add, list, duplicate, remove, add again', async () => {
    const added = await h.client.request(ClustersAdd, cluster);
    assert.equal(added.name, 'hpc-1');
    assert.equal(added.connection.status, 'disconnected');
    const { clusters } = await h.client.request(ClustersList, {});
    assert.deepEqual(clusters.map((c) => `${c.user}@${c.host}:${c.port}`), ['alice@login.example.org:2222']);
    await rejectsWith(h.client.request(ClustersAdd, cluster), ErrorCode.AlreadyExists, /already exists/);
    await h.client.request(ClustersRemove, { name: 'hpc-1' });
    assert.equal((await h.client.request(ClustersList, {})).clusters.length, 0);
    const again = await h.client.request(ClustersAdd, cluster);
    assert.notEqual(again.id, added.id);
  });

  test('health reports the database and each cluster', async () => {
    const r = await h.client.request(Health, {});
    assert.equal(r.database.ok, true);
    assert.equal(r.database.schemaVersion, migrations.at(-1)!.version);
    assert.deepEqual(r.clusters.map((c) => c.name), ['hpc-1']);
    assert.equal(r.poller.activeJobs, 0);
  });

  test('unknown cluster and job are NotFound', async () => {
    await rejectsWith(h.client.request(ClustersTest, { name: 'nope' }), ErrorCode.NotFound, /no cluster named "nope"/);
    await rejectsWith(h.client.request(JobsGet, { ref: '424242' }), ErrorCode.NotFound, /no job "424242"/);
    await rejectsWith(h.client.request(JobsCancel, { ref: 'deadbeef' }), ErrorCode.NotFound);
  });

  test('jobs are found by uuid, prefix, SLURM id and CLUSTER:ID; an ambiguous id is a Conflict', async () => {
    const c1 = h.app.clusters.get('hpc-1');
    const c2 = h.app.clusters.add({ ...cluster, name: 'hpc-2' });
    const mk = (clusterId: string, slurm: string) => {
      const j = h.app.jobs.create({ clusterId, name: `job ${slurm}`, script: '#!/bin/sh\ntrue\n', scriptPath: '/x/s.sh', runDir: '/x', sbatchArgs: [] });
      return h.app.jobs.update(j.id, { slurmJobId: slurm, state: 'RUNNING' })!;
    };
    const a = mk(c1.id, '77');
    const b = mk(c2.id, '77');
    const c = mk(c2.id, '78');
    assert.equal((await h.client.request(JobsGet, { ref: a.id })).id, a.id);
    assert.equal((await h.client.request(JobsGet, { ref: c.id.slice(0, 8) })).id, c.id);
    assert.equal((await h.client.request(JobsGet, { ref: '78' })).id, c.id);
    assert.equal((await h.client.request(JobsGet, { ref: 'hpc-2:77' })).id, b.id);
    await rejectsWith(h.client.request(JobsGet, { ref: '77' }), ErrorCode.Conflict, /hpc-1|several clusters/);
    const listed = await h.client.request(JobsList, { cluster: 'hpc-2', active: true });
    assert.deepEqual(listed.jobs.map((j) => j.slurmJobId).sort(), ['77', '78']);
    const ended = h.app.jobs.update(c.id, { state: 'COMPLETED', exitCode: 0 })!;
    assert.equal(ended.terminal, true);
    await rejectsWith(h.client.request(JobsCancel, { ref: c.id }), ErrorCode.Conflict, /already ended/);
    assert.deepEqual((await h.client.request(JobsList, { active: true })).jobs.map((j) => j.id).sort(), [a.id, b.id].sort());
  });

  test('params of the wrong type get InvalidParams naming the field; the daemon keeps serving', async () => {
    const r = await sendRaw(h, JSON.stringify({ jsonrpc: '2.0', id: 'p1', method: 'clusters/add', params: { ...cluster, name: 'x', port: '22' } }));
    assert.equal(r.id, 'p1');
    assert.equal(r.error.code, ErrorCode.InvalidParams);
    assert.match(r.error.message, /^params\.port: .*number/);
    assert.equal(r.error.data.field, 'params.port');
    seen.add(r.error.code);
    const e = await rejectsWith(h.client.request(ClustersAdd, { ...cluster, name: 'bad name!' }), ErrorCode.InvalidParams, /params\.name/);
    assert.equal(e.data?.field, 'params.name');
    await rejectsWith(h.client.request(ClustersAdd, { ...cluster, name: 'y', identityFile: 'relative/key' }), ErrorCode.InvalidParams, /params\.identityFile: must be an absolute path/);
    await rejectsWith(h.client.request(JobsList, { limit: 0 }), ErrorCode.InvalidParams, /params\.limit/);
    await rejectsWith(h.client.request(DaemonStatus, { extra: 1 } as never), ErrorCode.InvalidParams, /unknown field/);
    assert.equal((await h.client.request(DaemonStatus, {})).protocolVersion, PROTOCOL_VERSION);
  });

  test('a message that is not JSON gets ParseError (id null) and the daemon keeps serving', async () => {
    const r = await sendRaw(h, '{"jsonrpc": "2.0", "id": 1, "method": ');
    assert.equal(r.id, null);
    assert.equal(r.error.code, ErrorCode.ParseError);
    seen.add(r.error.code);
    assert.equal((await h.client.request(DaemonStatus, {})).pid, process.pid);
  });

  test('an unknown method gets MethodNotFound naming it', async () => {
    const r = await sendRaw(h, JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'jobs/explode', params: {} }));
    assert.equal(r.id, 9);
    assert.equal(r.error.code, ErrorCode.MethodNotFound);
    assert.match(r.error.message, /jobs\/explode/);
    seen.add(r.error.code);
  });

  test('malformed envelopes get InvalidRequest', async () => {
    for (const bad of ['[]', '42', '"x"', JSON.stringify({ jsonrpc: '1.0', id: 3, method: 'health' }), JSON.stringify({ jsonrpc: '2.0', id: {}, method: 'health' }), JSON.stringify({ jsonrpc: '2.0', id: 4 })]) {
      const r = await sendRaw(h, bad);
      assert.equal(r.error?.code, ErrorCode.InvalidRequest, `for ${bad}: ${JSON.stringify(r)}`);
      seen.add(r.error.code);
    }
  });

  test('daemon/shutdown answers, then asks the process to stop', async () => {
    const r = await h.client.request(DaemonShutdown, {});
    assert.equal(r.stopping, true);
    await new Promise((res) => setImmediate(res));
    assert.equal(h.shutdownRequests, 1);
  });

  test('a handler failure is an InternalError carrying the correlation id, logged', async () => {
    // Pull the database out from under the running daemon: the next query throws.
    h.db.close();
    const e = await rejectsWith(h.client.request(JobsList, {}), ErrorCode.InternalError, /database connection is not open/);
    assert.match(String(e.data?.correlationId), /^[0-9a-f]{12}$/);
    assert.ok(h.logLines.some((l) => l.includes(String(e.data?.correlationId)) && l.includes('"level":"error"')));
    const health = await h.client.request(Health, {});
    assert.equal(health.ok, false);
    assert.equal(health.database.ok, false);
  });
});

describe('initialize', () => {
  test('requests before initialize get ServerNotInitialized', async () => {
    const h = await startHarness({ initialize: false });
    try {
      await rejectsWith(h.client.request(DaemonStatus, {}), ErrorCode.ServerNotInitialized, /initialize/);
    } finally {
      await h.close();
    }
  });

  test('a different protocol version gets ProtocolMismatch carrying the daemon version', async () => {
    const h = await startHarness({ initialize: false });
    try {
      const e = await rejectsWith(h.client.request(Initialize, { protocolVersion: PROTOCOL_VERSION + 1, clientName: 'future' }), ErrorCode.ProtocolMismatch, /restart the daemon/);
      assert.equal(e.data?.protocolVersion, PROTOCOL_VERSION);
      await rejectsWith(h.client.request(DaemonStatus, {}), ErrorCode.ServerNotInitialized);
    } finally {
      await h.close();
    }
  });
});

describe('client side', () => {
  test('a request nobody answers times out with RequestTimeout', async () => {
    const [a] = createMemoryTransportPair();
    const c = new RpcConnection(a, { requestTimeoutMs: 30 });
    await rejectsWith(c.request(DaemonStatus, {}), ErrorCode.RequestTimeout, /no answer within/);
    c.close();
  });

  test('pending and later requests fail with ConnectionClosed when the connection closes', async () => {
    const [a] = createMemoryTransportPair();
    const c = new RpcConnection(a, { requestTimeoutMs: 5000 });
    const pending = c.request(DaemonStatus, {});
    a.close('peer went away');
    await rejectsWith(pending, ErrorCode.ConnectionClosed, /peer went away/);
    await rejectsWith(c.request(DaemonStatus, {}), ErrorCode.ConnectionClosed);
  });

  test('a result that does not match the schema is rejected, not passed on', async () => {
    const [a, b] = createMemoryTransportPair();
    const c = new RpcConnection(a);
    b.onMessage((m) => {
      const { id } = JSON.parse(m) as { id: number };
      b.send(JSON.stringify({ jsonrpc: '2.0', id, result: { pid: 'not a number' } }));
    });
    await rejectsWith(c.request(DaemonStatus, {}), ErrorCode.InternalError, /invalid answer to daemon\/status: result\./);
  });

  test('notifications are validated before listeners see them', async () => {
    const [a, b] = createMemoryTransportPair();
    const problems: string[] = [];
    const c = new RpcConnection(a, { onProtocolError: (m) => problems.push(m) });
    const got: unknown[] = [];
    c.onNotification(JobsDidChange, (p) => got.push(p));
    b.send(JSON.stringify({ jsonrpc: '2.0', method: 'jobs/didChange', params: { job: { id: 'nope' } } }));
    b.send(JSON.stringify({ jsonrpc: '2.0', method: 'something/else', params: {} }));
    await new Promise((r) => setTimeout(r, 10));
    assert.equal(got.length, 0);
    assert.equal(problems.length, 2);
    assert.match(problems[0]!, /invalid jobs\/didChange notification: params\.job\./);
  });
});

describe('SSH failures map to protocol errors naming the cluster', () => {
  const cases: [SshErrorKind, number][] = [
    ['host-key-unknown', ErrorCode.HostKeyUnknown],
    ['host-key-changed', ErrorCode.HostKeyChanged],
    ['host-key-revoked', ErrorCode.HostKeyChanged],
    ['auth', ErrorCode.SshAuthFailed],
    ['identity', ErrorCode.SshAuthFailed],
    ['timeout', ErrorCode.SshTimeout],
    ['connect', ErrorCode.SshConnectFailed],
    ['closed', ErrorCode.SshConnectFailed],
    ['sftp', ErrorCode.RemoteFileFailed],
  ];
  for (const [kind, code] of cases) {
    test(kind, () => {
      const e = toRpcError('hpc-1', new SshError(kind, 'it broke', { fingerprint: 'SHA256:abc' }));
      assert.equal(e.code, code);
      assert.match(e.message, /hpc-1/);
      assert.equal(e.data?.fingerprint, 'SHA256:abc');
      seen.add(e.code);
    });
  }
});

test('every error code in the enum is produced by a test', () => {
  // SlurmCommandFailed comes from a real sbatch refusal: see test/integration/cli.test.ts.
  const producedByIntegration = new Set<number>([ErrorCode.SlurmCommandFailed]);
  const missing = allErrorCodes.filter((c) => !seen.has(c) && !producedByIntegration.has(c));
  assert.deepEqual(missing, [], `codes no test produces: ${missing.join(', ')}`);
  assert.equal(new Set(allErrorCodes).size, allErrorCodes.length, 'error codes must be distinct');
});
