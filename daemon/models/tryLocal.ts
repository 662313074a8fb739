// models/try: runs a registered version's ONNX artifact here, on one JSON
// input. The artifact is downloaded once over the cluster's SSH session into
// a cache (<cacheDir>/<model>/v<N>/model.onnx, 0600, written atomically) and
// run by onnxruntime-node in one long-lived worker thread: loading a session
// and session.run are synchronous native calls that would otherwise block the
// daemon's event loop. Inputs are checked against the model's declared inputs
// before anything runs; outputs come back as plain JSON.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { Worker } from 'node:worker_threads';
import { ErrorCode, type ModelVersionInfo, type OutputFile } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ModelStore } from '../db/models';
import type { ClusterStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';

export interface LocalRunnerDeps {
  models: Pick<ModelStore, 'resolve'>;
  clusters: Pick<ClusterStore, 'find'>;
  connections: Pick<ClusterConnections, 'session'>;
  /** Downloaded artifacts go under it (created 0700). */
  cacheDir: string;
  log: Logger;
  /** A run (or a session load) taking longer stops the worker. Default 60 s. */
  timeoutMs?: number;
  /** Sessions kept loaded in the worker, least recently used dropped first. Default 4. */
  maxSessions?: number;
}

export interface TryResult {
  model: string;
  version: number;
  outputs: Record<string, unknown>;
  /** session.run's wall time in the worker; excludes download and load. */
  latencyMs: number;
  /** True when the artifact came from the local cache (no download). */
  cached: boolean;
}

/** What onnxruntime says about an input or output. */
export interface ValueMeta {
  name: string;
  isTensor: boolean;
  type?: string;
  /** Numbers are fixed sizes, strings symbolic ones (N, batch); empty when unknown. */
  shape?: ReadonlyArray<number | string>;
}

type TensorData = Float32Array | Float64Array | Int8Array | Uint8Array | Int16Array | Uint16Array | Int32Array | Uint32Array | BigInt64Array | BigUint64Array | string[];

/** A tensor as it crosses to and from the worker. */
export interface WireTensor {
  type: string;
  dims: number[];
  data: TensorData;
}

/** Elements one input may have. */
export const MAX_INPUT_ELEMENTS = 1_000_000;
/** Nesting deeper than this is not a tensor anyone types by hand. */
const MAX_RANK = 16;
/** onnxruntime cannot load a protobuf model beyond 2 GiB. */
const MAX_MODEL_BYTES = 2 ** 31;
const CHUNK_BYTES = 1024 * 1024;
const PARALLEL_READS = 4;
const MODEL_FILE = 'model.onnx';
const SOURCE_FILE = 'source.json';

// ------------------------------------------------------------------ artifact

const baseName = (p: string) => p.slice(p.lastIndexOf('/') + 1);

/**
 * An artifact's path on the cluster: as recorded when absolute (or ~/...), else
 * under the version's artifact directory. A path that leaves that directory
 * (`..`, another absolute path) is refused: a job's files name what is
 * downloaded, and a job must not make the daemon fetch something else.
 */
export function remotePathOf(v: Pick<ModelVersionInfo, 'model' | 'version' | 'artifactPath'>, a: OutputFile): string {
  const root = path.posix.normalize(v.artifactPath).replace(/\/+$/, '');
  const given = a.path.startsWith('/') || a.path === '~' || a.path.startsWith('~/') ? a.path : `${root}/${a.path}`;
  const full = path.posix.normalize(given);
  if (root === '' || !full.startsWith(`${root}/`) || given.split('/').includes('..')) {
    throw new RpcError(ErrorCode.Conflict, `${v.model} v${v.version}: the artifact ${JSON.stringify(a.path)} is not inside the version's artifact directory ${root}; it is not downloaded`);
  }
  return full;
}

/** model.onnx (the one at the artifact directory's top first), else the only *.onnx; otherwise a Conflict saying what there is. */
export function pickOnnxArtifact(v: Pick<ModelVersionInfo, 'model' | 'version' | 'artifactPath' | 'artifacts'>): OutputFile {
  const root = v.artifactPath.replace(/\/+$/, '');
  const rel = (p: string) => (p.startsWith(`${root}/`) ? p.slice(root.length + 1) : p);
  const named = v.artifacts.filter((a) => baseName(a.path) === MODEL_FILE);
  const top = named.find((a) => rel(a.path) === MODEL_FILE);
  if (top) return top;
  if (named.length === 1) return named[0] as OutputFile;
  const onnx = v.artifacts.filter((a) => a.path.toLowerCase().endsWith('.onnx'));
  if (named.length === 0 && onnx.length === 1) return onnx[0] as OutputFile;
  const list = (files: OutputFile[]) => (files.length ? files.map((a) => rel(a.path)).join(', ') : 'none');
  if (onnx.length === 0) {
    throw new RpcError(ErrorCode.Conflict, `${v.model} v${v.version} has no ONNX artifact (model.onnx or another *.onnx file), so it cannot be run here; its artifacts: ${list(v.artifacts)}`);
  }
  throw new RpcError(
    ErrorCode.Conflict,
    `${v.model} v${v.version} has several ONNX files and no single model.onnx to choose: ${list(named.length ? named : onnx)}`,
  );
}

// --------------------------------------------------------------------- input

function describeShape(shape: ReadonlyArray<number | string> | undefined): string {
  if (!shape || shape.length === 0) return 'any shape';
  return shape.map(String).join(' × ');
}

function describeInput(m: ValueMeta): string {
  return m.isTensor ? `${m.name} (${m.type ?? '?'}, ${describeShape(m.shape)})` : `${m.name} (not a tensor)`;
}

function invalid(message: string, field = 'params.input'): RpcError {
  return new RpcError(ErrorCode.InvalidParams, message, { field });
}

const indexPath = (ix: readonly number[]) => ix.map((i) => `[${i}]`).join('');

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'an array';
  if (typeof v === 'string') return `the string ${JSON.stringify(v.length > 20 ? `${v.slice(0, 20)}…` : v)}`;
  if (typeof v === 'object') return 'an object';
  return `${typeof v} ${String(v)}`;
}

