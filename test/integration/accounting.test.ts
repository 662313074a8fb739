// clusters/accounting against the real cluster over real SSH through the built
// daemon: the accounts the test user may charge and the QOS they may use, as
// the cluster's own sacctmgr (run here, where the test cluster lives) says;
// and clusters/disconnect, which the editor's Disconnect action sends.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { connectToRunningDaemon, type ConnectedDaemon } from '../../daemon/client';
import { ClustersAccounting, ClustersDisconnect, ClustersList, ClustersTest, ErrorCode } from '../../daemon/protocol';
import { statePaths } from '../../daemon/state';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { CliHarness } from './cliHarness';

const h = new CliHarness({ prefix: 'slurm-ml-acct-' });
let d: ConnectedDaemon;
let env: ClusterEnv;

before(async () => {
  env = loadClusterEnv();
  h.open();
  await h.addLocalCluster(env);
  const c = await connectToRunningDaemon({ paths: statePaths(h.env()), clientName: 'accounting-test' });
  assert.ok(c, 'the CLI left its daemon running');
  d = c;
});

after(async () => {
  d?.rpc.close('done');
  await h.close();
});

const sacctmgr = (...args: string[]) =>
  execFileSync('sacctmgr', ['--noheader', '--parsable2', ...args], { encoding: 'utf8' })
    .split('\n')
    .filter(Boolean)
    .map((l) => l.split('|'));

test('clusters/accounting: the user\'s accounts (default marked) and the QOS their associations allow, with limits', async () => {
  const r = await d.rpc.request(ClustersAccounting, { name: 'local' }, { timeoutMs: 60_000 });
  assert.equal(r.cluster, 'local');
  assert.equal(r.user, env.user);
  assert.equal(r.available, true, r.message ?? '');
  const assoc = sacctmgr('show', 'associations', 'where', `user=${env.user}`, 'format=Account,QOS');
  assert.deepEqual(r.accounts.map((a) => a.name).sort(), [...new Set(assoc.map((a) => a[0]))].sort());
  const def = sacctmgr('show', 'user', env.user, 'format=DefaultAccount')[0]![0];
  assert.deepEqual(r.accounts.filter((a) => a.isDefault).map((a) => a.name), [def]);
  if (env.account) assert.ok(r.accounts.some((a) => a.name === env.account));
  const allowed = new Set(assoc.flatMap((a) => a[1]!.split(',').filter(Boolean)));
  assert.deepEqual(r.qos.map((q) => q.name).sort(), [...allowed].sort());
  for (const q of env.qos) assert.ok(r.qos.some((x) => x.name === q), `QOS ${q} is offered`);
  // The test cluster's `high` QOS has MaxWall 00:10:00.
  const walls = new Map(sacctmgr('show', 'qos', 'format=Name,MaxWall').map(([n, w]) => [n, w]));
  for (const q of r.qos) assert.equal(q.maxWallSeconds === null, !walls.get(q.name), `${q.name}: MaxWall ${walls.get(q.name)}`);
  assert.ok(r.qos.some((q) => q.maxWallSeconds !== null && q.maxWallSeconds > 0));
  await assert.rejects(d.rpc.request(ClustersAccounting, { name: 'nowhere' }), (e: { code?: number }) => e.code === ErrorCode.NotFound);
});

test('clusters/disconnect closes the session; the next command connects again', async () => {
  await d.rpc.request(ClustersTest, { name: 'local' }, { timeoutMs: 60_000 });
  const status = async () => (await d.rpc.request(ClustersList, {})).clusters.find((c) => c.name === 'local')!.connection.status;
  assert.equal(await status(), 'ready');
  assert.deepEqual(await d.rpc.request(ClustersDisconnect, { name: 'local' }), { name: 'local', wasConnected: true });
  assert.equal(await status(), 'disconnected');
  assert.deepEqual(await d.rpc.request(ClustersDisconnect, { name: 'local' }), { name: 'local', wasConnected: false });
  const again = await d.rpc.request(ClustersTest, { name: 'local' }, { timeoutMs: 60_000 });
  assert.equal(again.remoteUser, env.user);
  assert.equal(await status(), 'ready');
  await assert.rejects(d.rpc.request(ClustersDisconnect, { name: 'nowhere' }), (e: { code?: number }) => e.code === ErrorCode.NotFound);
});
