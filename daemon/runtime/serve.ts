// Serving runtime models with onnxruntime-node: a version's model.onnx (written
// by onnxExport.ts: float[N, d] in, calibrated ascending quantiles of log
// runtime out) in one InferenceSession with one intra-op thread, inside a
// worker thread of its own (the OnnxWorker models/try uses), because
// session.run is a synchronous native call that would stall the daemon's event
// loop. Large batches go in chunks, one after another: a single estimate asked
// meanwhile waits for one chunk, not for the whole batch.
import * as fs from 'node:fs';
import { OnnxWorker } from '../models/tryLocal';
import type { Logger } from '../log';

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

  constructor(log: Logger, options: { timeoutMs?: number; maxSessions?: number } = {}) {
    this.worker = new OnnxWorker(log, options.timeoutMs ?? 60_000, options.maxSessions ?? 4);
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

  /** Stops the worker; predictions under way fail. */
  close(): Promise<void> {
    return this.worker.stop(undefined, new Error('the daemon is shutting down'));
  }
}
