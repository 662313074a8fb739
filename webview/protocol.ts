// The extension <-> dashboard webview contract: zod schemas, types inferred
// from them. The page and the extension validate what they receive against
// these; values that come from the daemon reuse the daemon's own schemas
// (daemon/protocol.ts imports zod only, so the page can bundle it).
import { z } from 'zod';
import {
  AliasMove,
  ClusterBudget,
  ClusterInfo,
  GateResult,
  GateRule,
  JobDetail,
  JobInfo,
  JobKind,
  ModelSummary,
  ModelVersionInfo,
  PartitionInfo,
  RuntimeAccuracyJob,
  RuntimeEstimate,
  RuntimeModelInfo,
  Metrics,
} from '../daemon/protocol';

export const WEBVIEW_PROTOCOL_VERSION = 2;

const IsoDate = z.iso.datetime({ offset: true });
const RequestId = z.string().min(1).max(64);

/**
 * One row of the jobs grid: what the grid shows, filters and sorts by. The
 * full record (script, metrics, outputs) is asked for when a job is opened.
 */
export const JobRow = z.object({
  id: z.string().min(1).max(64),
  cluster: z.string().max(64),
  slurmJobId: z.string().max(64).nullable(),
  name: z.string().max(1000),
  state: z.string().max(64),
  terminal: z.boolean(),
  kind: JobKind,
  reason: z.string().max(1000).nullable(),
  submitTime: IsoDate.nullable(),
  startTime: IsoDate.nullable(),
  endTime: IsoDate.nullable(),
  partition: z.string().max(200).nullable(),
  cpus: z.number().int().nullable(),
  timeLimitSeconds: z.number().int().nullable(),
  progress: z.number().min(0).max(100).nullable(),
  exitCode: z.number().int().nullable(),
  model: z.string().max(200).nullable(),
  modelVersion: z.number().int().nullable(),
});
export type JobRow = z.infer<typeof JobRow>;

/** The grid's row for a daemon job record. */
export function jobRow(j: z.infer<typeof JobInfo>): JobRow {
  return {
    id: j.id,
    cluster: j.cluster,
    slurmJobId: j.slurmJobId,
    name: j.name,
    state: j.state,
    terminal: j.terminal,
    kind: j.kind,
    reason: j.reason,
    submitTime: j.submitTime,
    startTime: j.startTime,
    endTime: j.endTime,
    partition: j.requested.partition,
    cpus: j.requested.cpus,
    timeLimitSeconds: j.requested.timeLimitSeconds,
    progress: j.progress,
    exitCode: j.exitCode,
    model: j.model,
    modelVersion: j.modelVersion,
  };
}

/** Whether the extension is connected to the daemon, in words for the page's banner. */
export const DaemonStatus = z.object({ state: z.enum(['starting', 'connected', 'reconnecting', 'stopped']), message: z.string().nullable() });
export type DaemonStatus = z.infer<typeof DaemonStatus>;

export const ClusterOverview = z.object({
  clusters: z.array(ClusterInfo),
  budgets: z.array(ClusterBudget),
});

export const ModelDetail = z.object({
  model: ModelSummary,
  totalVersions: z.number().int(),
  versions: z.array(ModelVersionInfo),
  history: z.array(AliasMove),
  rules: z.array(GateRule),
  gates: z.array(GateResult),
});
export type ModelDetail = z.infer<typeof ModelDetail>;

export const Lineage = z.object({ version: ModelVersionInfo, trainingJob: JobInfo.nullable(), evaluations: z.array(JobInfo), predictions: z.array(JobInfo) });
export type Lineage = z.infer<typeof Lineage>;

export const RuntimeOverview = z.object({
  cluster: z.string(),
  info: RuntimeModelInfo.nullable(),
  modelVersion: z.number().int().nullable(),
  totalJobs: z.number().int(),
  jobs: z.array(RuntimeAccuracyJob),
  metrics: z.object({ model: Metrics.nullable(), requested: Metrics.nullable(), lastTwo: Metrics.nullable() }),
  /** The runtime model's versions (newest first) with their metrics. */
  versions: z.array(ModelVersionInfo),
});
export type RuntimeOverview = z.infer<typeof RuntimeOverview>;

/** One job request of a batch estimate, as read from the uploaded CSV. */
export const BatchRow = z.object({
  name: z.string().max(200),
  time: z.string().max(64),
  cpus: z.string().max(16),
  nodes: z.string().max(16),
  mem: z.string().max(32),
  partition: z.string().max(200),
  gpus: z.string().max(16),
});
export type BatchRow = z.infer<typeof BatchRow>;

