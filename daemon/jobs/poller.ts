// The only thing that polls the clusters. Per cluster with jobs to follow,
// one batched refresh per cycle (one squeue for all its jobs), on a schedule
// that is polite to login nodes:
//
// - every `intervalMs` (default 30 s, the common site rule for squeue);
// - right after a submit or cancel, a few quick looks (2, 5, 10, 20 s), since
//   that is when a person is watching;
// - slower when nothing changes (x2 after 5 quiet cycles, x4 after 10) and
//   when no client is connected (x2);
// - not at all when the cluster has no job to follow;
// - after a failure, exponential backoff with jitter (at most 5 min).
import type { JobStore, TrackedJob } from '../db/registry';
import type { Logger } from '../log';
import { isTerminalState } from './states';
import type { JobService, RefreshStats } from './service';

export interface PollerStatus {
  running: boolean;
  intervalMs: number;
  lastCycleAt: string | null;
  lastError: string | null;
}

export interface ClusterPollStatus {
  pollIntervalMs: number;
  lastPollAt: string | null;
  nextPollAt: string | null;
  paused: string | null;
}

export interface PollerDeps {
  jobService: JobService;
  jobs: JobStore;
  log: Logger;
  /** The steady interval: the floor that respects the site (tests set it low). */
  intervalMs: number;
  /** Whether any client is connected (nobody watching: poll less). */
  hasClients?: () => boolean;
  /** Extra per-cluster work after each refresh (e.g. reading progress from logs). */
  afterRefresh?: (cluster: string, jobs: TrackedJob[]) => Promise<void>;
  /** Work after every tick, also when nothing is followed (e.g. results not yet collected). */
  afterTick?: () => Promise<void>;
  /** Told of each cluster's cycle (the metrics): outcome and seconds, progress reading included. */
  onCycle?: (cluster: string, outcome: 'ok' | 'error', seconds: number) => void;
}

const MAX_BACKOFF_MS = 5 * 60_000;
const FAST_STEPS_MS = [2000, 5000, 10_000, 20_000];

interface ClusterSchedule {
  nextAt: number;
  lastPollAt: number | null;
  intervalMs: number;
  quietCycles: number;
  failures: number;
  fast: number[];
  lastError: string | null;
}

export class Poller {
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private ticking: Promise<unknown> | undefined;
  private lastCycleAt: string | null = null;
  private lastError: string | null = null;
  private readonly schedules = new Map<string, ClusterSchedule>();