/**
 * The shape of a nested array and its elements in row-major order. Throws
 * InvalidParams naming the first place where it is not rectangular.
 */
export function nestedShape(value: unknown, label: string): { dims: number[]; flat: unknown[] } {
  const dims: number[] = [];
  for (let cur: unknown = value; Array.isArray(cur); cur = cur[0]) {
    if (dims.length >= MAX_RANK) throw invalid(`${label} is nested more than ${MAX_RANK} levels deep`);
    dims.push(cur.length);
    if (cur.length === 0) break;
  }
  const total = dims.reduce((a, b) => a * b, 1);
  if (total === 0) throw invalid(`${label} is empty${dims.length > 1 ? ` (shape ${dims.join(' × ')})` : ''}`);
  if (total > MAX_INPUT_ELEMENTS) throw invalid(`${label} has ${total} elements; models/try takes at most ${MAX_INPUT_ELEMENTS}`);
  const flat: unknown[] = [];
  const ix: number[] = [];
  const walk = (v: unknown, depth: number): void => {
    if (depth === dims.length) {
      if (Array.isArray(v)) {
        throw invalid(`${label}${indexPath(ix)} is an array, but ${label}${indexPath(ix.map(() => 0))} is not; the array must be rectangular (shape ${dims.join(' × ')})`);
      }
      flat.push(v);
      return;
    }
    if (!Array.isArray(v)) {
      throw invalid(`${label}${indexPath(ix)} is ${kindOf(v)}, but an array of ${dims[depth]} was expected there; the array must be rectangular (shape ${dims.join(' × ')})`);
    }
    if (v.length !== dims[depth]) {
      const first = indexPath(ix.map(() => 0));
      throw invalid(
        `${label}${indexPath(ix)} has ${v.length} element${v.length === 1 ? '' : 's'}, but ${label}${first} has ${dims[depth]}; the array must be rectangular`,
      );
    }
    for (let i = 0; i < v.length; i++) {
      ix.push(i);
      walk(v[i], depth + 1);
      ix.pop();
    }
  };
  walk(value, 0);
  return { dims, flat };
}

