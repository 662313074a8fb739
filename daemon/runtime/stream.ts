// Estimate streams: a client keeps sending the script it is editing under one
// id, and wants the estimate of what it has now, not of every keystroke. Each
// stream holds only its newest update; an evaluation starts `delayMs` after
// the first update that found the stream idle, takes whatever is newest then,
// and its result is sent only if no newer update arrived meanwhile (else it
// is dropped and the newest is evaluated next). So a burst of N updates costs
// a few evaluations, and the last answer is always for the last update.
import type { RuntimeEstimate } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { Logger } from '../log';

export interface EstimateParams {
  cluster: string;
  script: string;
  sbatchArgs: string[];
  expectedStart: boolean;
}

export interface EstimateResultMessage {
  id: string;
  revision: number;
  estimate: RuntimeEstimate | null;
  error: { code: number; message: string } | null;
  evaluations: number;
  skipped: number;
}

interface Stream {
  id: string;
  revision: number;
  latest: EstimateParams;
  delayMs: number;
  timer: NodeJS.Timeout | undefined;
  running: boolean;
  evaluations: number;
  /** Updates never evaluated (replaced while waiting) plus evaluations whose result went stale. */
  skipped: number;
  /** The revision the last evaluation (or the last dropped update) covered. */
  coveredRevision: number;
  closed: boolean;
}

/** One client's streams. */
export class EstimateStreams {
  private readonly streams = new Map<string, Stream>();

  constructor(
    private readonly evaluate: (p: EstimateParams) => Promise<RuntimeEstimate>,
    private readonly send: (m: EstimateResultMessage) => void,
    private readonly log: Logger,
  ) {}

  /** Records the newest update of a stream; returns its revision. */
  update(id: string, p: EstimateParams, delayMs: number): number {
    let s = this.streams.get(id);
    if (!s) {
      s = { id, revision: 0, latest: p, delayMs, timer: undefined, running: false, evaluations: 0, skipped: 0, coveredRevision: 0, closed: false };
      this.streams.set(id, s);
    }
    s.revision++;
    s.latest = p;
    s.delayMs = delayMs;
    this.schedule(s);
    return s.revision;
  }

  unwatch(id: string): boolean {
    const s = this.streams.get(id);
    if (!s) return false;
    s.closed = true;
    clearTimeout(s.timer);
    this.streams.delete(id);
    return true;
  }

  closeAll(): void {
    for (const id of [...this.streams.keys()]) this.unwatch(id);
  }

  get size(): number {
    return this.streams.size;
  }

  private schedule(s: Stream): void {
    // A running evaluation schedules the next one when it ends; a waiting one takes the newest anyway.
    if (s.running || s.timer !== undefined) return;
    s.timer = setTimeout(() => {
      s.timer = undefined;
      void this.run(s);
    }, s.delayMs);
  }

  private async run(s: Stream): Promise<void> {
    if (s.closed) return;
    const revision = s.revision;
    // Updates between the last covered one and this one were replaced before they were evaluated.
    s.skipped += Math.max(0, revision - s.coveredRevision - 1);
    s.coveredRevision = revision;
    s.running = true;
    s.evaluations++;
    let estimate: RuntimeEstimate | null = null;
    let error: EstimateResultMessage['error'] = null;
    try {
      estimate = await this.evaluate(s.latest);
    } catch (err) {
      error = err instanceof RpcError ? { code: err.code, message: err.message } : { code: -32603, message: (err as Error)?.message ?? String(err) };
      if (!(err instanceof RpcError)) this.log.warn('streamed estimate failed', { stream: s.id, error: error.message });
    } finally {
      s.running = false;
    }
    if (s.closed) return;
    if (s.revision !== revision) {
      // Stale: a newer update arrived while this one ran. Nobody wants this answer.
      s.skipped++;
      this.schedule(s);
      return;
    }
    this.send({ id: s.id, revision, estimate, error, evaluations: s.evaluations, skipped: s.skipped });
  }
}
