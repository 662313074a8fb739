// models/try without SSH: which artifact is run, how JSON inputs become
// tensors (shapes, types, the messages when they do not fit), how outputs
// become JSON, and the download's checks against a fake cluster session
// (size, cache file mode, a file onnxruntime cannot load).
// The real run over SSH: test/integration/tryLocal.test.ts.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import {
  LocalRunner,
  buildFeeds,
  nestedShape,
  pickOnnxArtifact,
  remotePathOf,
  tensorToJson,
  toTensor,
  type LocalRunnerDeps,
  type ValueMeta,
} from '../../daemon/models/tryLocal';
import { ErrorCode, type ModelVersionInfo, type OutputFile } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import type { RemoteSession } from '../../daemon/connections';
import type { ClusterRecord } from '../../daemon/db/registry';
import { createLogger, memorySink } from '../../daemon/log';

function rpcError(code: number, re: RegExp) {
  return (err: unknown) => {
    assert.ok(err instanceof RpcError, `expected an RpcError, got ${String(err)}`);
    assert.equal(err.code, code, `code of "${err.message}"`);
    assert.match(err.message, re);
    return true;
  };
}

function version(artifacts: OutputFile[], over: Partial<ModelVersionInfo> = {}): ModelVersionInfo {
  return {
    model: 'iris',
    version: 3,
    aliases: [],
    cluster: 'hpc',
    artifactPath: '/home/u/runs/r1/artifacts',
    artifacts,
    metrics: {},
    evaluation: null,
    trainingJob: '00000000-0000-4000-8000-000000000001',
    gitCommit: null,
    tags: {},
    note: null,
    createdAt: new Date().toISOString(),
    ...over,
  };
}

const A = '/home/u/runs/r1/artifacts';
const x: ValueMeta = { name: 'x', isTensor: true, type: 'float32', shape: ['N', 3] };