const INT_RANGES: Record<string, [number, number]> = {
  int8: [-128, 127],
  uint8: [0, 255],
  int16: [-32768, 32767],
  uint16: [0, 65535],
  int32: [-(2 ** 31), 2 ** 31 - 1],
  uint32: [0, 2 ** 32 - 1],
  int64: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER],
  uint64: [0, Number.MAX_SAFE_INTEGER],
};

const SUPPORTED_TYPES = ['float32', 'float64', ...Object.keys(INT_RANGES), 'bool', 'string'];

/** The flat values as the typed array onnxruntime wants for `type`; InvalidParams naming the first bad element. */
export function typedData(type: string, flat: readonly unknown[], dims: readonly number[], label: string): TensorData {
  const where = (i: number) => {
    if (dims.length === 0) return label;
    const ix: number[] = [];
    for (let d = dims.length - 1, rest = i; d >= 0; d--) {
      ix.unshift(rest % (dims[d] as number));
      rest = Math.floor(rest / (dims[d] as number));
    }
    return `${label}${indexPath(ix)}`;
  };
  const n = flat.length;
  if (type === 'float32' || type === 'float64') {
    const out = type === 'float32' ? new Float32Array(n) : new Float64Array(n);
    for (let i = 0; i < n; i++) {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isFinite(v)) throw invalid(`${where(i)} is ${kindOf(v)}, not a number (the input is ${type})`);
      out[i] = v;
    }
    return out;
  }
  const range = INT_RANGES[type];
  if (range) {
    const check = (i: number): number => {
      const v = flat[i];
      if (typeof v !== 'number' || !Number.isInteger(v)) throw invalid(`${where(i)} is ${kindOf(v)}, not an integer (the input is ${type})`);
      if (v < range[0] || v > range[1]) throw invalid(`${where(i)} is ${v}, outside ${type}'s range ${range[0]} to ${range[1]}`);
      return v;
    };
    if (type === 'int64' || type === 'uint64') {
      const out = type === 'int64' ? new BigInt64Array(n) : new BigUint64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(check(i));
      return out;
    }
    const Ctor = { int8: Int8Array, uint8: Uint8Array, int16: Int16Array, uint16: Uint16Array, int32: Int32Array, uint32: Uint32Array }[type as 'int8'];
    const out = new Ctor(n);
    for (let i = 0; i < n; i++) out[i] = check(i);
    return out;
  }
  if (type === 'bool') {
    const out = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const v = flat[i];
      if (v !== true && v !== false && v !== 0 && v !== 1) throw invalid(`${where(i)} is ${kindOf(v)}, not true or false (the input is bool)`);
      out[i] = v === true || v === 1 ? 1 : 0;
    }
    return out;
  }
  if (type === 'string') {
    const out: string[] = [];
    for (let i = 0; i < n; i++) {
      const v = flat[i];
      if (typeof v !== 'string') throw invalid(`${where(i)} is ${kindOf(v)}, not a string (the input is string)`);
      out.push(v);
    }
    return out;
  }
  throw invalid(`${label} has type ${type}, which models/try does not support (it supports ${SUPPORTED_TYPES.join(', ')})`);
}

/** One input's value as a tensor, checked against what the model declares. */
export function toTensor(value: unknown, meta: ValueMeta, label = `input "${meta.name}"`): WireTensor {
  if (!meta.isTensor || !meta.type) throw invalid(`the model's input "${meta.name}" is not a tensor; models/try only feeds tensors`);
  let dims: number[];
  let flat: unknown[];
  if (Array.isArray(value)) {
    ({ dims, flat } = nestedShape(value, label));
  } else {
    dims = [];
    flat = [value];
  }
  const declared = meta.shape ?? [];
  if (declared.length > 0) {
    // One sample without its batch dimension: [1, 2, 3] for an N × 3 input.
    const batch = declared[0];
    if (dims.length === declared.length - 1 && dims.length > 0 && (typeof batch === 'string' || batch === 1)) dims = [1, ...dims];
    if (dims.length !== declared.length) {
      const got = dims.length === 0 ? `a single ${kindOf(value)}` : `${dims.length} dimension${dims.length === 1 ? '' : 's'} (${dims.join(' × ')})`;
      throw invalid(`${label} needs ${declared.length} dimension${declared.length === 1 ? '' : 's'} (${describeShape(declared)}); got ${got}`);
    }
    for (let d = 0; d < declared.length; d++) {
      const want = declared[d];
      if (typeof want === 'number' && want !== dims[d]) {
        throw invalid(
          `${label} has ${dims[d]} at dimension ${d + 1} of ${declared.length}, but the model needs ${want} there (its shape is ${describeShape(declared)}; got ${dims.join(' × ')})`,
        );
      }
    }
  }
  return { type: meta.type, dims, data: typedData(meta.type, flat, dims, label) };
}

