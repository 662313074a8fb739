// Prometheus metrics of the daemon, on an HTTP endpoint that is off unless
// asked for (`--metrics-port`, SLURM_ML_METRICS_PORT, the editor setting
// `slurmMl.metricsPort`) and bound to a loopback address only: the daemon
// holds SSH sessions to clusters, and what it knows (cluster names, job
// counts) is the user's business. A Prometheus elsewhere reaches it through
// an SSH tunnel or a local agent.
//
// Counters and histograms are fed by the services as things happen; the
// gauges (health, connection state, jobs, budget, database size) are read at
// scrape time from the same functions `health` and `clusters/budget` answer
// from, so `slurm-ml health --json` and a scrape agree.
import * as http from 'node:http';
import * as net from 'node:net';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { ConnectionStatus, requests, type HealthResult } from './protocol';
import type { Logger } from './log';
import { tokenMatches } from './server';

/** Every metric this file defines starts with this. */
export const METRIC_PREFIX = 'slurm_ml_';

/** What the gauges read at scrape time. */
export interface MetricsSources {
  health(): HealthResult;
  /** Per cluster: the polling budget as `clusters/budget` reports it. */
  budgets(): { name: string; commandsLastMinute: number; connectionsLastMinute: number; connectionsPerMinuteCap: number; pollIntervalMs: number }[];
  /** Jobs in the registry by state and kind. */
  jobCounts(): { state: string; kind: string; count: number }[];
}

export type RequestOutcome = 'ok' | 'error' | 'internal';

const knownMethods = new Set(Object.keys(requests));

/** Seconds buckets for things that take from a fraction of a millisecond to minutes. */
const REQUEST_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120];
const POLL_BUCKETS = [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];
const ESTIMATE_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30];
const TRAINING_BUCKETS = [1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 3 * 3600, 12 * 3600, 24 * 3600, 72 * 3600];

export class DaemonMetrics {
  readonly registry = new Registry();
  private sources: MetricsSources | undefined;
  private readonly requestsTotal;
  private readonly requestDuration;
  private readonly pollCycles;
  private readonly pollDuration;
  private readonly sshCommands;
  private readonly sshConnections;
  private readonly estimates;
  private readonly estimateDuration;
  private readonly trainingDuration;

