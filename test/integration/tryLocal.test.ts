// models/try end to end: real ONNX models (written by python3-onnx with known
// weights) uploaded to the local cluster, registered as versions in a real
// registry, downloaded over SSH into the cache and run by onnxruntime-node in
// its worker thread. Needs test/cluster/up.sh (it also installs python3-onnx).
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadClusterEnv, type ClusterEnv } from './clusterEnv';
import { openDatabase, type Db } from '../../daemon/db/database';
import { ModelStore } from '../../daemon/db/models';
import { ClusterStore, JobStore, type ClusterRecord } from '../../daemon/db/registry';
import { ClusterConnections } from '../../daemon/connections';
import { LocalRunner } from '../../daemon/models/tryLocal';
import { createLogger, memorySink } from '../../daemon/log';
import { ErrorCode, type ModelVersionInfo } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { SshSession } from '../../daemon/ssh/session';

// tiny: probs = softmax(x·W + b), label = argmax; heavy: x (1×1) expanded to
// S×S, K matrix products with a constant S×S matrix of 1/S, summed: S²·x,
// slowly (so a run visibly takes time).
const W = [[1.0, -1.0], [0.5, 2.0], [-2.0, 0.25]];
const B = [0.1, -0.2];
const S = 1024;
const K = 40;
const PYTHON = `
import sys
import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
out, S, K = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
W = np.array(${JSON.stringify(W)}, dtype=np.float32)
b = np.array(${JSON.stringify(B)}, dtype=np.float32)
tiny = helper.make_graph(
    [helper.make_node('MatMul', ['x', 'W'], ['xw']),
     helper.make_node('Add', ['xw', 'b'], ['logits']),
     helper.make_node('Softmax', ['logits'], ['probs'], axis=-1),
     helper.make_node('ArgMax', ['logits'], ['label'], axis=1, keepdims=0)],
    'tiny',
    [helper.make_tensor_value_info('x', TensorProto.FLOAT, ['N', 3])],
    [helper.make_tensor_value_info('probs', TensorProto.FLOAT, ['N', 2]),
     helper.make_tensor_value_info('label', TensorProto.INT64, ['N'])],
    [numpy_helper.from_array(W, 'W'), numpy_helper.from_array(b, 'b')])
nodes = [helper.make_node('Expand', ['x', 'shape'], ['h0']),
         helper.make_node('ConstantOfShape', ['shape'], ['M'], value=helper.make_tensor('v', TensorProto.FLOAT, [1], [1.0 / S]))]
nodes += [helper.make_node('MatMul', ['h%d' % k, 'M'], ['h%d' % (k + 1)]) for k in range(K)]
nodes.append(helper.make_node('ReduceSum', ['h%d' % K], ['y'], keepdims=0))
heavy = helper.make_graph(nodes, 'heavy',
    [helper.make_tensor_value_info('x', TensorProto.FLOAT, [1, 1])],
    [helper.make_tensor_value_info('y', TensorProto.FLOAT, [])],
    [numpy_helper.from_array(np.array([S, S], dtype=np.int64), 'shape')])
for name, g in (('tiny', tiny), ('heavy', heavy)):
    m = helper.make_model(g, opset_imports=[helper.make_opsetid('', 13)], producer_name='slurm-ml-test')
    onnx.checker.check_model(m)
    onnx.save(m, '%s/%s.onnx' % (out, name))
`;

/** What the tiny model computes, in float64. */
function expectedTiny(rows: number[][]): { probs: number[][]; label: number[] } {
  const probs: number[][] = [];
  const label: number[] = [];
  for (const r of rows) {
    const logits = [0, 1].map((j) => r.reduce((s, v, i) => s + v * (W[i] as number[])[j]!, 0) + B[j]!);
    const m = Math.max(...logits);
    const e = logits.map((l) => Math.exp(l - m));
    const sum = e.reduce((a, c) => a + c, 0);
    probs.push(e.map((v) => v / sum));
    label.push(logits[1]! > logits[0]! ? 1 : 0);
  }
  return { probs, label };
}