/**
 * The feeds for a run. `input` is `{ "<inputName>": value, ... }` naming
 * every input, or for a model with one input, just its value (a nested array).
 */
export function buildFeeds(input: unknown, inputs: readonly ValueMeta[]): Record<string, WireTensor> {
  const known = inputs.map(describeInput).join(', ') || 'none';
  if (input === undefined || input === null) throw invalid(`no input given; the model's inputs: ${known}`);
  const feeds: Record<string, WireTensor> = {};
  if (typeof input !== 'object' || Array.isArray(input)) {
    if (inputs.length !== 1) {
      const example = inputs.map((m) => `"${m.name}": [...]`).join(', ');
      throw invalid(`the model has ${inputs.length} inputs (${known}); give them by name: { ${example} }`);
    }
    const only = inputs[0] as ValueMeta;
    feeds[only.name] = toTensor(input, only, 'input');
    return feeds;
  }
  const given = input as Record<string, unknown>;
  const names = new Set(inputs.map((m) => m.name));
  const unknown = Object.keys(given).filter((k) => !names.has(k));
  if (unknown.length) {
    throw invalid(`the model has no input ${unknown.map((k) => `"${k}"`).join(', ')}; its inputs: ${known}`, `params.input.${unknown[0]}`);
  }
  const missing = inputs.filter((m) => !(m.name in given));
  if (missing.length) {
    throw invalid(`input ${missing.map((m) => `"${m.name}"`).join(', ')} missing; the model's inputs: ${known}`);
  }
  for (const m of inputs) feeds[m.name] = toTensor(given[m.name], m);
  return feeds;
}

// -------------------------------------------------------------------- output

/** A tensor as plain JSON: nested arrays by its dims (a scalar for none); 64-bit integers as numbers, bool as booleans. */
export function tensorToJson(t: WireTensor): unknown {
  const src = t.data as ArrayLike<unknown>;
  const value = t.type === 'bool' ? (i: number) => src[i] !== 0 : (i: number) => (typeof src[i] === 'bigint' ? Number(src[i]) : src[i]);
  const dims = t.dims;
  const strides = dims.map((_, d) => dims.slice(d + 1).reduce((a, b) => a * b, 1));
  const build = (offset: number, d: number): unknown => {
    if (d === dims.length) return value(offset);
    const out: unknown[] = [];
    for (let i = 0; i < (dims[d] as number); i++) out.push(build(offset + i * (strides[d] as number), d + 1));
    return out;
  };
  return build(0, 0);
}

// -------------------------------------------------------------------- worker