// ------------------------------------------------------------ host -> page

export const HostToWebview = z.discriminatedUnion('type', [
  /** The daemon connection's state; the page shows a banner when it is not connected. */
  z.object({ type: z.literal('daemon'), status: DaemonStatus }),
  /** Every job the page should know, replacing what it has (on open, restore, reconnect). */
  z.object({ type: z.literal('jobs/replace'), jobs: z.array(JobRow) }),
  /** Jobs that changed or appeared: the latest record of each. */
  z.object({ type: z.literal('jobs/update'), jobs: z.array(JobRow) }),
  z.object({ type: z.literal('clusters'), overview: ClusterOverview }),
  z.object({ type: z.literal('partitions'), cluster: z.string(), partitions: z.array(PartitionInfo), at: IsoDate }),
  z.object({ type: z.literal('models'), models: z.array(ModelSummary) }),
  z.object({ type: z.literal('model'), detail: ModelDetail }),
  z.object({ type: z.literal('lineage'), lineage: Lineage }),
  z.object({ type: z.literal('jobDetail'), detail: JobDetail, estimate: RuntimeEstimate.nullable() }),
  /** Bytes of the followed log; reset: replace what is shown (the first read, or a truncated file). */
  z.object({ type: z.literal('log'), jobId: z.string(), data: z.string(), reset: z.boolean(), done: z.boolean() }),
  z.object({ type: z.literal('runtime'), overview: RuntimeOverview }),
  z.object({ type: z.literal('batchEstimate'), requestId: RequestId, cluster: z.string(), estimates: z.array(RuntimeEstimate) }),
  /** The outcome of a request or an action the page sent. */
  z.object({ type: z.literal('result'), requestId: RequestId, ok: z.boolean(), message: z.string() }),
]);
export type HostToWebview = z.infer<typeof HostToWebview>;
export type HostMessageType = HostToWebview['type'];

// ------------------------------------------------------------ page -> host

/** The views of the dashboard. */
export const DashboardView = z.enum(['jobs', 'models', 'runtime', 'cluster']);
export type DashboardView = z.infer<typeof DashboardView>;

export const WebviewToHost = z.discriminatedUnion('type', [
  /** The page has loaded and listens; the host sends nothing before it. */
  z.object({ type: z.literal('ready'), version: z.number().int() }),
  /** Ask for the data a view shows (the host answers with the matching message). */
  z.object({ type: z.literal('load'), requestId: RequestId, what: z.enum(['models', 'clusters', 'runtime', 'partitions', 'model', 'lineage', 'jobDetail']), cluster: z.string().max(64).optional(), name: z.string().max(200).optional(), ref: z.string().max(200).optional() }),
  /** Follow a job's log (null: stop following). */
  z.object({ type: z.literal('followLog'), jobId: z.string().max(64).nullable() }),
  /** A job action; the host confirms cancel and resubmit with the user. */
  z.object({ type: z.literal('action'), requestId: RequestId, action: z.enum(['cancel', 'resubmit', 'showOutput', 'openScript']), jobId: z.string().min(1).max(64) }),
  z.object({ type: z.literal('batchEstimate'), requestId: RequestId, cluster: z.string().min(1).max(64), rows: z.array(BatchRow).min(1).max(10_000) }),
  /** Save text the page produced (a CSV) through the editor's save dialog. */
  z.object({ type: z.literal('saveFile'), requestId: RequestId, name: z.string().min(1).max(200), content: z.string().max(50_000_000) }),
  /** Something went wrong in the page (an error, a blocked resource): for the extension's log. */
  z.object({ type: z.literal('problem'), message: z.string().max(2000) }),
  /** What the page shows after a render: for the log and for tests. */
  z.object({ type: z.literal('rendered'), view: DashboardView, total: z.number().int(), shown: z.number().int(), rowIds: z.array(z.string()).max(200) }),
]);
export type WebviewToHost = z.infer<typeof WebviewToHost>;

/** Parses a message from the other side; a readable reason instead of a throw. */
export function parseMessage<T extends z.ZodType>(schema: T, data: unknown): { ok: true; message: z.output<T> } | { ok: false; error: string } {
  const r = schema.safeParse(data);
  if (r.success) return { ok: true, message: r.data };
  const first = r.error.issues[0];
  return { ok: false, error: first ? `${first.path.join('.') || 'message'}: ${first.message}` : 'invalid message' };
}