  constructor() {
    const registers = [this.registry];
    this.requestsTotal = new Counter({
      name: 'slurm_ml_requests_total',
      help: 'Protocol requests answered, by method and outcome (ok; error: a protocol error such as NotFound; internal: a daemon bug).',
      labelNames: ['method', 'outcome'] as const,
      registers,
    });
    this.requestDuration = new Histogram({
      name: 'slurm_ml_request_duration_seconds',
      help: 'Time from a request arriving to its answer, by method and outcome.',
      labelNames: ['method', 'outcome'] as const,
      buckets: REQUEST_BUCKETS,
      registers,
    });
    this.pollCycles = new Counter({
      name: 'slurm_ml_poll_cycles_total',
      help: 'Poll cycles (one batched refresh of a cluster\'s followed jobs), by cluster and outcome (ok, error).',
      labelNames: ['cluster', 'outcome'] as const,
      registers,
    });
    this.pollDuration = new Histogram({
      name: 'slurm_ml_poll_cycle_duration_seconds',
      help: 'Duration of one cluster\'s poll cycle (squeue, sacct, scontrol as needed, progress).',
      labelNames: ['cluster'] as const,
      buckets: POLL_BUCKETS,
      registers,
    });
    this.sshCommands = new Counter({
      name: 'slurm_ml_ssh_commands_total',
      help: 'Commands run on a cluster over SSH (all kinds), by cluster.',
      labelNames: ['cluster'] as const,
      registers,
    });
    this.sshConnections = new Counter({
      name: 'slurm_ml_ssh_new_connections_total',
      help: 'New SSH connection attempts to a cluster (what the per-minute cap counts), by cluster.',
      labelNames: ['cluster'] as const,
      registers,
    });
    this.estimates = new Counter({
      name: 'slurm_ml_runtime_estimates_total',
      help: 'Runtime estimates made, by the source that answered (model, history, request, none).',
      labelNames: ['source'] as const,
      registers,
    });
    this.estimateDuration = new Histogram({
      name: 'slurm_ml_runtime_estimate_duration_seconds',
      help: 'Time of one runtime estimate in the daemon (reading accounting when stale, and sbatch --test-only when the expected start is asked for, included).',
      buckets: ESTIMATE_BUCKETS,
      registers,
    });
    this.trainingDuration = new Histogram({
      name: 'slurm_ml_model_training_duration_seconds',
      help: 'Model training time, by where it ran: daemon (runtime models the daemon trains) or cluster (a train job\'s run time, start to end, for jobs that became a version).',
      labelNames: ['where'] as const,
      buckets: TRAINING_BUCKETS,
      registers,
    });

    const src = () => this.sources;
    const health = () => src()?.health();
    new Gauge({
      name: 'slurm_ml_health_ok',
      help: 'What `slurm-ml health` says: 1 ok, 0 problems.',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'slurm_ml_database_ok',
      help: 'The registry database passed its quick check (1) or not (0).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.database.ok ? 1 : 0);
      },
    });
    new Gauge({
      name: 'slurm_ml_database_schema_version',
      help: 'The registry database\'s schema version (its newest migration).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.database.schemaVersion);
      },
    });
    new Gauge({
      name: 'slurm_ml_database_size_bytes',
      help: 'Size of the registry database on disk (the database file and its write-ahead log).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.database.sizeBytes);
      },
    });
    new Gauge({
      name: 'slurm_ml_cluster_connection_state',
      help: 'Each cluster\'s SSH connection state: 1 for the state it is in, 0 for the others.',
      labelNames: ['cluster', 'state'] as const,
      registers,
      collect() {
        const h = health();
        this.reset();
        for (const c of h?.clusters ?? []) {
          for (const s of ConnectionStatus.options) this.set({ cluster: c.name, state: s }, c.connection.status === s ? 1 : 0);
        }
      },
    });
    new Gauge({
      name: 'slurm_ml_poller_running',
      help: 'The poller runs (1) or is stopped (0).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.poller.running ? 1 : 0);
      },
    });
    new Gauge({
      name: 'slurm_ml_poller_interval_seconds',
      help: 'The steady poll interval (the floor; see slurm_ml_poll_interval_seconds for each cluster\'s interval now).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.poller.intervalMs / 1000);
      },
    });
    new Gauge({
      name: 'slurm_ml_poller_last_cycle_timestamp_seconds',
      help: 'When the last poll cycle ended (Unix time); absent before the first.',
      registers,
      collect() {
        const h = health();
        this.reset();
        if (h?.poller.lastCycleAt) this.set(Date.parse(h.poller.lastCycleAt) / 1000);
      },
    });
    new Gauge({
      name: 'slurm_ml_jobs_active',
      help: 'Jobs whose state can still change (what the poller follows).',
      registers,
      collect() {
        const h = health();
        if (h) this.set(h.poller.activeJobs);
      },
    });
    new Gauge({
      name: 'slurm_ml_jobs',
      help: 'Jobs in the registry, by SLURM state and kind (job, train, predict, evaluate).',
      labelNames: ['state', 'kind'] as const,
      registers,
      collect() {
        this.reset();
        for (const r of src()?.jobCounts() ?? []) this.set({ state: r.state, kind: r.kind }, r.count);
      },
    });
    const budgetGauge = (name: string, help: string, pick: (b: ReturnType<MetricsSources['budgets']>[number]) => number) =>
      new Gauge({
        name,
        help,
        labelNames: ['cluster'] as const,
        registers,
        collect() {
          this.reset();
          for (const b of src()?.budgets() ?? []) this.set({ cluster: b.name }, pick(b));
        },
      });
    budgetGauge('slurm_ml_ssh_commands_last_minute', 'Commands run on the cluster in the last 60 s (the polling budget).', (b) => b.commandsLastMinute);
    budgetGauge('slurm_ml_ssh_connections_last_minute', 'New SSH connections to the cluster in the last 60 s.', (b) => b.connectionsLastMinute);
    budgetGauge('slurm_ml_ssh_connections_per_minute_cap', 'The most new SSH connections per minute the daemon allows itself.', (b) => b.connectionsPerMinuteCap);
    budgetGauge('slurm_ml_poll_interval_seconds', 'The poll interval now in force for the cluster (adaptive: slower when quiet or unwatched).', (b) => b.pollIntervalMs / 1000);
  }

  private processMetrics = false;

  /** Node's own metrics (CPU, memory, event loop lag), once the endpoint serves: they keep a monitor running. */
  enableProcessMetrics(): void {
    if (this.processMetrics) return;
    this.processMetrics = true;
    collectDefaultMetrics({ register: this.registry, prefix: METRIC_PREFIX });
  }

  /** Where the gauges read from; until then they are empty. */
  attach(sources: MetricsSources): void {
    this.sources = sources;
  }

  observeRequest(method: string, outcome: RequestOutcome, seconds: number): void {
    // Unknown methods come from the client: one label, not one per typo.
    const m = knownMethods.has(method) ? method : 'unknown';
    this.requestsTotal.inc({ method: m, outcome });
    this.requestDuration.observe({ method: m, outcome }, seconds);
  }

  observePoll(cluster: string, outcome: 'ok' | 'error', seconds: number): void {
    this.pollCycles.inc({ cluster, outcome });
    this.pollDuration.observe({ cluster }, seconds);
  }

  sshCommand(cluster: string): void {
    this.sshCommands.inc({ cluster });
  }

  sshConnection(cluster: string): void {
    this.sshConnections.inc({ cluster });
  }

  observeEstimate(source: string, seconds: number | null, count = 1): void {
    this.estimates.inc({ source }, count);
    if (seconds !== null) this.estimateDuration.observe(seconds);
  }

  observeTraining(where: 'daemon' | 'cluster', seconds: number): void {
    this.trainingDuration.observe({ where }, seconds);
  }

  /** The exposition text, as a scrape gets it. */
  scrape(): Promise<string> {
    return this.registry.metrics();
  }
}