// Plain JavaScript, evaluated as the worker's script: it works the same from
// the sources (tsx) and from the bundle, with no file of its own to ship.
// Requests are handled one at a time: a session is never released while a
// run that uses it waits.
const WORKER_SOURCE = `
'use strict';
const { parentPort, workerData } = require('node:worker_threads');
const { performance } = require('node:perf_hooks');
const ort = require(workerData.ortPath);
const sessions = new Map();
function drop(entry) { entry.promise.then((s) => s.release(), () => {}); }
function open(file, stamp) {
  let e = sessions.get(file);
  if (e && e.stamp !== stamp) { sessions.delete(file); drop(e); e = undefined; }
  if (e) { sessions.delete(file); sessions.set(file, e); return e.promise; }
  const entry = { stamp, promise: ort.InferenceSession.create(file, workerData.sessionOptions) };
  sessions.set(file, entry);
  entry.promise.catch(() => { if (sessions.get(file) === entry) sessions.delete(file); });
  while (sessions.size > workerData.maxSessions) {
    const [k, old] = sessions.entries().next().value;
    sessions.delete(k);
    drop(old);
  }
  return entry.promise;
}
const meta = (list) => list.map((m) => (m.isTensor ? { name: m.name, isTensor: true, type: m.type, shape: Array.from(m.shape) } : { name: m.name, isTensor: false }));
async function handle(m) {
  const s = await open(m.file, m.stamp);
  if (m.op === 'load') return { inputs: meta(s.inputMetadata), outputs: meta(s.outputMetadata) };
  const feeds = {};
  for (const [name, t] of Object.entries(m.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
  const t0 = performance.now();
  const results = await s.run(feeds);
  const latencyMs = performance.now() - t0;
  const outputs = {};
  for (const name of s.outputNames) {
    const t = results[name];
    outputs[name] = { type: t.type, dims: Array.from(t.dims), data: t.type === 'string' ? Array.from(t.data) : t.data.slice() };
  }
  return { outputs, latencyMs };
}
let chain = Promise.resolve();
parentPort.on('message', (m) => {
  chain = chain.then(() => handle(m)).then(
    (result) => parentPort.postMessage({ id: m.id, ok: true, result }),
    (err) => parentPort.postMessage({ id: m.id, ok: false, message: String((err && err.message) || err) }),
  );
});
`;

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

type WorkerRequest =
  | { op: 'load'; file: string; stamp: string }
  | { op: 'run'; file: string; stamp: string; feeds: Record<string, WireTensor> };

interface LoadResult {
  inputs: ValueMeta[];
  outputs: ValueMeta[];
}

interface RunResult {
  outputs: Record<string, WireTensor>;
  latencyMs: number;
}

/**
 * One onnxruntime worker thread: started on first use, started again after it
 * died or was stopped for taking too long. Also serves runtime estimates
 * (daemon/runtime/serve.ts), with a worker of their own.
 */
export class OnnxWorker {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(
    private readonly log: Logger,
    private readonly timeoutMs: number,
    private readonly maxSessions: number,
  ) {}

  call(req: { op: 'load'; file: string; stamp: string }, what: string): Promise<LoadResult>;
  call(req: { op: 'run'; file: string; stamp: string; feeds: Record<string, WireTensor> }, what: string): Promise<RunResult>;
  call(req: WorkerRequest, what: string): Promise<unknown> {
    const w = this.ensure();
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.log.warn('onnxruntime worker stopped: took too long', { what, timeoutMs: this.timeoutMs });
        this.stop(w, new RpcError(ErrorCode.InternalError, `${what} took longer than ${Math.round(this.timeoutMs / 1000)} s; stopped`));
      }, this.timeoutMs);
      this.pending.set(id, { resolve, reject, timer });
      w.ref();
      const transfer = req.op === 'run' ? Object.values(req.feeds).flatMap((t) => (Array.isArray(t.data) ? [] : [t.data.buffer as ArrayBuffer])) : [];
      w.postMessage({ id, ...req }, transfer);
    });
  }

  private ensure(): Worker {
    if (this.worker) return this.worker;
    let ortPath: string;
    try {
      ortPath = require.resolve('onnxruntime-node');
    } catch {
      throw new RpcError(ErrorCode.InternalError, 'onnxruntime-node is not installed next to the daemon, so models cannot be run locally');
    }
    const w = new Worker(WORKER_SOURCE, {
      eval: true,
      workerData: {
        ortPath,
        maxSessions: this.maxSessions,
        sessionOptions: { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all' },
      },
    });
    w.on('message', (m: { id: number; ok: boolean; result?: unknown; message?: string }) => {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      clearTimeout(p.timer);
      if (this.pending.size === 0) w.unref();
      if (m.ok) p.resolve(m.result);
      else p.reject(new RpcError(ErrorCode.InternalError, `onnxruntime: ${m.message ?? 'failed'}`));
    });
    w.on('error', (err) => {
      this.log.error('onnxruntime worker failed', { error: err });
      this.stop(w, new RpcError(ErrorCode.InternalError, `onnxruntime worker failed: ${err.message}`));
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.stop(w, new RpcError(ErrorCode.InternalError, `onnxruntime worker exited (code ${code})`));
    });
    w.unref();
    this.worker = w;
    return w;
  }

  /** Ends the worker and fails whatever it was doing. */
  stop(w: Worker | undefined = this.worker, why: Error): Promise<void> {
    if (!w || w !== this.worker) return Promise.resolve();
    this.worker = undefined;
    for (const p of this.pending.values()) {
      clearTimeout(p.timer);
      p.reject(why);
    }
    this.pending.clear();
    return w.terminate().then(() => undefined);
  }
}