function assertClose(actual: unknown, expected: number[][], tol = 1e-5): void {
  assert.ok(Array.isArray(actual) && actual.length === expected.length, `shape of ${JSON.stringify(actual)}`);
  expected.forEach((row, i) => {
    const got = (actual as unknown[])[i] as number[];
    assert.equal(got.length, row.length);
    row.forEach((v, j) => assert.ok(Math.abs((got[j] as number) - v) <= tol, `[${i}][${j}]: ${got[j]} vs ${v}`));
  });
}

function rpcError(code: number, re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    assert.match(err.message, re);
    return true;
  };
}

let env: ClusterEnv;
let work: string;
let ssh: SshSession;
let remoteDir: string;
let db: Db;
let connections: ClusterConnections;
let runner: LocalRunner;
let cacheDir: string;
const local: Record<string, Buffer> = {};

before(async () => {
  env = loadClusterEnv();
  work = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-trylocal-'));
  const py = spawnSync('/usr/bin/python3', ['-c', PYTHON, work, String(S), String(K)], { encoding: 'utf8' });
  if (py.status !== 0) {
    throw new Error(`building the test models failed (needs python3-onnx and python3-numpy: apt-get install -y python3-onnx python3-numpy; test/cluster/up.sh installs them):\n${py.stderr}`);
  }
  for (const n of ['tiny', 'heavy']) local[n] = fs.readFileSync(path.join(work, `${n}.onnx`));

  ssh = new SshSession({ name: 'upload', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  remoteDir = `${await ssh.homeDir()}/.slurm-ml/test-trylocal-${randomUUID()}`;
  for (const n of ['tiny', 'heavy', 'pickled']) await ssh.mkdirp(`${remoteDir}/${n}`);
  await ssh.writeFile(`${remoteDir}/tiny/model.onnx`, local.tiny!);
  await ssh.writeFile(`${remoteDir}/heavy/model.onnx`, local.heavy!);
  await ssh.writeFile(`${remoteDir}/pickled/model.pkl`, 'not onnx');

  db = openDatabase(':memory:');
  const clusters = new ClusterStore(db);
  const jobs = new JobStore(db);
  const models = new ModelStore(db);
  const cluster: ClusterRecord = clusters.add({ name: 'local', host: env.host, port: env.port, user: env.user, identityFile: env.identityFile, knownHostsFile: env.knownHostsFile });
  const register = (model: string, files: { path: string; size: number }[]): ModelVersionInfo => {
    const job = jobs.create({ clusterId: cluster.id, name: `train-${model}`, script: '#!/bin/sh\n', scriptPath: '/r/s.sh', runDir: '/r', sbatchArgs: [], kind: 'train', modelName: model });
    return models.registerVersion({ model, clusterId: cluster.id, artifactPath: `${remoteDir}/${model}`, artifacts: files, metrics: {}, trainingJobId: job.id, gitCommit: null, tags: {} });
  };
  register('tiny', [
    { path: `${remoteDir}/tiny/metrics.json`, size: 2 },
    { path: `${remoteDir}/tiny/model.onnx`, size: local.tiny!.length },
  ]);
  register('heavy', [{ path: `${remoteDir}/heavy/model.onnx`, size: local.heavy!.length }]);
  register('pickled', [{ path: `${remoteDir}/pickled/model.pkl`, size: 8 }]);
  register('gone', [{ path: `${remoteDir}/gone/model.onnx`, size: 100 }]);

  const log = createLogger(memorySink('warn'));
  connections = new ClusterConnections(log, { sshConfigFile: path.join(work, 'no-ssh-config') });
  cacheDir = path.join(work, 'cache');
  runner = new LocalRunner({ models, clusters, connections, cacheDir, log });
});

after(async () => {
  await runner?.close();
  await connections?.closeAll();
  if (ssh) {
    if (remoteDir) await ssh.exec(['rm', '-rf', '--', remoteDir]).catch(() => undefined);
    await ssh.close();
  }
  db?.close();
  if (work) fs.rmSync(work, { recursive: true, force: true });
});

describe('models/try on the local cluster', () => {
  const rows = [[1, 2, 3], [0, 0, 0], [-1, 0.5, 2], [0.3, -0.7, 0.05]];

  test('downloads model.onnx over SSH and computes the known outputs', async () => {
    const r = await runner.run('tiny', rows);
    assert.equal(r.model, 'tiny');
    assert.equal(r.version, 1);
    assert.equal(r.cached, false);
    assert.deepEqual(Object.keys(r.outputs).sort(), ['label', 'probs']);
    const want = expectedTiny(rows);
    assertClose(r.outputs.probs, want.probs);
    assert.deepEqual(r.outputs.label, want.label);
    assert.equal(JSON.stringify(r.outputs.label), JSON.stringify(want.label), 'int64 comes back as plain numbers');
    assert.ok(r.latencyMs >= 0 && r.latencyMs < 1000, `latency ${r.latencyMs}`);
    const file = path.join(cacheDir, 'tiny', 'v1', 'model.onnx');
    assert.deepEqual(fs.readFileSync(file), local.tiny);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
  });

  test('the second run uses the cache; named input and a single row work', async () => {
    const again = await runner.run('tiny@v1', { x: rows });
    assert.equal(again.cached, true);
    assertClose(again.outputs.probs, expectedTiny(rows).probs);
    const one = await runner.run('tiny', [1, 2, 3]);
    assert.equal(one.cached, true);
    assertClose(one.outputs.probs, expectedTiny([[1, 2, 3]]).probs);
    assert.deepEqual(one.outputs.label, [1]);
  });

  test('inputs that do not fit the model are InvalidParams', async () => {
    await assert.rejects(runner.run('tiny', [[1, 2], [3, 4]]), rpcError(ErrorCode.InvalidParams, /^input has 2 at dimension 2 of 2, but the model needs 3 there \(its shape is N × 3; got 2 × 2\)$/));
    await assert.rejects(runner.run('tiny', [[1, 2, 3], [4, 5]]), rpcError(ErrorCode.InvalidParams, /^input\[1\] has 2 elements, but input\[0\] has 3; the array must be rectangular$/));
    await assert.rejects(runner.run('tiny', { features: rows }), rpcError(ErrorCode.InvalidParams, /^the model has no input "features"; its inputs: x \(float32, N × 3\)$/));
  });

  test('a version without an ONNX artifact, or whose file is gone, is an error', async () => {
    await assert.rejects(runner.run('pickled', rows), rpcError(ErrorCode.Conflict, /^pickled v1 has no ONNX artifact .*its artifacts: model\.pkl$/));
    await assert.rejects(runner.run('gone', rows), rpcError(ErrorCode.RemoteFileFailed, /^downloading gone v1 \(.*\/gone\/model\.onnx\): /));
    await assert.rejects(runner.run('nosuch', rows), rpcError(ErrorCode.NotFound, /no model "nosuch"/));
  });

  test('the event loop keeps running while a model runs', async () => {
    // Downloaded and loaded first: what is measured is the run alone.
    await runner.run('heavy', [[2]]);
    let ticks = 0;
    let maxGap = 0;
    let last = performance.now();
    const timer = setInterval(() => {
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
      ticks++;
    }, 5);
    let r;
    try {
      last = performance.now();
      r = await runner.run('heavy', [[2]]);
    } finally {
      clearInterval(timer);
    }
    assert.equal(r.cached, true);
    assert.equal(r.outputs.y, S * S * 2);
    assert.ok(r.latencyMs > 100, `the run took ${r.latencyMs} ms, too short to show anything`);
    assert.ok(ticks >= r.latencyMs / 5 / 4, `${ticks} ticks during a ${r.latencyMs} ms run`);
    assert.ok(maxGap < 100, `the event loop stalled for ${maxGap.toFixed(1)} ms during a ${r.latencyMs} ms run`);
  });
});
