// Serving runtime models with onnxruntime-node: a version's model.onnx (written
// by onnxExport.ts: float[N, d] in, calibrated ascending quantiles of log
// runtime out) in one InferenceSession with one intra-op thread, inside a
// worker thread of its own (the OnnxWorker models/try uses), because
// session.run is a synchronous native call that would stall the daemon's event
// loop. Large batches go in chunks, one after another: a single estimate asked
// meanwhile waits for one chunk, not for the whole batch.
//
// Requests of a few rows (an estimate while a script is edited) run on a
// session in the daemon's own thread instead: 0.03 ms p50 / 0.13 ms p99 for
// one row, where the round trip to the worker alone costs 0.12 / 0.48 ms and,
// with the daemon busy, put an estimate's p99 at 3 ms against the 1 ms goal.
// That blocks the event loop no longer than parsing the script does.
import * as fs from 'node:fs';
import type { InferenceSession } from 'onnxruntime-node';
import { OnnxWorker } from '../models/tryLocal';
import type { Logger } from '../log';

/** At most this many rows run in the daemon's thread (≈ 0.5 ms at 140k rows/s); more go to the worker. */
export const IN_THREAD_ROWS = 64;
const SESSION_OPTIONS: InferenceSession.SessionOptions = { intraOpNumThreads: 1, interOpNumThreads: 1, executionProviders: ['cpu'], graphOptimizationLevel: 'all' };

/** Rows per session.run: about 0.1 s of work, big enough that messaging costs nothing. */
export const CHUNK_ROWS = 16_384;

export interface ServedModel {
  file: string;
  /** size:mtime when loaded; the worker reloads the session when the file changes. */
  stamp: string;
  /** Features per row and quantiles per row, as the file declares them. */
  features: number;
  quantiles: number;
}

export class RuntimePredictor {
  private readonly worker: OnnxWorker;
  private readonly maxSessions: number;
  /** Sessions in this thread for small requests, by file, least recently used first. */
  private readonly here = new Map<string, { stamp: string; session: Promise<InferenceSession> }>();
  private ort: typeof import('onnxruntime-node') | undefined;

  constructor(log: Logger, options: { timeoutMs?: number; maxSessions?: number } = {}) {
    this.maxSessions = options.maxSessions ?? 4;
    this.worker = new OnnxWorker(log, options.timeoutMs ?? 60_000, this.maxSessions);
  }

  /** Opens the file's session in the worker and checks it is a runtime model: input float[N, d], output float[N, q]. */
  async load(file: string): Promise<ServedModel> {
    const st = await fs.promises.stat(file);
    const stamp = `${st.size}:${st.mtimeMs}`;
    const meta = await this.worker.call({ op: 'load', file, stamp }, `loading ${file}`);
    const [input] = meta.inputs;
    const [output] = meta.outputs;
    const d = input?.shape?.[1];
    const q = output?.shape?.[1];
    if (meta.inputs.length !== 1 || input?.type !== 'float32' || typeof d !== 'number' || meta.outputs.length < 1 || output?.type !== 'float32' || typeof q !== 'number') {
      throw new Error(`${file} is not a runtime model (one float32 input N × d, a float32 output N × q)`);
    }
    return { file, stamp, features: d, quantiles: q };
  }

  /**
   * The model's output for n rows of features (row-major, NaN = missing):
   * n × q float32, each row's quantiles of log runtime in ascending order.
   */
  async predict(m: ServedModel, X: Float64Array, n: number): Promise<Float32Array> {
    const d = m.features;
    if (X.length < n * d) throw new Error(`predict: ${X.length} values for ${n} rows of ${d} features`);
    if (n <= IN_THREAD_ROWS) return this.runHere(m, X, n);
    const out = new Float32Array(n * m.quantiles);
    for (let from = 0; from < n; from += CHUNK_ROWS) {
      const rows = Math.min(CHUNK_ROWS, n - from);
      // A fresh float32 copy per chunk: it is transferred to the worker, not cloned.
      const data = new Float32Array(X.subarray(from * d, (from + rows) * d));
      const r = await this.worker.call({ op: 'run', file: m.file, stamp: m.stamp, feeds: { input: { type: 'float32', dims: [rows, d], data } } }, `estimating runtimes with ${m.file}`);
      const result = Object.values(r.outputs)[0];
      if (!result || result.data.length !== rows * m.quantiles) throw new Error(`${m.file} answered ${result?.data.length ?? 0} values for ${rows} rows`);
      out.set(result.data as Float32Array, from * m.quantiles);
    }
    return out;
  }

  private async runHere(m: ServedModel, X: Float64Array, n: number): Promise<Float32Array> {
    let entry = this.here.get(m.file);
    if (entry && entry.stamp !== m.stamp) {
      this.drop(m.file);
      entry = undefined;
    }
    if (!entry) {
      // Loaded only when first needed, so a daemon without onnxruntime-node still starts.
      const ort = (this.ort ??= await import('onnxruntime-node'));
      entry = { stamp: m.stamp, session: ort.InferenceSession.create(m.file, SESSION_OPTIONS) };
      const created = entry;
      created.session.catch(() => {
        if (this.here.get(m.file) === created) this.here.delete(m.file);
      });
      while (this.here.size >= this.maxSessions) this.drop(this.here.keys().next().value as string);
    } else {
      this.here.delete(m.file);
    }
    this.here.set(m.file, entry);
    const session = await entry.session;
    const d = m.features;
    const out = await session.run({ input: new this.ort!.Tensor('float32', new Float32Array(X.subarray(0, n * d)), [n, d]) });
    const t = out[session.outputNames[0]!];
    if (!t || t.data.length !== n * m.quantiles) throw new Error(`${m.file} answered ${t?.data.length ?? 0} values for ${n} rows`);
    return t.data as Float32Array;
  }

  private drop(file: string): void {
    const e = this.here.get(file);
    this.here.delete(file);
    e?.session.then((s) => s.release(), () => undefined);
  }

  /** Stops the worker and releases this thread's sessions; predictions under way fail. */
  async close(): Promise<void> {
    for (const file of [...this.here.keys()]) this.drop(file);
    await this.worker.stop(undefined, new Error('the daemon is shutting down'));
  }
}
