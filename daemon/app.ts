// Builds the daemon's services around one database and wires their change
// events to client notifications. main.ts adds the socket and the process
// concerns; tests use this directly with an in-memory database.
import { PROTOCOL_VERSION, ClustersDidChange, JobsDidChange, type DaemonStatusResult, type JobInfo } from './protocol';
import type { Logger, LogSink } from './log';
import type { Db } from './db/database';
import { ClusterStore, JobStore } from './db/registry';
import { ClusterConnections, type ConnectionsOptions } from './connections';
import { SessionPrompter } from './prompter';
import { JobService } from './jobs/service';
import { Poller } from './jobs/poller';
import { LogService } from './jobs/logs';
import { ProgressTracker } from './jobs/progress';
import { createHandlers } from './handlers';
import { Dispatcher } from './server';
import { DAEMON_VERSION } from './version';

export interface AppOptions {
  db: Db;
  databasePath: string;
  log: Logger;
  logSink: LogSink;
  pollIntervalMs: number;
  /** SSH timeouts, the connection cap, backoff; `prompter` defaults to asking the connected clients. */
  ssh?: ConnectionsOptions;
  /** What daemon/status reports about where the daemon lives. */
  location: { stateDir: string; stateFile: string; port: () => number; startedAt: string };
  requestShutdown: () => void;
}

export interface App {
  dispatcher: Dispatcher;
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
  const connections = new ClusterConnections(o.log, { ...o.ssh, prompter });
  // The dispatcher is created last; events before that have no clients to reach.
  let dispatcher: Dispatcher | undefined;
  const jobService = new JobService({
    clusters,
    jobs,
    connections,
    log: o.log,
    onJobChanged: (job) => dispatcher?.broadcast(JobsDidChange, { job }),
  });
  // Logs and progress: read from the jobs' own output files over the cluster's shared session.
  const logs = new LogService({ jobs, clusters, session: (c) => connections.session(c, { background: true }), log: o.log });
  const progress = new ProgressTracker({
    jobs,
    log: o.log,
    session: (c) => connections.session(c, { background: true }),
    onChanged: (job) => dispatcher?.broadcast(JobsDidChange, { job }),
  });
  const readProgress = async (name: string, list: JobInfo[]) => {
    const cluster = clusters.find(name);
    if (cluster) await progress.refresh(cluster, list);
  };
  const poller = new Poller({
    jobService,
    jobs,
    intervalMs: o.pollIntervalMs,
    log: o.log,
    hasClients: () => (dispatcher?.connectionCount ?? 0) > 0,
    afterRefresh: readProgress,
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
  });
  const handlers = createHandlers({
    db: o.db,
    databasePath: o.databasePath,
    clusters,
    jobs,
    connections,
    jobService,
    poller,
    logs,
    status,
    setLogLevel: (level) => {
      o.logSink.level = level;
      o.log.info('log level changed', { level });
    },
    requestShutdown: o.requestShutdown,
  });
  dispatcher = new Dispatcher(handlers, o.log);
  const d = dispatcher;
  connections.onStateChange((name, connection) => d.broadcast(ClustersDidChange, { name, connection }));
  return {
    dispatcher: d,
    poller,
    connections,
    jobs,
    clusters,
    async close() {
      poller.stop();
      logs.dispose();
      d.closeAll('daemon shutting down');
      await connections.closeAll();
    },
  };
}