// -------------------------------------------------------------------- runner

interface CacheSource {
  cluster: string;
  path: string;
  size: number;
  trainingJob: string | null;
}

export class LocalRunner {
  private readonly worker: OnnxWorker;
  /** Downloads under way, by cache file. */
  private readonly downloads = new Map<string, Promise<void>>();
  /** Inputs and outputs of loaded files, by file, for the stamp they were read at. */
  private readonly meta = new Map<string, { stamp: string; meta: LoadResult }>();
  private closed = false;

  constructor(private readonly d: LocalRunnerDeps) {
    this.worker = new OnnxWorker(d.log, d.timeoutMs ?? 60_000, d.maxSessions ?? 4);
  }

  async run(ref: string, input: unknown): Promise<TryResult> {
    if (this.closed) throw new RpcError(ErrorCode.Conflict, 'the daemon is shutting down');
    const v = this.d.models.resolve(ref);
    const artifact = pickOnnxArtifact(v);
    const what = `${v.model} v${v.version}`;
    const { file, cached } = await this.ensureFile(v, artifact);
    const st = await fs.promises.stat(file);
    const stamp = `${st.size}:${st.mtimeMs}`;
    let known = this.meta.get(file);
    if (known?.stamp !== stamp) {
      known = { stamp, meta: await this.worker.call({ op: 'load', file, stamp }, `loading ${what}`) };
      this.meta.set(file, known);
    }
    const feeds = buildFeeds(input, known.meta.inputs);
    const r = await this.worker.call({ op: 'run', file, stamp, feeds }, `running ${what}`);
    const outputs: Record<string, unknown> = {};
    for (const [name, t] of Object.entries(r.outputs)) outputs[name] = tensorToJson(t);
    this.d.log.debug('models/try ran', { model: v.model, version: v.version, latencyMs: r.latencyMs, cached });
    return { model: v.model, version: v.version, outputs, latencyMs: Math.round(r.latencyMs * 1000) / 1000, cached };
  }

  /** Stops the worker; runs still waiting fail. */
  async close(): Promise<void> {
    this.closed = true;
    await this.worker.stop(undefined, new RpcError(ErrorCode.Conflict, 'the daemon is shutting down'));
  }

  /** Where a version's model lives in the cache. */
  cachePath(model: string, version: number): string {
    return path.join(this.d.cacheDir, model, `v${version}`, MODEL_FILE);
  }

  private async ensureFile(v: ModelVersionInfo, artifact: OutputFile): Promise<{ file: string; cached: boolean }> {
    const file = this.cachePath(v.model, v.version);
    const source: CacheSource = { cluster: v.cluster, path: remotePathOf(v, artifact), size: artifact.size, trainingJob: v.trainingJob };
    if (await this.isCached(file, source)) return { file, cached: true };
    let running = this.downloads.get(file);
    if (!running) {
      running = this.download(v, artifact, file, source).finally(() => this.downloads.delete(file));
      this.downloads.set(file, running);
    }
    await running;
    return { file, cached: false };
  }

  /** The file is there with the recorded size, downloaded from the same artifact of the same version. */
  private async isCached(file: string, source: CacheSource): Promise<boolean> {
    try {
      const st = await fs.promises.stat(file);
      if (!st.isFile() || st.size !== source.size) return false;
      const recorded = JSON.parse(await fs.promises.readFile(path.join(path.dirname(file), SOURCE_FILE), 'utf8')) as Partial<CacheSource>;
      return recorded.cluster === source.cluster && recorded.path === source.path && recorded.size === source.size && recorded.trainingJob === source.trainingJob;
    } catch {
      return false;
    }
  }

