// Builds the daemon's services around one database and wires their change
// events to client notifications. main.ts adds the socket and the process
// concerns; tests use this directly with an in-memory database.
import * as os from 'node:os';
import * as path from 'node:path';
import { PROTOCOL_VERSION, ClustersDidChange, EstimatesDidChange, JobsDidChange, ModelsDidChange, type DaemonStatusResult, type JobInfo } from './protocol';
import type { Logger, LogSink } from './log';
import type { Db } from './db/database';
import { ClusterStore, JobStore, type TrackedJob } from './db/registry';
import { ClusterConnections, type ConnectionsOptions } from './connections';
import { SessionPrompter } from './prompter';
import { JobService } from './jobs/service';
import { Poller } from './jobs/poller';
import { LogService } from './jobs/logs';
import { ProgressTracker } from './jobs/progress';
import { TemplateService, findBuiltinTemplatesDir } from './templates/service';
import { ModelStore } from './db/models';
import { WorkflowService } from './workflows/service';
import { RuntimeStore } from './runtime/store';
import { RuntimeService } from './runtime/service';
import { ownJobRecords } from './runtime/ownHistory';
import { LocalRunner } from './models/tryLocal';
import { createHandlers, healthOf, type Services } from './handlers';
import { Dispatcher, type ClientSession } from './server';
import { DaemonMetrics } from './metrics';
import { EstimateStreams } from './runtime/stream';
import { DAEMON_VERSION } from './version';

export interface AppOptions {
  db: Db;
  databasePath: string;
  log: Logger;
  logSink: LogSink;
  pollIntervalMs: number;
  /** SSH timeouts, the connection cap, backoff; `prompter` defaults to asking the connected clients. */
  ssh?: ConnectionsOptions;
  /**
   * The shipped sbatch templates. Default: `<root>/templates`, found both from
   * the sources (tsx) and from the bundle (dist/daemon.js in the repository or
   * the installed extension).
   */
  templatesDir?: string;
  /**
   * Where models/try keeps downloaded models (the daemon passes one under its
   * state dir). Default: a directory under os.tmpdir(), for tests.
   */
  cacheDir?: string;
  /** Train runtime models in a worker thread (needs the bundled worker; tests from sources train in this thread). */
  runtimeTrainingInWorker?: boolean;
  /** Scheduled runtime retrain after this many new finished jobs (0: only on demand); default in runtime/service.ts. */
  runtimeRetrainAfterJobs?: number;
  /** Finished jobs a runtime model needs at least (SLURM_ML_RUNTIME_MIN_JOBS). */
  runtimeMinTrainingJobs?: number;
  /** What daemon/status reports about where the daemon lives. */
  location: {
    stateDir: string;
    stateFile: string;
    port: () => number;
    startedAt: string;
    metricsUrl?: () => string | null;
    metricsTokenFile?: () => string | null;
    /** Where the registry is kept: the state directory's filesystem and the journal chosen for it. */
    storage?: { filesystem: string; journal: 'wal' | 'delete' };
  };
  /** Counted always; served only when main.ts starts the endpoint. Default: a fresh set. */
  metrics?: DaemonMetrics;
  requestShutdown: () => void;
}

export interface App {
  dispatcher: Dispatcher;
  metrics: DaemonMetrics;
  poller: Poller;
  connections: ClusterConnections;
  jobs: JobStore;
  clusters: ClusterStore;
  close(): Promise<void>;
}

