// Request handlers: plain functions of injected services, one per protocol
// method, each receiving params already validated against the protocol.
import * as os from 'node:os';
import type { z } from 'zod';
import {
  ErrorCode,
  PROTOCOL_VERSION,
  requests,
  type ConnectionState,
  type DaemonStatusResult,
  type HealthResult,
  type LogLevel,
  type RequestType,
} from './protocol';
import { RpcError } from './rpc/connection';
import { databaseSizeBytes, schemaVersion, type Db } from './db/database';
import type { ClusterRecord, ClusterStore, JobStore } from './db/registry';
import type { ClusterConnections } from './connections';
import { LocalSession } from './local/session';
import type { JobService } from './jobs/service';
import type { Poller } from './jobs/poller';
import type { ModelStore } from './db/models';
import { runGate } from './models/gates';
import { readAccounting } from './slurm/sacctmgr';
import { sinfoCommand } from './slurm/commands';
import { parseSinfo } from './slurm/sinfo';
import { parseSlurmVersion, slurmSupport, slurmVersionCommand } from './slurm/version';
import type { WorkflowService } from './workflows/service';
import type { LocalRunner } from './models/tryLocal';
import type { RuntimeService } from './runtime/service';
import type { LogService } from './jobs/logs';
import type { TemplateService } from './templates/service';
import type { Logger } from './log';
import type { ClientSession } from './server';
import type { EstimateStreams } from './runtime/stream';
import { DAEMON_VERSION } from './version';

export interface HandlerContext {
  session: ClientSession;
  log: Logger;
}

export interface Services {
  db: Db;
  databasePath: string;
  clusters: ClusterStore;
  jobs: JobStore;
  connections: ClusterConnections;
  jobService: JobService;
  poller: Poller;
  logs: LogService;
  templates: TemplateService;
  models: ModelStore;
  workflows: WorkflowService;
  tryLocal: LocalRunner;
  runtime: RuntimeService;
  /** Tell clients a model changed (versions, aliases, gates). */
  modelChanged(name: string): void;
  /** The estimate streams of one client (estimates/watch), closed with its connection. */
  estimateStreams(session: ClientSession): EstimateStreams;
  status(): DaemonStatusResult;
  setLogLevel(level: LogLevel): void;
  requestShutdown(): void;
}

type Handler<T> = T extends RequestType<infer P, infer R, string> ? (params: z.output<P>, ctx: HandlerContext) => Promise<z.input<R>> | z.input<R> : never;
export type Handlers = { [K in keyof typeof requests]: Handler<(typeof requests)[K]> };

/** The daemon's user; 'unknown' without a passwd entry. */
function localUser(): string {
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}

/** Who moved an alias, for its history: the local user and the client they used. */
function who(ctx: HandlerContext): string {
  return `${localUser()} via ${ctx.session.clientName ?? 'a client'}`;
}

function clusterInfo(c: ClusterRecord, connection: ConnectionState) {
  return { ...c, connection };
}

/**
 * PRAGMA quick_check reads the whole database: a passing result is reused for
 * a minute, however often health (or the metrics endpoint) asks — with 10,000
 * jobs it cost 7 ms per call and was the largest cost under load. A failing
 * one is checked again each time.
 */
const QUICK_CHECK_EVERY_MS = 60_000;
const quickChecks = new WeakMap<Db, number>();
function quickCheck(db: Db): unknown {
  const at = quickChecks.get(db);
  if (at !== undefined && Date.now() - at < QUICK_CHECK_EVERY_MS) return 'ok';
  const result = db.pragma('quick_check', { simple: true });
  if (result === 'ok') quickChecks.set(db, Date.now());
  else quickChecks.delete(db);
  return result;
}

