// The model registry on real SQLite: version numbering (also from several
// processes at once), references, aliases with promote/rollback and their
// append-only history, pagination, annotations and lineage.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { openDatabase, type Db } from '../../daemon/db/database';
import { ModelStore, type GateRunner } from '../../daemon/db/models';
import { ClusterStore, JobStore } from '../../daemon/db/registry';
import { runGate } from '../../daemon/models/gates';
import { AliasMove, ErrorCode, GateResult, ModelSummary, ModelVersionInfo, type Metrics } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';

interface Fixture {
  db: Db;
  store: ModelStore;
  jobs: JobStore;
  clusterId: string;
  /** A training job row (kind train), as the train workflow creates it. */
  trainJob(model: string): string;
  /** A finished training job registered as the model's next version. */
  train(model: string, metrics?: Metrics): ModelVersionInfo;
}

function fixture(file = ':memory:'): Fixture {
  const db = openDatabase(file);
  const clusters = new ClusterStore(db);
  const jobs = new JobStore(db);
  const store = new ModelStore(db);
  const cluster = clusters.add({ name: 'hpc', host: 'login.example', port: 22, user: 'u', identityFile: '/k', knownHostsFile: '/kh' });
  const trainJob = (model: string) =>
    jobs.create({ clusterId: cluster.id, name: `train-${model}`, script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [], kind: 'train', modelName: model }).id;
  const train = (model: string, metrics: Metrics = { accuracy: 0.9, latency_p95_ms: 50 }) => {
    const jobId = trainJob(model);
    return store.registerVersion({
      model,
      clusterId: cluster.id,
      artifactPath: `/home/u/.slurm-ml/runs/${jobId}/artifacts`,
      artifacts: [{ path: 'model.onnx', size: 1234 }],
      metrics,
      trainingJobId: jobId,
      gitCommit: '0123abc',
      tags: { lr: '0.1' },
    });
  };
  return { db, store, jobs, clusterId: cluster.id, trainJob, train };
}

/** Asserts f throws an RpcError with this code and a message matching re. */
function throwsRpc(f: () => unknown, code: number, re: RegExp): void {
  assert.throws(f, (err: unknown) => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    assert.match(err.message, re);
    return true;
  });
}

test('versions are numbered 1, 2, 3 per model and carry what the protocol promises', () => {
  const { store, train } = fixture();
  const v1 = train('resnet', { accuracy: 0.91, loss: 0.3 });
  const v2 = train('resnet');
  const other = train('bert');
  const v3 = train('resnet');
  assert.deepEqual([v1.version, v2.version, v3.version, other.version], [1, 2, 3, 1]);
  ModelVersionInfo.parse(v1);
  assert.equal(v1.model, 'resnet');
  assert.equal(v1.cluster, 'hpc');
  assert.deepEqual(v1.artifacts, [{ path: 'model.onnx', size: 1234 }]);
  assert.deepEqual(v1.metrics, { accuracy: 0.91, loss: 0.3 });
  assert.equal(v1.evaluation, null);
  assert.deepEqual(v1.aliases, []);
  assert.deepEqual(v1.tags, { lr: '0.1' });
  assert.equal(v1.gitCommit, '0123abc');
  assert.deepEqual(store.resolve('resnet'), v3);
});

test('registering the same training job twice returns its version, not a new one', () => {
  const { store, train, clusterId } = fixture();
  const v1 = train('resnet');
  const again = store.registerVersion({
    model: 'resnet',
    clusterId,
    artifactPath: '/elsewhere',
    artifacts: [],
    metrics: { accuracy: 0.1 },
    trainingJobId: v1.trainingJob,
    gitCommit: null,
    tags: {},
  });
  assert.deepEqual(again, v1);
  assert.equal(store.get('resnet', { offset: 0, limit: 10 }).totalVersions, 1);
  assert.equal(train('resnet').version, 2, 'the repeat used up no number');
  throwsRpc(
    () => store.registerVersion({ model: 'bert', clusterId, artifactPath: '/a', artifacts: [], metrics: {}, trainingJobId: v1.trainingJob, gitCommit: null, tags: {} }),
    ErrorCode.Conflict,
    /already registered resnet v1; it cannot also be a version of "bert"/,
  );
  assert.deepEqual(store.list({ offset: 0, limit: 10 }).models.map((m) => m.name), ['resnet'], 'the refused registration created no model');
});