export function createApp(o: AppOptions): App {
  const clusters = new ClusterStore(o.db);
  const jobs = new JobStore(o.db);
  // Login prompts go to the connected clients (the dispatcher exists by the time anything connects).
  const prompter = o.ssh?.prompter ?? new SessionPrompter(() => dispatcher?.sessions() ?? [], { log: o.log });
  const metrics = o.metrics ?? new DaemonMetrics();
  const connections = new ClusterConnections(o.log, {
    ...o.ssh,
    prompter,
    observer: { command: (c) => metrics.sshCommand(c), connectionAttempt: (c) => metrics.sshConnection(c) },
  });
  // The dispatcher is created last; events before that have no clients to reach.
  let dispatcher: Dispatcher | undefined;
  const models = new ModelStore(o.db);
  const modelChanged = (name: string) => dispatcher?.broadcast(ModelsDidChange, { name });
  let workflows: WorkflowService | undefined;
  const jobChanged = (job: JobInfo) => {
    dispatcher?.broadcast(JobsDidChange, { job });
    // A training job whose results were just collected: its run time is the model's training time.
    if (job.kind === 'train' && job.finalized && job.state === 'COMPLETED' && job.startTime && job.endTime) {
      metrics.observeTraining('cluster', Math.max(0, (Date.parse(job.endTime) - Date.parse(job.startTime)) / 1000));
    }
    // An ML job that just ended: collect its results (version, metrics, outputs) now rather than next cycle.
    if (job.kind !== 'job' && job.terminal && !job.finalized) void workflows?.finalize(job);
    // Its accounting record is the scheduled runtime retrain's cue to read accounting again.
    if (job.terminal) runtime.jobEnded(job.cluster);
  };
  const jobService = new JobService({ clusters, jobs, connections, log: o.log, onJobChanged: jobChanged });
  // Logs and progress: read from the jobs' own output files over the cluster's shared session.
  const logs = new LogService({ jobs, clusters, session: (c) => connections.session(c, { background: true }), log: o.log });
  const templatesDir = o.templatesDir ?? findBuiltinTemplatesDir();
  if (templatesDir === null) o.log.warn('builtin sbatch templates not found; only workspace templates are available');
  const templates = new TemplateService({ builtinDir: templatesDir, log: o.log });
  workflows = new WorkflowService({ clusters, jobs, jobService, connections, templates, models, log: o.log, onJobChanged: jobChanged, onModelChanged: modelChanged });
  const wf = workflows;
  const tryLocal = new LocalRunner({
    models,
    clusters,
    connections,
    cacheDir: o.cacheDir ?? path.join(os.tmpdir(), `slurm-ml-models-${process.getuid?.() ?? 'user'}`),
    log: o.log,
  });
  const progress = new ProgressTracker({
    jobs,
    log: o.log,
    session: (c) => connections.session(c, { background: true }),
    onChanged: (job) => dispatcher?.broadcast(JobsDidChange, { job }),
  });
  // Only running jobs can report progress; read their full records, not every followed job's.
  const afterRefresh = async (name: string, list: TrackedJob[]) => {
    const cluster = clusters.find(name);
    const running = list.filter((j) => j.state === 'RUNNING').flatMap((j) => jobs.find(j.id) ?? []);
    if (cluster) await progress.refresh(cluster, running);
  };
  const poller = new Poller({
    jobService,
    jobs,
    intervalMs: o.pollIntervalMs,
    log: o.log,
    hasClients: () => (dispatcher?.connectionCount ?? 0) > 0,
    afterRefresh,
    // ML jobs whose results could not be collected yet (the daemon restarted, the cluster was down).
    afterTick: () => {
      runtime.retrainIfDue();
      return wf.finalizePending();
    },
    onCycle: (cluster, outcome, seconds) => metrics.observePoll(cluster, outcome, seconds),
  });
  jobService.onActivity = (cluster) => poller.kick(cluster);
  const status = (): DaemonStatusResult => ({
    pid: process.pid,
    port: o.location.port(),
    protocolVersion: PROTOCOL_VERSION,
    daemonVersion: DAEMON_VERSION,
    stateDir: o.location.stateDir,
    stateFile: o.location.stateFile,
    database: o.databasePath,
    logLevel: o.logSink.level,
    startedAt: o.location.startedAt,
    connections: dispatcher?.connectionCount ?? 0,
    metrics: o.location.metricsUrl?.() ?? null,
    metricsTokenFile: o.location.metricsTokenFile?.() ?? null,
    host: os.hostname(),
    stateFilesystem: o.location.storage?.filesystem ?? null,
    registryJournal: o.location.storage?.journal ?? null,
  });
  const runtime = new RuntimeService({
    clusters,
    connections,
    store: new RuntimeStore(o.db),
    models,
    modelsDir: path.join(o.location.stateDir, 'runtime-models'),
    worker: o.runtimeTrainingInWorker ?? true,
    retrainAfterJobs: o.runtimeRetrainAfterJobs,
    minTrainingJobs: o.runtimeMinTrainingJobs,
    ownHistory: (cluster) => ownJobRecords(jobs.list({ cluster: cluster.name, limit: 10_000 }), cluster.user ?? os.userInfo().username),
    recentJobs: (cluster) =>
      jobs.list({ cluster, limit: 200 }).flatMap((j) => {
        const at = (iso: string | null): number | undefined => (iso === null ? undefined : Math.floor(Date.parse(iso) / 1000));
        const submit = at(j.submitTime);
        return submit === undefined ? [] : [{ submit, start: at(j.startTime), end: j.terminal ? (at(j.endTime) ?? submit) : undefined, requestedTime: j.requested.timeLimitSeconds }];
      }),
    log: o.log,
    onModelChanged: modelChanged,
    observer: {
      estimate: (source, seconds, count) => metrics.observeEstimate(source, seconds, count),
      training: (seconds) => metrics.observeTraining('daemon', seconds),
    },
  });
  // Every submitted job keeps the estimate made when it was submitted ("elapsed of ≈ predicted").
  jobService.estimateAtSubmit = (cluster, script, sbatchArgs, session) => runtime.estimateAtSubmit(cluster, script, sbatchArgs, session);
  // Each client's estimate streams, closed with its connection.
  const streams = new WeakMap<ClientSession, EstimateStreams>();
  const estimateStreams = (session: ClientSession): EstimateStreams => {
    let st = streams.get(session);
    if (!st) {
      const created = new EstimateStreams(
        (p) => runtime.estimate(p),
        (m) => {
          if (!session.rpc.closed) session.rpc.notify(EstimatesDidChange, m);
        },
        o.log.child({ conn: session.id }),
      );
      st = created;
      streams.set(session, created);
      session.rpc.onClose(() => created.closeAll());
    }
    return st;
  };
  const services: Services = {
    db: o.db,
    databasePath: o.databasePath,
    clusters,
    jobs,
    connections,
    jobService,
    poller,
    logs,
    templates,
    models,
    workflows: wf,
    tryLocal,
    runtime,
    modelChanged,
    estimateStreams,
    status,
    setLogLevel: (level) => {
      o.logSink.level = level;
      o.log.info('log level changed', { level });
    },
    requestShutdown: o.requestShutdown,
  };
  const handlers = createHandlers(services);
  metrics.attach({
    health: () => healthOf(services),
    budgets: () => clusters.list().map((c) => ({ name: c.name, ...connections.budget(c.name), ...poller.clusterStatus(c.name) })),
    jobCounts: () => jobs.countByStateAndKind(),
  });
  dispatcher = new Dispatcher(handlers, o.log, (method, outcome, seconds) => metrics.observeRequest(method, outcome, seconds));
  const d = dispatcher;
  connections.onStateChange((name, connection) => d.broadcast(ClustersDidChange, { name, connection }));
  return {
    dispatcher: d,
    metrics,
    poller,
    connections,
    jobs,
    clusters,
    async close() {
      poller.stop();
      logs.dispose();
      d.closeAll('daemon shutting down');
      await tryLocal.close();
      await runtime.close();
      await connections.closeAll();
    },
  };
}