  constructor(private readonly d: PollerDeps) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.arm(0);
  }

  stop(): void {
    this.running = false;
    clearTimeout(this.timer);
  }

  private schedule(cluster: string): ClusterSchedule {
    let s = this.schedules.get(cluster);
    if (!s) {
      s = { nextAt: 0, lastPollAt: null, intervalMs: this.d.intervalMs, quietCycles: 0, failures: 0, fast: [], lastError: null };
      this.schedules.set(cluster, s);
    }
    return s;
  }

  /** A submit or cancel happened on this cluster: look again soon, then a few more times. */
  kick(cluster?: string): void {
    const names = cluster ? [cluster] : [...new Set(this.d.jobs.activeRefs().map((j) => j.cluster))];
    for (const name of names) {
      const s = this.schedule(name);
      s.fast = FAST_STEPS_MS.map((ms) => Math.min(ms, this.d.intervalMs));
      s.nextAt = Math.min(s.nextAt, Date.now() + s.fast.shift()!);
      s.quietCycles = 0;
      s.failures = 0;
    }
    if (this.running && !this.ticking) this.arm(this.msUntilNext());
  }

  status(): PollerStatus {
    return { running: this.running, intervalMs: this.d.intervalMs, lastCycleAt: this.lastCycleAt, lastError: this.lastError };
  }

  clusterStatus(cluster: string): ClusterPollStatus {
    const s = this.schedules.get(cluster);
    // One row, not every active job: clients ask this often (budget, status), and 10,000 followed jobs made it 6 ms.
    const paused = !this.running ? 'poller stopped' : !this.d.jobs.hasActive(cluster) ? 'no active jobs' : null;
    return {
      pollIntervalMs: s?.intervalMs ?? this.d.intervalMs,
      lastPollAt: s?.lastPollAt ? new Date(s.lastPollAt).toISOString() : null,
      nextPollAt: paused || !s ? null : new Date(Math.max(s.nextAt, Date.now())).toISOString(),
      paused,
    };
  }

  /** Jobs to follow per cluster: unfinished ones, and submits whose answer was lost. */
  private following(): Map<string, TrackedJob[]> {
    const byCluster = new Map<string, TrackedJob[]>();
    for (const job of this.d.jobs.activeRefs()) {
      if (isTerminalState(job.state)) continue;
      const list = byCluster.get(job.cluster) ?? [];
      list.push(job);
      byCluster.set(job.cluster, list);
    }
    return byCluster;
  }

  private msUntilNext(): number {
    const following = this.following();
    let next = Infinity;
    for (const name of following.keys()) next = Math.min(next, this.schedule(name).nextAt);
    // Nothing to follow: look again at the steady interval for jobs appearing.
    return next === Infinity ? this.d.intervalMs : Math.max(0, next - Date.now());
  }

  private arm(ms: number): void {
    clearTimeout(this.timer);
    if (!this.running) return;
    this.timer = setTimeout(() => {
      this.ticking = this.tick(false).finally(() => {
        this.ticking = undefined;
        this.arm(this.msUntilNext());
      });
    }, ms);
  }

  /** Refreshes every cluster that is due now (all of them when forced); exposed for tests and benchmarks. */
  async tick(force = true): Promise<Map<string, RefreshStats>> {
    const results = new Map<string, RefreshStats>();
    const now = Date.now();
    const errors: string[] = [];
    await Promise.all(
      [...this.following()].map(async ([name, jobs]) => {
        const s = this.schedule(name);
        if (!force && s.nextAt > now) return;
        const started = performance.now();
        let outcome: 'ok' | 'error' = 'error';
        try {
          const cluster = this.d.jobService.clusterOf(jobs[0]!);
          const stats = await this.d.jobService.refresh(cluster, jobs);
          results.set(name, stats);
          if (this.d.afterRefresh) await this.d.afterRefresh(name, jobs).catch((err: unknown) => this.d.log.warn('after-refresh work failed', { cluster: name, error: (err as Error).message }));
          s.failures = 0;
          s.lastError = null;
          s.quietCycles = stats.changed > 0 ? 0 : s.quietCycles + 1;
          const slow = s.quietCycles >= 10 ? 4 : s.quietCycles >= 5 ? 2 : 1;
          const unwatched = this.d.hasClients && !this.d.hasClients() ? 2 : 1;
          s.intervalMs = this.d.intervalMs * slow * unwatched;
          s.nextAt = Date.now() + (s.fast.length > 0 ? s.fast.shift()! : s.intervalMs);
          outcome = 'ok';
        } catch (err) {
          s.failures++;
          const ceiling = Math.min(MAX_BACKOFF_MS, this.d.intervalMs * 2 ** s.failures);
          // Full jitter: clusters that failed together do not retry together.
          const wait = Math.max(this.d.intervalMs, Math.round(Math.random() * ceiling));
          s.nextAt = Date.now() + wait;
          s.lastError = (err as Error).message;
          errors.push(`${name}: ${s.lastError}`);
          this.d.log.warn('poll failed', { cluster: name, error: s.lastError, retryInMs: wait });
        } finally {
          s.lastPollAt = Date.now();
          this.d.onCycle?.(name, outcome, (performance.now() - started) / 1000);
        }
      }),
    );
    if (this.d.afterTick) await this.d.afterTick().catch((err: unknown) => this.d.log.warn('after-tick work failed', { error: (err as Error).message }));
    this.lastCycleAt = new Date().toISOString();
    this.lastError = errors.length ? errors.join('; ') : null;
    return results;
  }
}