describe('which artifact', () => {
  test('model.onnx at the top wins, then the only model.onnx, then the only *.onnx', () => {
    const top = { path: `${A}/model.onnx`, size: 10 };
    assert.equal(pickOnnxArtifact(version([{ path: `${A}/sub/model.onnx`, size: 1 }, top, { path: `${A}/other.onnx`, size: 2 }])), top);
    const nested = { path: `${A}/export/model.onnx`, size: 1 };
    assert.equal(pickOnnxArtifact(version([nested, { path: `${A}/b.onnx`, size: 2 }])), nested);
    const only = { path: `${A}/net.ONNX`, size: 3 };
    assert.equal(pickOnnxArtifact(version([{ path: `${A}/metrics.json`, size: 5 }, only])), only);
  });

  test('no ONNX file is a Conflict listing what the version has', () => {
    assert.throws(
      () => pickOnnxArtifact(version([{ path: `${A}/model.pkl`, size: 5 }, { path: `${A}/metrics.json`, size: 2 }])),
      rpcError(ErrorCode.Conflict, /^iris v3 has no ONNX artifact .*its artifacts: model\.pkl, metrics\.json$/),
    );
    assert.throws(() => pickOnnxArtifact(version([])), rpcError(ErrorCode.Conflict, /its artifacts: none$/));
  });

  test('several ONNX files and no model.onnx is a Conflict naming them', () => {
    assert.throws(
      () => pickOnnxArtifact(version([{ path: `${A}/a.onnx`, size: 1 }, { path: `${A}/b.onnx`, size: 1 }])),
      rpcError(ErrorCode.Conflict, /several ONNX files .*: a\.onnx, b\.onnx$/),
    );
  });

  test('relative artifact paths are under the artifact directory', () => {
    const v = version([], { artifactPath: '/r/artifacts/' });
    assert.equal(remotePathOf(v, { path: 'model.onnx', size: 1 }), '/r/artifacts/model.onnx');
    assert.equal(remotePathOf(v, { path: '/r/artifacts/sub/model.onnx', size: 1 }), '/r/artifacts/sub/model.onnx');
    assert.equal(remotePathOf(version([], { artifactPath: '~/m' }), { path: '~/m/model.onnx', size: 1 }), '~/m/model.onnx');
  });

  test('an artifact path that leaves the artifact directory is refused', () => {
    const v = version([], { artifactPath: '/r/artifacts' });
    for (const p of ['/abs/model.onnx', '../model.onnx', 'sub/../../x.onnx', '/r/artifacts/../secret.onnx', '/r/artifactsX/model.onnx', '~/m/model.onnx', '/r/artifacts', '..']) {
      assert.throws(() => remotePathOf(v, { path: p, size: 1 }), rpcError(ErrorCode.Conflict, /not inside the version's artifact directory \/r\/artifacts/), p);
    }
  });
});

describe('inputs', () => {
  test('a nested array has its shape and row-major elements', () => {
    assert.deepEqual(nestedShape([[1, 2, 3], [4, 5, 6]], 'input'), { dims: [2, 3], flat: [1, 2, 3, 4, 5, 6] });
    assert.deepEqual(nestedShape([[[1], [2]]], 'input'), { dims: [1, 2, 1], flat: [1, 2] });
  });

  test('a ragged array is refused, naming where', () => {
    assert.throws(() => nestedShape([[1, 2, 3], [4, 5]], 'input "x"'), rpcError(ErrorCode.InvalidParams, /^input "x"\[1\] has 2 elements, but input "x"\[0\] has 3; the array must be rectangular$/));
    assert.throws(() => nestedShape([[1, 2], 3], 'input'), rpcError(ErrorCode.InvalidParams, /^input\[1\] is number 3, but an array of 2 was expected there/));
    assert.throws(() => nestedShape([[1, 2], [3, [4]]], 'input'), rpcError(ErrorCode.InvalidParams, /^input\[1\]\[1\] is an array, but input\[0\]\[0\] is not/));
    assert.throws(() => nestedShape([[], []], 'input'), rpcError(ErrorCode.InvalidParams, /^input is empty \(shape 2 × 0\)$/));
    assert.throws(() => nestedShape([], 'input'), rpcError(ErrorCode.InvalidParams, /^input is empty$/));
    let deep: unknown = [1];
    for (let i = 0; i < 20; i++) deep = [deep];
    assert.throws(() => nestedShape(deep, 'input'), rpcError(ErrorCode.InvalidParams, /nested more than 16 levels/));
  });

  test('too many elements are refused before anything is converted', () => {
    const big = Array.from({ length: 1001 }, () => new Array(1000).fill(0));
    assert.throws(() => nestedShape(big, 'input'), rpcError(ErrorCode.InvalidParams, /1001000 elements; models\/try takes at most 1000000/));
  });

  test('floats become a float32 tensor with the array\'s shape', () => {
    const t = toTensor([[1, 2.5, -3], [0, 0.1, 1e3]], x);
    assert.equal(t.type, 'float32');
    assert.deepEqual(t.dims, [2, 3]);
    assert.ok(t.data instanceof Float32Array);
    assert.deepEqual(Array.from(t.data as Float32Array), [1, 2.5, -3, 0, Math.fround(0.1), 1000]);
  });

  test('one row without the batch dimension is a batch of one', () => {
    const t = toTensor([1, 2, 3], x);
    assert.deepEqual(t.dims, [1, 3]);
  });

  test('shapes that do not fit the model are refused with the model\'s shape', () => {
    assert.throws(() => toTensor([[1, 2], [3, 4]], x), rpcError(ErrorCode.InvalidParams, /^input "x" has 2 at dimension 2 of 2, but the model needs 3 there \(its shape is N × 3; got 2 × 2\)$/));
    assert.throws(() => toTensor([[[1, 2, 3]]], x), rpcError(ErrorCode.InvalidParams, /^input "x" needs 2 dimensions \(N × 3\); got 3 dimensions \(1 × 1 × 3\)$/));
    assert.throws(() => toTensor(5, x), rpcError(ErrorCode.InvalidParams, /^input "x" needs 2 dimensions \(N × 3\); got a single number 5$/));
  });

  test('elements of the wrong kind are named by index', () => {
    assert.throws(() => toTensor([[1, 2, 3], [4, 'five', 6]], x), rpcError(ErrorCode.InvalidParams, /^input "x"\[1\]\[1\] is the string "five", not a number \(the input is float32\)$/));
    assert.throws(() => toTensor([[1, null, 3]], x), rpcError(ErrorCode.InvalidParams, /^input "x"\[0\]\[1\] is null, not a number/));
  });

  test('integer, double, bool and string inputs', () => {
    const ids = toTensor([[1, 2], [3, 4]], { name: 'ids', isTensor: true, type: 'int64', shape: ['N', 2] });
    assert.deepEqual(Array.from(ids.data as BigInt64Array), [1n, 2n, 3n, 4n]);
    assert.throws(() => toTensor([1.5], { name: 'ids', isTensor: true, type: 'int64', shape: ['N'] }), rpcError(ErrorCode.InvalidParams, /"ids"\[0\] is number 1\.5, not an integer/));
    assert.throws(() => toTensor([300], { name: 'b', isTensor: true, type: 'uint8', shape: [] }), rpcError(ErrorCode.InvalidParams, /is 300, outside uint8's range 0 to 255/));
    const d = toTensor([0.1], { name: 'd', isTensor: true, type: 'float64', shape: [1] });
    assert.deepEqual(Array.from(d.data as Float64Array), [0.1]);
    const b = toTensor([true, false, 1], { name: 'm', isTensor: true, type: 'bool', shape: ['N'] });
    assert.deepEqual(Array.from(b.data as Uint8Array), [1, 0, 1]);
    const s = toTensor([['a', 'b']], { name: 's', isTensor: true, type: 'string', shape: ['N', 2] });
    assert.deepEqual(s.data, ['a', 'b']);
    assert.throws(() => toTensor([1], { name: 'h', isTensor: true, type: 'float16', shape: ['N'] }), rpcError(ErrorCode.InvalidParams, /has type float16, which models\/try does not support/));
    assert.throws(() => toTensor([1], { name: 'seq', isTensor: false }), rpcError(ErrorCode.InvalidParams, /"seq" is not a tensor/));
  });

  test('a scalar for an input of unknown shape', () => {
    const t = toTensor(2, { name: 'k', isTensor: true, type: 'float32', shape: [] });
    assert.deepEqual(t.dims, []);
    assert.deepEqual(Array.from(t.data as Float32Array), [2]);
  });

  test('feeds by name, or a bare array for a single input', () => {
    assert.deepEqual(Object.keys(buildFeeds([[1, 2, 3]], [x])), ['x']);
    assert.deepEqual(Object.keys(buildFeeds({ x: [[1, 2, 3]] }, [x])), ['x']);
    const two: ValueMeta[] = [x, { name: 'mask', isTensor: true, type: 'bool', shape: ['N'] }];
    const feeds = buildFeeds({ x: [[1, 2, 3]], mask: [true] }, two);
    assert.deepEqual(Object.keys(feeds).sort(), ['mask', 'x']);
    assert.throws(() => buildFeeds([[1, 2, 3]], two), rpcError(ErrorCode.InvalidParams, /^the model has 2 inputs \(x \(float32, N × 3\), mask \(bool, N\)\); give them by name: \{ "x": \[\.\.\.\], "mask": \[\.\.\.\] \}$/));
    assert.throws(() => buildFeeds({ x: [[1, 2, 3]] }, two), rpcError(ErrorCode.InvalidParams, /^input "mask" missing; the model's inputs: x \(float32, N × 3\), mask \(bool, N\)$/));
    assert.throws(() => buildFeeds({ x: [[1, 2, 3]], y: [1] }, [x]), (err: unknown) => {
      rpcError(ErrorCode.InvalidParams, /^the model has no input "y"; its inputs: x \(float32, N × 3\)$/)(err);
      assert.deepEqual((err as RpcError).data, { field: 'params.input.y' });
      return true;
    });
    assert.throws(() => buildFeeds(null, [x]), rpcError(ErrorCode.InvalidParams, /^no input given; the model's inputs: x/));
    assert.throws(() => buildFeeds([[1, 2]], [x]), rpcError(ErrorCode.InvalidParams, /^input has 2 at dimension 2/));
  });
});

describe('outputs', () => {
  test('tensors become nested arrays by their dims', () => {
    assert.deepEqual(tensorToJson({ type: 'float32', dims: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) }), [[1, 2, 3], [4, 5, 6]]);
    assert.deepEqual(tensorToJson({ type: 'float32', dims: [1, 2, 2], data: Float32Array.from([1, 2, 3, 4]) }), [[[1, 2], [3, 4]]]);
    assert.equal(tensorToJson({ type: 'float32', dims: [], data: Float32Array.from([7]) }), 7);
    assert.deepEqual(tensorToJson({ type: 'float32', dims: [2, 0], data: new Float32Array(0) }), [[], []]);
  });

  test('64-bit integers are numbers, bool booleans, strings strings', () => {
    const label = tensorToJson({ type: 'int64', dims: [3], data: BigInt64Array.from([1n, 0n, -5n]) });
    assert.deepEqual(label, [1, 0, -5]);
    assert.equal(JSON.stringify(label), '[1,0,-5]');
    assert.deepEqual(tensorToJson({ type: 'bool', dims: [2], data: Uint8Array.from([1, 0]) }), [true, false]);
    assert.deepEqual(tensorToJson({ type: 'string', dims: [1, 2], data: ['a', 'b'] }), [['a', 'b']]);
  });
});

describe('the runner with a fake cluster', () => {
  const work = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-trylocal-'));
  after(() => fs.rmSync(work, { recursive: true, force: true }));

  const cluster: ClusterRecord = {
    id: 'c1', name: 'hpc', kind: 'ssh', sshAlias: null, host: 'h', port: 22, user: 'u', identityFile: null, knownHostsFile: '/kh', sshConfigFile: null, createdAt: '',
  };

  function runner(v: ModelVersionInfo, remote: Buffer, opts: { statSize?: number; clusterGone?: boolean } = {}) {
    const calls: string[] = [];
    const session = {
      // realpath -e -- ROOT FILE: no symlinks here, each path is its own.
      async exec(argv: string[]) {
        return { code: 0, stdout: argv.slice(3).join('\n') + '\n', stderr: '' };
      },
      async stat(p: string) {
        calls.push(`stat ${p}`);
        return { size: opts.statSize ?? remote.length, mtime: 0 };
      },
      async readRange(p: string, offset: number, length: number) {
        calls.push(`read ${p} ${offset} ${length}`);
        return remote.subarray(offset, offset + length);
      },
    } as unknown as RemoteSession & { hostKeyFingerprint: undefined };
    const deps: LocalRunnerDeps = {
      models: { resolve: () => v },
      clusters: { find: (n) => (opts.clusterGone || n !== cluster.name ? undefined : cluster) },
      connections: {
        session: async () => {
          calls.push('session');
          return session;
        },
      },
      cacheDir: path.join(work, `cache-${Math.random().toString(36).slice(2)}`),
      log: createLogger(memorySink('warn')),
    };
    return { r: new LocalRunner(deps), calls, deps };
  }

  test('a version without an ONNX artifact fails before touching the cluster', async () => {
    const { r, calls } = runner(version([{ path: `${A}/model.pt`, size: 3 }]), Buffer.alloc(0));
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.Conflict, /no ONNX artifact.*model\.pt/));
    assert.deepEqual(calls, []);
    await r.close();
  });

  test('a file whose size differs from the recorded one is not downloaded', async () => {
    const { r, calls, deps } = runner(version([{ path: `${A}/model.onnx`, size: 100 }]), Buffer.alloc(100), { statSize: 120 });
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.Conflict, /is 120 bytes now, but iris v3 recorded 100/));
    assert.deepEqual(calls, ['session', `stat ${A}/model.onnx`]);
    assert.equal(fs.existsSync(deps.cacheDir) ? fs.readdirSync(path.join(deps.cacheDir, 'iris', 'v3')).length : 0, 0);
    await r.close();
  });

  test('a file that ends early is not kept', async () => {
    const { r, deps } = runner(version([{ path: `${A}/model.onnx`, size: 100 }]), Buffer.alloc(60), { statSize: 100 });
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.Conflict, /ended at 60 bytes while downloading; iris v3 recorded 100/));
    assert.deepEqual(fs.readdirSync(path.join(deps.cacheDir, 'iris', 'v3')), []);
    await r.close();
  });

  test('a cluster that is gone is NotFound', async () => {
    const { r } = runner(version([{ path: `${A}/model.onnx`, size: 3 }]), Buffer.alloc(3), { clusterGone: true });
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.NotFound, /stored on cluster "hpc", which is no longer registered/));
    await r.close();
  });

  test('a download in chunks lands 0600 in the cache; a file onnxruntime cannot load is an error, and is not fetched again', async () => {
    const bytes = Buffer.alloc(2.5 * 1024 * 1024, 7); // 3 chunks, not an ONNX model
    const { r, calls, deps } = runner(version([{ path: 'model.onnx', size: bytes.length }]), bytes);
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.InternalError, /^onnxruntime: /));
    const file = path.join(deps.cacheDir, 'iris', 'v3', 'model.onnx');
    assert.equal(r.cachePath('iris', 3), file);
    assert.deepEqual(fs.readFileSync(file), bytes);
    assert.equal(fs.statSync(file).mode & 0o777, 0o600);
    assert.equal(fs.statSync(path.dirname(file)).mode & 0o777, 0o700);
    assert.deepEqual(fs.readdirSync(path.dirname(file)).sort(), ['model.onnx', 'source.json']);
    const reads = calls.filter((c) => c.startsWith('read ')).sort();
    assert.deepEqual(reads, [
      `read ${A}/model.onnx 0 1048576`,
      `read ${A}/model.onnx 1048576 1048576`,
      `read ${A}/model.onnx 2097152 524288`,
      `read ${A}/model.onnx 2621440 1`,
    ].sort());
    calls.length = 0;
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.InternalError, /^onnxruntime: /));
    assert.deepEqual(calls, [], 'the cached file is used');
    // A cache file of another size is fetched again.
    fs.writeFileSync(file, 'short');
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.InternalError, /^onnxruntime: /));
    assert.equal(calls[0], 'session');
    assert.deepEqual(fs.readFileSync(file), bytes);
    await r.close();
    await assert.rejects(r.run('iris@v3', [[1, 2, 3]]), rpcError(ErrorCode.Conflict, /shutting down/));
  });
});