test('interleaved registrations through two connections to one file get distinct, gapless numbers', () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-models-'));
  try {
    const file = path.join(dir, 'registry.db');
    const a = fixture(file);
    const b = { db: openDatabase(file) };
    const storeB = new ModelStore(b.db);
    const got: Record<string, number[]> = { m1: [], m2: [] };
    for (let i = 0; i < 20; i++) {
      const model = i % 3 === 0 ? 'm2' : 'm1';
      const store = i % 2 === 0 ? a.store : storeB;
      const jobId = a.trainJob(model);
      got[model]!.push(store.registerVersion({ model, clusterId: a.clusterId, artifactPath: '/a', artifacts: [], metrics: {}, trainingJobId: jobId, gitCommit: null, tags: {} }).version);
    }
    assert.deepEqual(got.m1, Array.from({ length: got.m1!.length }, (_, i) => i + 1));
    assert.deepEqual(got.m2, Array.from({ length: got.m2!.length }, (_, i) => i + 1));
    b.db.close();
    a.db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('three processes registering the same model at once get distinct numbers 1..N', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-models-'));
  try {
    const file = path.join(dir, 'registry.db');
    const f = fixture(file);
    const perProcess = 25;
    const startAt = Date.now() + 2500;
    const work = [0, 1, 2].map(() => ({ file, clusterId: f.clusterId, jobs: Array.from({ length: perProcess }, () => f.trainJob('shared')), startAt }));
    f.db.close();
    // Each child opens its own connection, waits for a common start, then registers as fast as it can.
    const child = `
      const load = async (p) => { const m = await import(p); return m.default ?? m; };
      const { openDatabase } = await load(${JSON.stringify(path.resolve('daemon/db/database.ts'))});
      const { ModelStore } = await load(${JSON.stringify(path.resolve('daemon/db/models.ts'))});
      const w = JSON.parse(process.env.WORK);
      const db = openDatabase(w.file);
      const store = new ModelStore(db);
      while (Date.now() < w.startAt) {}
      const versions = w.jobs.map((jobId) => store.registerVersion({
        model: 'shared', clusterId: w.clusterId, artifactPath: '/a', artifacts: [], metrics: {}, trainingJobId: jobId, gitCommit: null, tags: {},
      }).version);
      db.close();
      process.stdout.write(JSON.stringify(versions));`;
    const run = promisify(execFile);
    const outputs = await Promise.all(
      work.map((w) => run(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', child], { env: { ...process.env, WORK: JSON.stringify(w) } })),
    );
    const all = outputs.flatMap((o) => JSON.parse(o.stdout) as number[]);
    for (const o of outputs) {
      const own = JSON.parse(o.stdout) as number[];
      assert.deepEqual(own, [...own].sort((x, y) => x - y), 'each process sees its own numbers increase');
    }
    assert.deepEqual(
      [...all].sort((x, y) => x - y),
      Array.from({ length: 3 * perProcess }, (_, i) => i + 1),
    );
    const db = openDatabase(file);
    assert.equal(new ModelStore(db).resolve('shared').version, 3 * perProcess);
    db.close();
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test('references: NAME, NAME@vN, NAME@N, NAME@ALIAS; errors say what exists', () => {
  const { store, train } = fixture();
  train('resnet');
  train('resnet');
  train('resnet');
  train('bert');
  store.moveAlias({ name: 'resnet', alias: 'staging', version: 2, action: 'promote', who: 'ann', why: null, forced: false });
  assert.equal(store.resolve('resnet').version, 3);
  assert.equal(store.resolve('resnet@v1').version, 1);
  assert.equal(store.resolve('resnet@2').version, 2);
  assert.equal(store.resolve('resnet@staging').version, 2);
  assert.deepEqual(store.resolve('resnet@staging').aliases, ['staging']);
  throwsRpc(() => store.resolve('resnet@prod'), ErrorCode.NotFound, /^model "resnet" has no alias "prod"; aliases: staging$/);
  throwsRpc(() => store.resolve('bert@prod'), ErrorCode.NotFound, /^model "bert" has no alias "prod"; aliases: none$/);
  throwsRpc(() => store.resolve('resnet@v9'), ErrorCode.NotFound, /^model "resnet" has no version 9; its versions are v1 to v3$/);
  throwsRpc(() => store.resolve('resnet@0'), ErrorCode.NotFound, /no version 0/);
  throwsRpc(() => store.resolve('gpt'), ErrorCode.NotFound, /^no model "gpt"; models: bert, resnet$/);
  throwsRpc(() => store.resolve('resnet@'), ErrorCode.InvalidParams, /not a model reference/);
  throwsRpc(() => store.resolve('@prod'), ErrorCode.InvalidParams, /not a model reference/);
  store.ensureModel('empty');
  throwsRpc(() => store.resolve('empty'), ErrorCode.NotFound, /^model "empty" has no versions yet/);
  throwsRpc(() => store.resolve('empty@v1'), ErrorCode.NotFound, /^model "empty" has no versions yet/);
  throwsRpc(() => store.ensureModel('bad name'), ErrorCode.InvalidParams, /model name "bad name"/);
  assert.deepEqual(store.ensureModel('empty'), store.ensureModel('empty'), 'ensureModel is idempotent');
});

test('an alias that reads as a version number is refused', () => {
  const { store, train } = fixture();
  train('m');
  throwsRpc(() => store.moveAlias({ name: 'm', alias: 'v2', version: 1, action: 'promote', who: 'a', why: null, forced: false }), ErrorCode.InvalidParams, /would read as a version/);
  throwsRpc(() => store.promote({ name: 'm', version: 1, alias: 'Prod', who: 'a' }), ErrorCode.InvalidParams, /lower-case word/);
});

/** A gate runner that records its calls, around the real one. */
function spyGate(store: ModelStore): { runner: GateRunner; calls: [string, number, number][] } {
  const calls: [string, number, number][] = [];
  return {
    calls,
    runner: (name, candidate, baseline) => {
      calls.push([name, candidate, baseline]);
      return runGate(store, name, candidate, baseline);
    },
  };
}

test('the first prod and other aliases need no gate; the next prod needs a passing one', () => {
  const { store, train } = fixture();
  train('m', { accuracy: 0.9, latency_p95_ms: 50 });
  train('m', { accuracy: 0.5, latency_p95_ms: 50 });
  train('m', { accuracy: 0.95, latency_p95_ms: 50 });
  const spy = spyGate(store);

  const first = store.promote({ name: 'm', version: 1, who: 'ann', reason: 'first release' }, spy.runner);
  assert.deepEqual(first, { alias: 'prod', fromVersion: null, toVersion: 1, gate: null });
  const staging = store.promote({ name: 'm', version: 2, alias: 'staging', who: 'ann' }, spy.runner);
  assert.deepEqual(staging, { alias: 'staging', fromVersion: null, toVersion: 2, gate: null }, 'a worse version may be staged');
  assert.deepEqual(spy.calls, []);

  const passed = store.promote({ name: 'm', version: 3, who: 'bob' }, spy.runner);
  assert.deepEqual(spy.calls, [['m', 3, 1]]);
  assert.equal(passed.fromVersion, 1);
  assert.equal(passed.toVersion, 3);
  assert.ok(passed.gate);
  GateResult.parse(passed.gate);
  assert.equal(passed.gate.pass, true);
  assert.equal(passed.gate.candidate, 3);
  assert.equal(passed.gate.baseline, 1);
  assert.equal(store.resolve('m@prod').version, 3);

  const [latest] = store.history('m', 'prod');
  assert.deepEqual({ ...latest, at: undefined }, { alias: 'prod', fromVersion: 1, toVersion: 3, action: 'promote', who: 'bob', why: null, forced: false, at: undefined });
  assert.deepEqual(store.get('m', { offset: 0, limit: 10 }).gates.map((g) => g.id), [passed.gate.id]);
});

test('a failing gate refuses the move with each failing rule, keeps the result, and changes nothing else', () => {
  const { store, train } = fixture();
  train('m', { accuracy: 0.972, latency_p95_ms: 100 });
  train('m', { accuracy: 0.951, latency_p95_ms: 105 });
  store.promote({ name: 'm', version: 1, who: 'ann' });
  const historyBefore = store.history('m');
  throwsRpc(
    () => store.promote({ name: 'm', version: 2, who: 'bob' }),
    ErrorCode.Conflict,
    /^v2 of "m" failed the gate against prod \(v1\):\n {2}accuracy 0\.951 ≥ limit 0\.962\? no: dropped 0\.021 from 0\.972 \(v1\), at most 0\.01 drop allowed\npromote with force and a reason to override$/,
  );
  assert.equal(store.resolve('m@prod').version, 1);
  assert.deepEqual(store.history('m'), historyBefore, 'no history for a refused move');
  const gates = store.get('m', { offset: 0, limit: 10 }).gates;
  assert.equal(gates.length, 1, 'the failing result is recorded');
  assert.equal(gates[0]!.pass, false);
  assert.deepEqual(gates[0]!.rules.map((r) => [r.metric, r.pass]), [['accuracy', false], ['latency_p95_ms', true]]);
});

test('force needs a reason, runs the gate anyway and records the override', () => {
  const { store, train } = fixture();
  train('m', { accuracy: 0.97 });
  train('m', { accuracy: 0.5 });
  train('m', { accuracy: 0.99, latency_p95_ms: 1 });
  store.promote({ name: 'm', version: 1, who: 'ann' });
  const gatesBefore = store.get('m', { offset: 0, limit: 10 }).gates.length;
  throwsRpc(() => store.promote({ name: 'm', version: 2, force: true, who: 'bob' }), ErrorCode.InvalidParams, /forcing a promotion needs a reason/);
  throwsRpc(() => store.promote({ name: 'm', version: 2, force: true, reason: '   ', who: 'bob' }), ErrorCode.InvalidParams, /needs a reason/);
  assert.equal(store.get('m', { offset: 0, limit: 10 }).gates.length, gatesBefore, 'refused before any gate ran');

  const forced = store.promote({ name: 'm', version: 2, force: true, reason: 'hotfix for outage #12', who: 'bob' });
  assert.equal(forced.gate?.pass, false);
  assert.equal(store.resolve('m@prod').version, 2);
  const [move] = store.history('m', 'prod');
  assert.equal(move!.forced, true);
  assert.equal(move!.why, 'hotfix for outage #12');
  assert.equal(move!.fromVersion, 1);

  // v3 vs v2: accuracy passes but v2 has no latency, so the gate fails; force overrides it again.
  const forcedAgain = store.promote({ name: 'm', version: 3, force: true, reason: 'v2 lacks latency numbers', who: 'bob' });
  assert.equal(forcedAgain.gate?.pass, false);
  assert.equal(store.history('m', 'prod')[0]!.forced, true);

  // Forcing a gate that passes overrides nothing: recorded as not forced, with the reason.
  store.setRules('m', [{ metric: 'accuracy', direction: 'higher', tolerance: 0.5, mode: 'absolute' }]);
  const notNeeded = store.promote({ name: 'm', version: 1, force: true, reason: 'back to v1', who: 'bob' });
  assert.equal(notNeeded.gate?.pass, true);
  assert.deepEqual([store.history('m', 'prod')[0]!.forced, store.history('m', 'prod')[0]!.why], [false, 'back to v1']);
});

test('promoting the version that already holds the alias is a Conflict and records nothing', () => {
  const { store, train } = fixture();
  train('m');
  store.promote({ name: 'm', version: 1, who: 'ann' });
  const spy = spyGate(store);
  throwsRpc(() => store.promote({ name: 'm', version: 1, who: 'ann' }, spy.runner), ErrorCode.Conflict, /^model "m" v1 already holds "prod"; nothing to change$/);
  assert.deepEqual(spy.calls, [], 'no gate of a version against itself');
  assert.equal(store.history('m').length, 1);
  throwsRpc(() => store.promote({ name: 'm', version: 7, who: 'ann' }), ErrorCode.NotFound, /no version 7; its versions are v1 to v1/);
  throwsRpc(() => store.promote({ name: 'nope', version: 1, who: 'ann' }), ErrorCode.NotFound, /no model "nope"/);
});

test('rollback walks back through earlier holders, and never ping-pongs', () => {
  const { store, train } = fixture();
  for (let i = 0; i < 4; i++) train('m', { accuracy: 0.9 + i * 0.01, latency_p95_ms: 50 });
  throwsRpc(() => store.rollback({ name: 'm', who: 'ann' }), ErrorCode.Conflict, /^model "m" has no alias "prod" to roll back; aliases: none$/);
  store.promote({ name: 'm', version: 1, who: 'ann' });
  throwsRpc(() => store.rollback({ name: 'm', who: 'ann' }), ErrorCode.Conflict, /^"prod" of model "m" has no earlier version to go back to \(v1 is the first one it held\)$/);
  store.promote({ name: 'm', version: 2, who: 'ann' });
  store.promote({ name: 'm', version: 3, who: 'ann' });

  assert.deepEqual(store.rollback({ name: 'm', who: 'bob', why: 'v3 leaks memory' }), { alias: 'prod', fromVersion: 3, toVersion: 2 });
  assert.deepEqual(store.rollback({ name: 'm', who: 'bob' }), { alias: 'prod', fromVersion: 2, toVersion: 1 }, 'the second rollback goes further back, not to v3');
  throwsRpc(() => store.rollback({ name: 'm', who: 'bob' }), ErrorCode.Conflict, /no earlier version to go back to \(v1 is the first one it held\)/);
  assert.equal(store.resolve('m@prod').version, 1);

  // A promote after rollbacks: rolling that back returns to where the rollbacks left off.
  store.promote({ name: 'm', version: 4, who: 'ann' });
  assert.deepEqual(store.rollback({ name: 'm', who: 'bob' }), { alias: 'prod', fromVersion: 4, toVersion: 1 });

  const moves = store.history('m', 'prod').map((h) => [h.action, h.fromVersion, h.toVersion, h.who]);
  assert.deepEqual(moves, [
    ['rollback', 4, 1, 'bob'],
    ['promote', 1, 4, 'ann'],
    ['rollback', 2, 1, 'bob'],
    ['rollback', 3, 2, 'bob'],
    ['promote', 2, 3, 'ann'],
    ['promote', 1, 2, 'ann'],
    ['promote', null, 1, 'ann'],
  ]);
  assert.equal(store.history('m', 'prod')[3]!.why, 'v3 leaks memory');
  for (const h of store.history('m')) AliasMove.parse(h);
});

test('rollback of one alias leaves the others alone; re-promoting an earlier version is undone like any promote', () => {
  const { store, train } = fixture();
  for (let i = 0; i < 3; i++) train('m');
  store.promote({ name: 'm', version: 1, alias: 'staging', who: 'a' });
  store.promote({ name: 'm', version: 1, who: 'a' });
  store.promote({ name: 'm', version: 2, who: 'a' });
  store.promote({ name: 'm', version: 3, alias: 'staging', who: 'a' });
  store.promote({ name: 'm', version: 1, who: 'a' }); // prod: 1, 2, 1
  assert.deepEqual(store.rollback({ name: 'm', who: 'b' }), { alias: 'prod', fromVersion: 1, toVersion: 2 });
  assert.equal(store.resolve('m@staging').version, 3);
  assert.deepEqual(store.rollback({ name: 'm', alias: 'staging', who: 'b' }), { alias: 'staging', fromVersion: 3, toVersion: 1 });
  assert.equal(store.resolve('m@prod').version, 2);
  assert.deepEqual(store.rollback({ name: 'm', who: 'b' }), { alias: 'prod', fromVersion: 2, toVersion: 1 });
});

test('alias history is append-only: UPDATE and DELETE are refused by the database', () => {
  const { db, store, train } = fixture();
  train('m');
  train('m');
  store.promote({ name: 'm', version: 1, who: 'ann' });
  store.promote({ name: 'm', version: 2, alias: 'staging', who: 'ann' });
  const before = store.history('m');
  assert.deepEqual(before.map((h) => h.alias), ['staging', 'prod'], 'newest first');
  assert.deepEqual(store.history('m', 'staging').map((h) => h.toVersion), [2]);
  assert.throws(() => db.prepare("UPDATE alias_history SET who = 'mallory'").run(), /alias history is append-only/);
  assert.throws(() => db.prepare('DELETE FROM alias_history').run(), /alias history is append-only/);
  assert.deepEqual(store.history('m'), before);
});

test('list and get paginate; versions newest first', () => {
  const { store, train } = fixture();
  for (const name of ['c', 'a', 'e', 'b', 'd']) train(name);
  for (let i = 0; i < 6; i++) train('a');
  store.promote({ name: 'a', version: 3, who: 'x' });
  store.promote({ name: 'a', version: 2, alias: 'staging', who: 'x' });
  store.ensureModel('f');

  const page = store.list({ offset: 1, limit: 2 });
  assert.equal(page.total, 6);
  assert.deepEqual(page.models.map((m) => m.name), ['b', 'c']);
  const all = store.list({ offset: 0, limit: 100 });
  for (const m of all.models) ModelSummary.parse(m);
  assert.deepEqual(all.models[0], { name: 'a', versions: 7, latest: 7, aliases: { prod: 3, staging: 2 }, createdAt: all.models[0]!.createdAt });
  assert.deepEqual(all.models.at(-1), { name: 'f', versions: 0, latest: null, aliases: {}, createdAt: all.models.at(-1)!.createdAt });
  assert.deepEqual(store.list({ offset: 6, limit: 10 }).models, []);

  const got = store.get('a', { offset: 2, limit: 3 });
  assert.equal(got.totalVersions, 7);
  assert.deepEqual(got.versions.map((v) => v.version), [5, 4, 3]);
  assert.deepEqual(got.versions[2]!.aliases, ['prod']);
  assert.deepEqual(got.model.aliases, { prod: 3, staging: 2 });
  assert.deepEqual(got.history.map((h) => h.alias), ['staging', 'prod']);
  assert.equal(got.rules.length, 2, 'default rules');
  throwsRpc(() => store.get('zzz', { offset: 0, limit: 1 }), ErrorCode.NotFound, /no model "zzz"; models: a, b, c, d, e, f/);
});

test('get shows the 20 newest gate results, newest first', () => {
  const { store, train } = fixture();
  train('m');
  train('m');
  const ids = Array.from({ length: 25 }, () => runGate(store, 'm', 2, 1).id);
  const gates = store.get('m', { offset: 0, limit: 1 }).gates;
  assert.deepEqual(gates.map((g) => g.id), ids.slice(-20).reverse());
});

test('evaluations, annotations and lineage', () => {
  const { store, jobs, train, clusterId } = fixture();
  train('m', { accuracy: 0.9, loss: 0.2 });
  const v2 = train('m');
  const id = store.resolveRecord('m@v2').id;
  assert.equal(store.versionId('m', 2), id);
  assert.equal(store.versionById(id).version, 2);
  throwsRpc(() => store.versionId('m', 3), ErrorCode.NotFound, /no version 3/);
  assert.deepEqual(store.setEvaluation(id, { accuracy: 0.8 }).evaluation, { accuracy: 0.8 });
  assert.deepEqual(store.setEvaluation(id, { f1: 0.7 }).evaluation, { f1: 0.7 }, 'the latest evaluation replaces the previous');
  throwsRpc(() => store.setEvaluation('no-such-id', {}), ErrorCode.NotFound, /no model version with id no-such-id/);

  let a = store.annotate('m@v1', { owner: 'ann', stage: 'exp' }, 'baseline run');
  assert.deepEqual(a.tags, { lr: '0.1', owner: 'ann', stage: 'exp' });
  assert.equal(a.note, 'baseline run');
  a = store.annotate('m@1', { stage: '', owner: 'bob' });
  assert.deepEqual(a.tags, { lr: '0.1', owner: 'bob' }, 'merged; an empty value removes the tag');
  assert.equal(a.note, 'baseline run', 'no note given: kept');
  assert.equal(store.annotate('m@1', {}, '').note, null, 'an empty note clears it');
  assert.deepEqual(store.resolve('m@v2').tags, { lr: '0.1' }, 'only the referenced version changed');

  const mk = (kind: 'evaluate' | 'predict') =>
    jobs.create({ clusterId, name: kind, script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [], kind, modelVersionId: id }).id;
  const e1 = mk('evaluate');
  const p1 = mk('predict');
  const e2 = mk('evaluate');
  jobs.create({ clusterId, name: 'plain', script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [] });
  const lineage = store.lineage('m@v2');
  assert.equal(lineage.version.version, 2);
  assert.equal(lineage.trainingJobId, v2.trainingJob);
  assert.deepEqual(lineage.evaluationJobIds, [e2, e1]);
  assert.deepEqual(lineage.predictionJobIds, [p1]);
  assert.deepEqual(store.lineage('m@v1'), { version: store.resolve('m@v1'), trainingJobId: store.resolve('m@v1').trainingJob, evaluationJobIds: [], predictionJobIds: [] });
});

test('gate rules: defaults until set, validated, one per metric, an empty list restores the defaults', () => {
  const { store, train } = fixture();
  train('m');
  const defaults = store.rules('m');
  assert.deepEqual(defaults.map((r) => r.metric), ['accuracy', 'latency_p95_ms']);
  const mine = [{ metric: 'f1', direction: 'higher', tolerance: 0.02, mode: 'absolute' } as const];
  assert.deepEqual(store.setRules('m', mine), mine);
  assert.deepEqual(store.rules('m'), mine);
  assert.deepEqual(store.get('m', { offset: 0, limit: 1 }).rules, mine);
  throwsRpc(
    () => store.setRules('m', [...mine, { metric: 'f1', direction: 'lower', tolerance: 0, mode: 'absolute' }]),
    ErrorCode.InvalidParams,
    /rules\[1\]: a second rule for "f1"/,
  );
  throwsRpc(() => store.setRules('m', [{ metric: 'x', direction: 'higher', tolerance: -1, mode: 'absolute' }]), ErrorCode.InvalidParams, /^rules\[0\]\.tolerance: /);
  assert.deepEqual(store.rules('m'), mine, 'a refused change changes nothing');
  assert.deepEqual(store.setRules('m', []), defaults);
  throwsRpc(() => store.setRules('nope', mine), ErrorCode.NotFound, /no model "nope"/);
});
