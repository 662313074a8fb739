// The only thing that polls the cluster: every interval, one batched refresh
// per cluster that has active jobs. A cluster whose refresh fails is left
// alone for a growing while, so a broken login node is not hammered.
import type { JobInfo } from '../protocol';
import type { JobStore } from '../db/registry';
import type { Logger } from '../log';
import type { JobService } from './service';

export interface PollerStatus {
  running: boolean;
  intervalMs: number;
  lastCycleAt: string | null;
  lastError: string | null;
}

const MAX_BACKOFF_MS = 5 * 60_000;
/** After a submit or cancel, poll this often for a while: that is when people watch. */
const FAST_INTERVAL_MS = 2000;
const FAST_PERIOD_MS = 60_000;

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private cycling: Promise<void> | undefined;
  private again = false;
  private lastCycleAt: string | null = null;
  private lastError: string | null = null;
  private fastUntil = 0;
  private readonly failures = new Map<string, { count: number; until: number }>();

  constructor(
    private readonly d: { jobService: JobService; jobs: JobStore; intervalMs: number; log: Logger },
  ) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule(0);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  /** Poll soon (after a submit or cancel) instead of at the next interval. */
  kick(): void {
    if (!this.running) return;
    this.fastUntil = Date.now() + FAST_PERIOD_MS;
    if (this.cycling) this.again = true;
    else this.schedule(200);
  }

  status(): PollerStatus {
    return {
      running: this.running,
      intervalMs: this.d.intervalMs,
      lastCycleAt: this.lastCycleAt,
      lastError: this.lastError,
    };
  }

  private schedule(ms: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => void this.cycle(), ms);
  }

  /** One pass over every cluster with active jobs; exposed for tests. */
  async cycle(): Promise<void> {
    if (this.cycling) return this.cycling;
    this.cycling = this.runCycle().finally(() => {
      this.cycling = undefined;
      const soon = this.again;
      this.again = false;
      const interval = Date.now() < this.fastUntil ? Math.min(FAST_INTERVAL_MS, this.d.intervalMs) : this.d.intervalMs;
      this.schedule(soon ? 200 : interval);
    });
    return this.cycling;
  }

  private async runCycle(): Promise<void> {
    const byCluster = new Map<string, JobInfo[]>();
    for (const job of this.d.jobs.active()) {
      if (job.slurmJobId === null) continue;
      const list = byCluster.get(job.cluster) ?? [];
      list.push(job);
      byCluster.set(job.cluster, list);
    }
    const now = Date.now();
    const errors: string[] = [];
    await Promise.all(
      [...byCluster].map(async ([name, jobs]) => {
        const f = this.failures.get(name);
        if (f && f.until > now) return;
        try {
          const cluster = this.d.jobService.clusterOf(jobs[0]!);
          await this.d.jobService.refresh(cluster, jobs);
          this.failures.delete(name);
        } catch (err) {
          const count = (f?.count ?? 0) + 1;
          const wait = Math.min(MAX_BACKOFF_MS, this.d.intervalMs * 2 ** count);
          this.failures.set(name, { count, until: Date.now() + wait });
          const message = `${name}: ${(err as Error).message}`;
          errors.push(message);
          this.d.log.warn('poll failed', { cluster: name, error: (err as Error).message, retryInMs: wait });
        }
      }),
    );
    this.lastCycleAt = new Date().toISOString();
    this.lastError = errors.length ? errors.join('; ') : null;
  }
}