  private async download(v: ModelVersionInfo, artifact: OutputFile, file: string, source: CacheSource): Promise<void> {
    const what = `${v.model} v${v.version}`;
    const size = artifact.size;
    if (size > MAX_MODEL_BYTES) throw new RpcError(ErrorCode.Conflict, `${what}'s ${baseName(artifact.path)} is ${size} bytes; onnxruntime loads models up to 2 GiB`);
    const cluster = this.d.clusters.find(v.cluster);
    if (!cluster) throw new RpcError(ErrorCode.NotFound, `${what} is stored on cluster "${v.cluster}", which is no longer registered`);
    const started = Date.now();
    const s: RemoteSession = await this.d.connections.session(cluster);
    const remote = remotePathOf(v, artifact);
    const onCluster = `${remote} on cluster ${v.cluster}`;
    const failed = (err: unknown): never => {
      if (err instanceof RpcError && err.code === ErrorCode.RemoteFileFailed) throw new RpcError(err.code, `downloading ${what} (${remote}): ${err.message}`);
      throw err;
    };
    const st = await s.stat(remote).catch(failed);
    // Symlinks resolved on the cluster: a link out of the artifact directory (to ~/.ssh, say) is not followed.
    const real = await s.exec(['realpath', '-e', '--', v.artifactPath, remote], { timeoutMs: 30_000 });
    const [realRoot, realFile] = real.stdout.split('\n');
    if (real.code !== 0 || !realRoot || !realFile?.startsWith(`${realRoot}/`)) {
      throw new RpcError(
        ErrorCode.Conflict,
        real.code !== 0
          ? `${onCluster}: could not resolve its real path (realpath: ${real.stderr.trim() || `exit ${real.code}`}), so it is not downloaded`
          : `${onCluster} resolves to ${realFile}, outside the version's artifact directory ${realRoot}; it is not downloaded`,
      );
    }
    if (st.size !== size) {
      throw new RpcError(ErrorCode.Conflict, `${onCluster} is ${st.size} bytes now, but ${what} recorded ${size}: the file changed after the version was registered`);
    }
    const dir = path.dirname(file);
    await fs.promises.mkdir(dir, { recursive: true, mode: 0o700 });
    const tmp = `${file}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`;
    const fh = await fs.promises.open(tmp, 'wx', 0o600);
    let next = 0;
    try {
      const reader = async () => {
        while (next < size) {
          const offset = next;
          const length = Math.min(CHUNK_BYTES, size - offset);
          next += length;
          const buf = await s.readRange(remote, offset, length).catch(failed);
          if (buf.length !== length) {
            throw new RpcError(ErrorCode.Conflict, `${onCluster} ended at ${offset + buf.length} bytes while downloading; ${what} recorded ${size}`);
          }
          await fh.write(buf, 0, length, offset);
        }
      };
      await Promise.all(Array.from({ length: Math.min(PARALLEL_READS, Math.max(1, Math.ceil(size / CHUNK_BYTES))) }, reader));
      const beyond = await s.readRange(remote, size, 1).catch(failed);
      if (beyond.length > 0) throw new RpcError(ErrorCode.Conflict, `${onCluster} grew past the ${size} bytes ${what} recorded while downloading`);
      await fh.sync();
      await fh.close();
      await fs.promises.rename(tmp, file);
    } catch (err) {
      next = Number.POSITIVE_INFINITY; // the other readers stop after their current chunk
      await fh.close().catch(() => undefined);
      await fs.promises.rm(tmp, { force: true });
      throw err;
    }
    // Written after the model: a file without its matching source is downloaded again.
    const sourceTmp = path.join(dir, `${SOURCE_FILE}.${process.pid}.tmp`);
    await fs.promises.writeFile(sourceTmp, JSON.stringify(source) + '\n', { mode: 0o600 });
    await fs.promises.rename(sourceTmp, path.join(dir, SOURCE_FILE));
    this.d.log.info('models/try downloaded a model', { model: v.model, version: v.version, bytes: size, ms: Date.now() - started });
  }
}
