// Runtime estimates before submission. A script is read the way sbatch reads
// it; its runtime is estimated from the cluster's own finished jobs (the
// user's last runs of the same job, else of any job) or, without history, from
// the time limit it asks for; every estimate says which source produced it.
// The learned model (quantile trees) plugs in as a further source.
import { type RuntimeEstimate, type RuntimeModelInfo, type RuntimeWarning, type ScriptProblem } from '../protocol';
import type { ClusterRecord, ClusterStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';
import { parseSbatchScript } from '../slurm/directives';
import { formatSlurmDuration, parseSlurmTimestamp } from '../slurm/time';
import { JobHistory } from './history';
import type { RuntimeStore } from './store';

/** How long ingested history is considered fresh before an estimate reads accounting again. */
const INGEST_EVERY_MS = 10 * 60_000;
/** A limit this many times the p90 slows scheduling for nothing. */
const OVER_REQUEST_FACTOR = 4;

export interface RuntimeDeps {
  clusters: ClusterStore;
  connections: ClusterConnections;
  store: RuntimeStore;
  log: Logger;
}

interface ClusterHistory {
  /** Jobs in the store when it was built: rebuilt when that changes. */
  count: number;
  history: JobHistory;
}

/** `sbatch --test-only` says "Job 123 to start at 2026-11-22T10:40:00 using ..." on stderr. */
export function parseTestOnly(stderr: string): string | null {
  const m = /to start at (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)/.exec(stderr);
  return m ? parseSlurmTimestamp(m[1]!) : null;
}

/** Warnings about a time limit given an estimate: TIMEOUT risk below p90, over-request above 4 × p90. */
export function limitWarnings(limit: number | null, p90: number | null): RuntimeWarning[] {
  if (limit === null || p90 === null || p90 <= 0) return [];
  // Suggest whole minutes with a margin, as sbatch rounds limits up to minutes anyway.
  const suggested = formatSlurmDuration(Math.ceil((p90 * 1.2) / 60) * 60);
  if (limit < p90) {
    return [{ kind: 'timeout-risk', message: `the time limit ${formatSlurmDuration(limit)} is below the p90 estimate ${formatSlurmDuration(Math.round(p90))}: the job may end TIMEOUT`, suggestedLimit: suggested }];
  }
  if (limit > OVER_REQUEST_FACTOR * p90) {
    return [{ kind: 'over-request', message: `the time limit ${formatSlurmDuration(limit)} is more than ${OVER_REQUEST_FACTOR} × the p90 estimate ${formatSlurmDuration(Math.round(p90))}: a shorter limit starts sooner (backfill)`, suggestedLimit: suggested }];
  }
  return [];
}

export class RuntimeService {
  private readonly histories = new Map<string, ClusterHistory>();
  private readonly users = new Map<string, string>();
  private readonly ingesting = new Map<string, Promise<unknown>>();

  constructor(private readonly d: RuntimeDeps) {}

  /** Reads the cluster's accounting if the stored history is older than INGEST_EVERY_MS (or forced). */
  async ingest(cluster: ClusterRecord, session: RemoteSession, force = false): Promise<void> {
    const state = this.d.store.ingestState(cluster.id);
    if (!force && state && Date.now() - Date.parse(state.lastRunAt) < INGEST_EVERY_MS) return;
    let running = this.ingesting.get(cluster.id);
    if (!running) {
      running = this.d.store.ingest(cluster, session).finally(() => this.ingesting.delete(cluster.id));
      this.ingesting.set(cluster.id, running);
    }
    await running;
  }

  private history(cluster: ClusterRecord): JobHistory {
    const count = this.d.store.count(cluster.id);
    const cached = this.histories.get(cluster.id);
    if (cached && cached.count === count) return cached.history;
    const history = new JobHistory();
    // Fed in end order: what was known by now.
    for (const j of this.d.store.jobs(cluster.id).sort((a, b) => a.end - b.end)) history.ended(j);
    this.histories.set(cluster.id, { count, history });
    return history;
  }

  private async remoteUser(cluster: ClusterRecord, s: RemoteSession): Promise<string> {
    let user = this.users.get(cluster.id);
    if (!user) {
      const r = await s.exec(['id', '-un'], { timeoutMs: 30_000 });
      user = r.stdout.trim() || cluster.user || '';
      this.users.set(cluster.id, user);
    }
    return user;
  }

  async estimate(p: { cluster: string; script: string; sbatchArgs: string[]; expectedStart: boolean }): Promise<RuntimeEstimate> {
    const cluster = this.d.clusters.get(p.cluster);
    const session = await this.d.connections.session(cluster);
    try {
      await this.ingest(cluster, session);
    } catch (err) {
      // No accounting (slurmdbd down or absent): estimate from what is stored.
      this.d.log.warn('runtime history could not be read', { cluster: cluster.name, error: (err as Error).message });
    }
    const user = await this.remoteUser(cluster, session);
    const estimate = this.estimateOne(cluster, user, p.script, p.sbatchArgs);
    if (p.expectedStart && !estimate.problems.some((x) => x.severity === 'error')) {
      // sbatch reads the script from stdin and answers without submitting.
      const r = await session.exec(['sbatch', '--test-only', ...p.sbatchArgs], { stdin: p.script, timeoutMs: 30_000 });
      estimate.expectedStart = r.code === 0 ? parseTestOnly(r.stderr) : null;
    }
    return estimate;
  }

  async estimateBatch(p: { cluster: string; scripts: { script: string; sbatchArgs: string[] }[] }): Promise<RuntimeEstimate[]> {
    const cluster = this.d.clusters.get(p.cluster);
    const session = await this.d.connections.session(cluster);
    await this.ingest(cluster, session).catch((err: unknown) => this.d.log.warn('runtime history could not be read', { error: (err as Error).message }));
    const user = await this.remoteUser(cluster, session);
    return p.scripts.map((s) => this.estimateOne(cluster, user, s.script, s.sbatchArgs));
  }

  private estimateOne(cluster: ClusterRecord, user: string, script: string, args: string[]): RuntimeEstimate {
    const parsed = parseSbatchScript(script, args);
    const problems: ScriptProblem[] = parsed.problems.map((x) => ({
      line: x.line,
      column: x.column,
      endColumn: x.endColumn,
      severity: x.severity,
      message: x.message,
      ...(x.option ? { option: x.option } : {}),
    }));
    const req = parsed.request;
    const limit = req.timeLimitSeconds;
    const history = this.history(cluster);
    // The same job's last runs say most; any of the user's last runs say something.
    const same = history.userApp({ user, jobName: req.jobName ?? '' });
    const mine = history.user(user);
    const stats = same.count > 0 ? same : mine.count > 0 ? mine : null;
    if (stats) {
      const last = stats.count === 1 ? [stats.last1Seconds] : [stats.last1Seconds, stats.last2Seconds];
      const p50 = last.reduce((a, b) => a + b, 0) / last.length;
      const p10 = Math.min(...last);
      const p90 = Math.max(...last);
      return { p10, p50, p90, source: 'history', modelVersion: null, expectedStart: null, timeLimitSeconds: limit, warnings: limitWarnings(limit, p90), problems };
    }
    if (limit !== null) {
      return { p10: null, p50: limit, p90: null, source: 'request', modelVersion: null, expectedStart: null, timeLimitSeconds: limit, warnings: [], problems };
    }
    return { p10: null, p50: null, p90: null, source: 'none', modelVersion: null, expectedStart: null, timeLimitSeconds: null, warnings: [], problems };
  }

  async info(name?: string): Promise<RuntimeModelInfo[]> {
    const clusters = name ? [this.d.clusters.get(name)] : this.d.clusters.list();
    return clusters.map((c) => {
      const state = this.d.store.ingestState(c.id);
      return { cluster: c.name, jobs: this.d.store.count(c.id), lastIngestAt: state?.lastRunAt ?? null, modelVersion: null, metrics: null };
    });
  }
}