/** What `health` answers; the metrics endpoint reads its gauges from the same function. */
export function healthOf(s: Pick<Services, 'db' | 'databasePath' | 'clusters' | 'jobs' | 'connections' | 'poller'>): HealthResult {
  let database: HealthResult['database'];
  try {
    const check = quickCheck(s.db);
    database = {
      ok: check === 'ok',
      path: s.databasePath,
      schemaVersion: schemaVersion(s.db),
      message: check === 'ok' ? null : String(check),
      sizeBytes: databaseSizeBytes(s.db, s.databasePath),
    };
  } catch (err) {
    database = { ok: false, path: s.databasePath, schemaVersion: 0, message: (err as Error).message, sizeBytes: 0 };
  }
  // Health must answer even when the database does not.
  let clusters: HealthResult['clusters'] = [];
  let activeJobs = 0;
  if (database.ok) {
    clusters = s.clusters.list().map((c) => ({ name: c.name, connection: s.connections.state(c.name) }));
    activeJobs = s.jobs.countActive();
  }
  const poller = { ...s.poller.status(), activeJobs };
  const ok = database.ok && clusters.every((c) => c.connection.status !== 'failed');
  return { ok, database, clusters, poller };
}

export function createHandlers(s: Services): Handlers {
  return {
    initialize(params, ctx) {
      if (params.protocolVersion !== PROTOCOL_VERSION) {
        throw new RpcError(
          ErrorCode.ProtocolMismatch,
          `the daemon speaks protocol ${PROTOCOL_VERSION}, the client ${params.protocolVersion}: restart the daemon (\`slurm-ml daemon stop\`) so the newer one runs`,
          { protocolVersion: PROTOCOL_VERSION },
        );
      }
      ctx.session.initialized = true;
      ctx.session.clientName = params.clientName;
      ctx.session.canPrompt = params.capabilities.prompts;
      ctx.log.info('client initialized', { client: params.clientName, clientVersion: params.clientVersion, prompts: params.capabilities.prompts });
      return { protocolVersion: PROTOCOL_VERSION, daemonVersion: DAEMON_VERSION, pid: process.pid };
    },

    'daemon/status'() {
      return s.status();
    },

    'daemon/shutdown'(_p, ctx) {
      ctx.log.info('shutdown requested', { client: ctx.session.clientName });
      // Answer first, then stop.
      setImmediate(() => s.requestShutdown());
      return { stopping: true as const };
    },

    'daemon/setLogLevel'(params) {
      s.setLogLevel(params.level);
      return { level: params.level };
    },

    health() {
      return healthOf(s);
    },

    'clusters/add'(params) {
      // A local cluster has no host key to check.
      const knownHostsFile = params.kind === 'local' ? '' : (params.knownHostsFile ?? s.connections.defaultKnownHostsFile());
      const c = s.clusters.add({ ...params, knownHostsFile });
      return clusterInfo(c, s.connections.state(c.name));
    },

    'clusters/list'() {
      return { clusters: s.clusters.list().map((c) => clusterInfo(c, s.connections.state(c.name))) };
    },

    async 'clusters/remove'(params) {
      const active = s.jobs.list({ cluster: params.name, active: true, limit: 1 });
      s.clusters.get(params.name);
      if (active.length > 0) {
        throw new RpcError(ErrorCode.Conflict, `cluster ${params.name} still has active jobs (e.g. ${active[0]!.slurmJobId ?? active[0]!.id}); cancel them or wait`);
      }
      s.clusters.remove(params.name);
      await s.connections.disconnect(params.name);
      return { removed: true as const };
    },

    async 'clusters/test'(params, ctx) {
      const cluster = s.clusters.get(params.name);
      const session = await s.connections.session(cluster, { promptVia: ctx.session });
      const started = performance.now();
      const who = await session.exec(['id', '-un']);
      const latencyMs = Math.round((performance.now() - started) * 10) / 10;
      // Read when the connection was made; asked again only when that failed.
      const v = session.slurmVersion ?? null;
      let slurmVersion = v ? `${v.distribution} ${v.text}` : null;
      if (v === null) {
        const version = await session.exec(slurmVersionCommand());
        slurmVersion = version.code === 0 ? version.stdout.trim() || null : null;
      }
      return {
        name: cluster.name,
        hostKeyFingerprint: cluster.kind === 'local' ? 'none (local cluster: no SSH)' : (session.hostKeyFingerprint ?? 'unknown'),
        latencyMs,
        slurmVersion,
        slurm: v ? { version: v.text, major: v.major, minor: v.minor, patch: v.patch, distribution: v.distribution, ...slurmSupport(v) } : null,
        remoteUser: who.stdout.trim(),
      };
    },

    async 'clusters/disconnect'(params) {
      const cluster = s.clusters.get(params.name);
      const wasConnected = s.connections.state(cluster.name).status !== 'disconnected';
      await s.connections.disconnect(cluster.name);
      return { name: cluster.name, wasConnected };
    },

    async 'clusters/detectLocal'(_params, ctx) {
      const host = os.hostname();
      const user = localUser();
      try {
        const r = await new LocalSession('this machine', ctx.log).exec(slurmVersionCommand(), { timeoutMs: 15_000 });
        if (r.code === 0 && parseSlurmVersion(r.stdout).ok) return { available: true, slurmVersion: r.stdout.trim().split('\n')[0]!, host, user, why: null };
        return { available: false, slurmVersion: null, host, user, why: (r.stderr || r.stdout).trim().split('\n')[0] || `sinfo --version exited ${r.code}` };
      } catch (err) {
        return { available: false, slurmVersion: null, host, user, why: (err as Error).message };
      }
    },

    'jobs/submit'(params, ctx) {
      return s.jobService.submit(params, ctx.log, { promptVia: ctx.session });
    },

    'jobs/list'(params) {
      return { jobs: s.jobs.list(params) };
    },

    'jobs/get'(params) {
      return s.jobs.resolve(params.ref);
    },

    'jobs/cancel'(params, ctx) {
      return s.jobService.cancel(params.ref, params.tasks, ctx.log, { promptVia: ctx.session });
    },

    'jobs/tasks'(params) {
      const job = s.jobs.resolve(params.ref);
      if (job.array === null) throw new RpcError(ErrorCode.InvalidParams, `job ${job.slurmJobId ?? job.id} is not an array`);
      return s.jobs.tasks(job.id, params.offset, params.limit);
    },

    'jobs/resubmitPlan'(params) {
      return s.jobService.resubmitPlan(params.ref);
    },

    'jobs/resubmit'(params, ctx) {
      return s.jobService.resubmit(params, ctx.log, { promptVia: ctx.session });
    },

    'clusters/budget'() {
      return { clusters: s.clusters.list().map((c) => ({ name: c.name, ...s.connections.budget(c.name), ...s.poller.clusterStatus(c.name) })) };
    },

    'logs/tail'(params, ctx) {
      return s.logs.tail(params.ref, params, ctx.session);
    },

    'logs/unsubscribe'(params, ctx) {
      return { unsubscribed: s.logs.unsubscribe(params.subscriptionId, ctx.session) };
    },

    'templates/list'(params) {
      return { templates: s.templates.list(params.workspace) };
    },

    'templates/render'(params) {
      // A dry run: no job, so the daemon's slurm_ml values are empty and the
      // shipped templates fall back to the directory the job is submitted from.
      const r = params.source !== undefined ? s.templates.renderSource(params.template, params.source, params.values) : s.templates.render(params.template, params.values, {}, params.workspace);
      return { template: r.template.name, script: r.script, values: r.values };
    },

    'train/submit'(params, ctx) {
      return s.workflows.train(params, ctx.log, ctx.session);
    },

    'predict/submit'(params, ctx) {
      return s.workflows.predict(params, ctx.log, ctx.session);
    },

    'evaluate/submit'(params, ctx) {
      return s.workflows.evaluate(params, ctx.log, ctx.session);
    },

    'models/list'(params) {
      return s.models.list(params);
    },

    'models/get'(params) {
      return s.models.get(params.name, params);
    },

    'models/version'(params) {
      return s.models.resolve(params.ref);
    },

    'models/promote'(params, ctx) {
      const r = s.models.promote({ ...params, who: who(ctx) });
      ctx.log.info('alias moved', { model: params.name, alias: r.alias, from: r.fromVersion, to: r.toVersion, forced: params.force, gate: r.gate?.pass ?? null });
      s.modelChanged(params.name);
      return r;
    },

    'models/rollback'(params, ctx) {
      const r = s.models.rollback({ name: params.name, alias: params.alias, why: params.reason, who: who(ctx) });
      ctx.log.info('alias rolled back', { model: params.name, alias: r.alias, from: r.fromVersion, to: r.toVersion });
      s.modelChanged(params.name);
      return r;
    },

    'models/annotate'(params) {
      const v = s.models.annotate(params.ref, params.tags, params.note);
      s.modelChanged(v.model);
      return v;
    },

    'models/lineage'(params) {
      const l = s.models.lineage(params.ref);
      const job = (id: string) => s.jobs.find(id);
      return {
        version: l.version,
        trainingJob: l.trainingJobId === null ? null : (job(l.trainingJobId) ?? null),
        evaluations: l.evaluationJobIds.flatMap((id) => job(id) ?? []),
        predictions: l.predictionJobIds.flatMap((id) => job(id) ?? []),
      };
    },

    'gates/setRules'(params) {
      const rules = s.models.setRules(params.name, params.rules);
      s.modelChanged(params.name);
      return { rules };
    },

    'gates/run'(params) {
      const g = runGate(s.models, params.name, params.candidate, params.baseline);
      s.modelChanged(params.name);
      return g;
    },

    'models/try'(params) {
      return s.tryLocal.run(params.ref, params.input);
    },

    'runtime/estimate'(params) {
      return s.runtime.estimate(params);
    },

    async 'runtime/estimateBatch'(params) {
      return { estimates: await s.runtime.estimateBatch(params) };
    },

    async 'runtime/info'(params) {
      return { clusters: await s.runtime.info(params.cluster) };
    },

    'runtime/train'(params) {
      return s.runtime.train(params.cluster);
    },

    'estimates/watch'(params, ctx) {
      // An unknown cluster is the request's error, not every later notification's.
      s.clusters.get(params.cluster);
      const { id, delayMs, ...estimate } = params;
      return { id, revision: s.estimateStreams(ctx.session).update(id, estimate, delayMs) };
    },

    'estimates/unwatch'(params, ctx) {
      return { unwatched: s.estimateStreams(ctx.session).unwatch(params.id) };
    },

    async 'clusters/accounting'(params, ctx) {
      const cluster = s.clusters.get(params.name);
      const session = await s.connections.session(cluster, { promptVia: ctx.session });
      try {
        const a = await readAccounting((argv, opts) => session.exec(argv, opts));
        return { cluster: cluster.name, ...a, at: new Date().toISOString() };
      } catch (err) {
        throw new RpcError(ErrorCode.SlurmCommandFailed, `accounting on ${cluster.name}: ${(err as Error).message}`);
      }
    },

    async 'clusters/partitions'(params, ctx) {
      const cluster = s.clusters.get(params.name);
      const session = await s.connections.session(cluster, { promptVia: ctx.session });
      const r = await session.exec(sinfoCommand(), { timeoutMs: 30_000 });
      if (r.code !== 0) throw new RpcError(ErrorCode.SlurmCommandFailed, `sinfo on ${cluster.name} failed: ${r.stderr.trim() || `exit ${r.code}`}`);
      const parsed = parseSinfo(r.stdout);
      if (!parsed.ok) throw new RpcError(ErrorCode.SlurmCommandFailed, `sinfo on ${cluster.name}: ${parsed.error.message}`);
      return { cluster: cluster.name, partitions: parsed.value, at: new Date().toISOString() };
    },

    'runtime/accuracy'(params) {
      return s.runtime.accuracy(params.cluster, params.limit);
    },
  };
}