// ------------------------------------------------------------ the endpoint

export interface MetricsAddress {
  host: string;
  port: number;
}

/** A loopback address: 127.0.0.0/8, ::1, or the name localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host.replace(/^\[(.*)\]$/, '$1');
  if (h === 'localhost') return true;
  if (net.isIPv4(h)) return h.startsWith('127.');
  if (net.isIPv6(h)) return h === '::1' || h === '0:0:0:0:0:0:0:1' || /^::ffff:127\./i.test(h);
  return false;
}

/**
 * The metrics endpoint's address from `--metrics-port`/`--metrics-host` (or
 * their environment variables); null when no port is given (metrics off).
 * Throws an Error whose message says what to do for a bad port or a host that
 * is not a loopback address.
 */
export function metricsAddress(portText: string | undefined, hostText: string | undefined): MetricsAddress | null {
  const host = hostText === undefined || hostText === '' ? '127.0.0.1' : hostText.trim();
  if (!isLoopbackHost(host)) {
    throw new Error(
      `the metrics endpoint binds to loopback addresses only (127.0.0.1, ::1, localhost), not "${host}": the daemon's metrics name your clusters and jobs. Scrape it from another host through an SSH tunnel (ssh -L) or a local agent.`,
    );
  }
  if (portText === undefined || portText === '') {
    if (hostText !== undefined && hostText !== '') throw new Error('--metrics-host needs --metrics-port (the metrics endpoint is off without a port)');
    return null;
  }
  const port = Number(portText);
  if (!/^\d+$/.test(portText.trim()) || !Number.isInteger(port) || port < 0 || port > 65535) {
    throw new Error(`the metrics port must be a whole number from 0 to 65535 (0: any free port), got "${portText}"`);
  }
  return { host: host.replace(/^\[(.*)\]$/, '$1'), port };
}

export interface MetricsServer {
  host: string;
  port: number;
  /** http://HOST:PORT/metrics */
  url: string;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics (and nothing else) on a loopback address, to requests that
 * carry `Authorization: Bearer <token>`: loopback is shared by every user of the
 * machine (a login node), and the metrics name the user's clusters and jobs.
 */
export async function serveMetrics(metrics: DaemonMetrics, address: MetricsAddress, token: string, log: Logger): Promise<MetricsServer> {
  if (!isLoopbackHost(address.host)) throw new Error(`refusing to serve metrics on ${address.host}: not a loopback address`);
  if (token.length < 32) throw new Error('the metrics token must be at least 32 characters');
  metrics.enableProcessMetrics();
  const server = http.createServer((req, res) => {
    const url = (req.url ?? '/').split('?')[0];
    if (url !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' });
      res.end('slurm-ml daemon: metrics are at /metrics\n');
      return;
    }
    if (!tokenMatches(token, req.headers.authorization)) {
      res.writeHead(401, { 'Content-Type': 'text/plain', 'WWW-Authenticate': 'Bearer realm="slurm-ml metrics"' });
      res.end('slurm-ml daemon: a bearer token is needed (the file `slurm-ml daemon status` names as the metrics token)\n');
      return;
    }
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { 'Content-Type': 'text/plain', Allow: 'GET, HEAD' });
      res.end('GET only\n');
      return;
    }
    metrics.scrape().then(
      (text) => {
        res.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : text);
      },
      (err: unknown) => {
        log.error('metrics scrape failed', { error: (err as Error)?.stack ?? String(err) });
        res.writeHead(500, { 'Content-Type': 'text/plain' });
        res.end('scrape failed (see the daemon log)\n');
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(address.port, address.host, () => resolve());
  });
  const a = server.address() as AddressInfo;
  const hostPart = a.family === 'IPv6' ? `[${a.address}]` : a.address;
  return {
    host: a.address,
    port: a.port,
    url: `http://${hostPart}:${a.port}/metrics`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
