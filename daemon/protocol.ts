// The extension <-> daemon contract. Every message on the wire is described
// here once, as a zod schema; TypeScript types are inferred from the schemas.
// This file imports zod only: the extension, the CLI and the daemon all
// import it, and nothing else is shared between them.
import { z } from 'zod';

/** Bumped on every incompatible change; compared in `initialize`. */
export const PROTOCOL_VERSION = 5;

// ---------------------------------------------------------------- envelopes

/** JSON-RPC 2.0 and slurm-ml error codes. One enum for every side. */
export const ErrorCode = {
  ParseError: -32700,
  InvalidRequest: -32600,
  MethodNotFound: -32601,
  InvalidParams: -32602,
  InternalError: -32603,
  /** A request other than `initialize` arrived before `initialize`. */
  ServerNotInitialized: -32002,
  /** Client side: no answer within the request timeout. */
  RequestTimeout: -32001,
  /** Client side: the connection closed before the answer arrived. */
  ConnectionClosed: -32003,
  /** The two sides speak different protocol versions. */
  ProtocolMismatch: -32004,
  NotFound: -32010,
  AlreadyExists: -32011,
  /** The request is valid but the object is not in a state that allows it. */
  Conflict: -32012,
  SshConnectFailed: -32020,
  HostKeyUnknown: -32021,
  HostKeyChanged: -32022,
  SshAuthFailed: -32023,
  SshTimeout: -32024,
  /** A file operation on the cluster (SFTP) failed. */
  RemoteFileFailed: -32025,
  SlurmCommandFailed: -32030,
} as const;
export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode];

const errorCodeValues = Object.values(ErrorCode) as [ErrorCode, ...ErrorCode[]];

export const RequestId = z.union([z.string().max(128), z.number().int()]);
export type RequestId = z.infer<typeof RequestId>;

export const ResponseError = z.object({
  code: z.number().int(),
  message: z.string(),
  data: z.unknown().optional(),
});
export type ResponseError = z.infer<typeof ResponseError>;

export const RequestMessage = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestId,
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type RequestMessage = z.infer<typeof RequestMessage>;

export const NotificationMessage = z.object({
  jsonrpc: z.literal('2.0'),
  method: z.string().min(1).max(128),
  params: z.unknown().optional(),
});
export type NotificationMessage = z.infer<typeof NotificationMessage>;

export const ResponseMessage = z.object({
  jsonrpc: z.literal('2.0'),
  id: RequestId.nullable(),
  result: z.unknown().optional(),
  error: ResponseError.optional(),
});
export type ResponseMessage = z.infer<typeof ResponseMessage>;

/** Extra data carried by errors the daemon raises. */
export const ErrorData = z.object({
  /** The correlation id of the request in the daemon's log. */
  correlationId: z.string().optional(),
  /** For InvalidParams: the path of the first offending field. */
  field: z.string().optional(),
  /** For ProtocolMismatch: the daemon's protocol version. */
  protocolVersion: z.number().int().optional(),
  /** For host key errors: the fingerprint the server offered. */
  fingerprint: z.string().optional(),
});
export type ErrorData = z.infer<typeof ErrorData>;

export interface RequestType<P extends z.ZodType, R extends z.ZodType, M extends string = string> {
  readonly kind: 'request';
  readonly method: M;
  readonly params: P;
  readonly result: R;
}
export interface NotificationType<P extends z.ZodType, M extends string = string> {
  readonly kind: 'notification';
  readonly method: M;
  readonly params: P;
}

function request<M extends string, P extends z.ZodType, R extends z.ZodType>(method: M, params: P, result: R): RequestType<P, R, M> {
  return { kind: 'request', method, params, result };
}
function notification<M extends string, P extends z.ZodType>(method: M, params: P): NotificationType<P, M> {
  return { kind: 'notification', method, params };
}

export type ParamsOf<T> = T extends RequestType<infer P, z.ZodType, string> ? z.input<P> : T extends NotificationType<infer P, string> ? z.input<P> : never;
export type ResultOf<T> = T extends RequestType<z.ZodType, infer R, string> ? z.output<R> : never;

// ------------------------------------------------------------------- values

const IsoDate = z.iso.datetime({ offset: true });
const Empty = z.object({}).strict();

export const LogLevel = z.enum(['debug', 'info', 'warn', 'error']);
export type LogLevel = z.infer<typeof LogLevel>;

/** A cluster's name as used on the command line: a plain token. */
export const ClusterName = z
  .string()
  .regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a cluster name is 1-64 letters, digits, ".", "_" or "-", starting with a letter or digit');

/** A model's name: also a directory name on the cluster. */
export const ModelName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a model name is 1-64 letters, digits, ".", "_" or "-"');

const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

/**
 * ssh: the cluster's login node, reached over SSH. local: SLURM's commands
 * run on the daemon's own machine (a login node under Remote-SSH, a compute
 * node in Open OnDemand, a submit host), as the daemon's user, with no shell
 * and no SSH.
 */
export const ClusterKind = z.enum(['ssh', 'local']);
export type ClusterKind = z.infer<typeof ClusterKind>;

/**
 * How to reach a cluster: a Host alias from the user's ssh config
 * (`~/.ssh/config`), resolved at each connect the way `ssh ALIAS` would, or
 * explicit settings; explicit settings override what the alias gives. Kind
 * `local` takes none of them.
 */
export const ClusterConfig = z
  .object({
    name: ClusterName,
    /** Default ssh. */
    kind: ClusterKind.optional(),
    /** A Host alias of the ssh config; HostName, User, Port, IdentityFile, ProxyJump... come from there. */
    sshAlias: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9._@%+-]+$/, 'an ssh alias is one word without wildcards')
      .optional(),
    host: z
      .string()
      .min(1)
      .max(255)
      .regex(/^[A-Za-z0-9._:-]+$/, 'a host is a DNS name or an IP address')
      .optional(),
    port: z.number().int().min(1).max(65535).optional(),
    user: z
      .string()
      .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, 'a user is a POSIX login name')
      .optional(),
    identityFile: AbsolutePath.optional(),
    /** Defaults to ~/.ssh/known_hosts of the user running the daemon. */
    knownHostsFile: AbsolutePath.optional(),
    /** Defaults to ~/.ssh/config. */
    sshConfigFile: AbsolutePath.optional(),
  })
  .refine((c) => c.kind === 'local' || c.sshAlias !== undefined || c.host !== undefined, { message: 'give --host or --ssh-alias (or --local)', path: ['host'] })
  .refine(
    (c) => c.kind !== 'local' || [c.sshAlias, c.host, c.port, c.user, c.identityFile, c.knownHostsFile, c.sshConfigFile].every((v) => v === undefined),
    { message: 'a local cluster runs SLURM on this machine: it takes no ssh settings', path: ['kind'] },
  );
export type ClusterConfig = z.infer<typeof ClusterConfig>;

/**
 * disconnected: no session (none needed yet, or closed); connecting; ready;
 * waiting-for-user: a prompt (host key, password, code, passphrase) awaits an
 * answer from a client; backoff: the last attempt failed and the next waits
 * until retryAt (new connections are also capped per minute); failed: the
 * last attempt failed for a reason retrying cannot fix (host key, auth).
 */
export const ConnectionStatus = z.enum(['disconnected', 'connecting', 'ready', 'waiting-for-user', 'backoff', 'failed']);
export type ConnectionStatus = z.infer<typeof ConnectionStatus>;

export const ConnectionState = z.object({
  status: ConnectionStatus,
  /** Why the last attempt failed, in words a person can act on. */
  message: z.string().nullable(),
  since: IsoDate,
  /** In backoff: when the next attempt may start. */
  retryAt: IsoDate.nullable(),
});
export type ConnectionState = z.infer<typeof ConnectionState>;

export const ClusterInfo = z.object({
  id: z.uuid(),
  name: ClusterName,
  /** ssh for daemons from before local clusters. */
  kind: ClusterKind.default('ssh'),
  sshAlias: z.string().nullable(),
  /** As configured; null when the ssh config alias provides it. */
  host: z.string().nullable(),
  port: z.number().int().nullable(),
  user: z.string().nullable(),
  identityFile: z.string().nullable(),
  knownHostsFile: z.string(),
  sshConfigFile: z.string().nullable(),
  createdAt: IsoDate,
  connection: ConnectionState,
});
export type ClusterInfo = z.infer<typeof ClusterInfo>;

/**
 * SLURM job states as SLURM names them (PENDING, RUNNING, COMPLETED, FAILED,
 * CANCELLED, TIMEOUT, OUT_OF_MEMORY, ...), plus SUBMITTING before sbatch
 * answered, SUBMIT_FAILED when sbatch refused the job, and LOST when the
 * cluster no longer knows a job it never reported finished.
 */
export const JobState = z.string().regex(/^[A-Z_]+$/);
export type JobState = z.infer<typeof JobState>;

export const RequestedResources = z.object({
  partition: z.string().nullable(),
  qos: z.string().nullable(),
  account: z.string().nullable(),
  timeLimitSeconds: z.number().int().nullable(),
  nodes: z.number().int().nullable(),
  cpus: z.number().int().nullable(),
  /** As SLURM reports it, e.g. "cpu=1,mem=256M,node=1,billing=1". */
  tres: z.string().nullable(),
});
export type RequestedResources = z.infer<typeof RequestedResources>;

export const ArraySummary = z.object({
  /** Tasks in the array (from its index expression). */
  total: z.number().int(),
  /** Task counts by state; tasks SLURM has not started are PENDING. */
  byState: z.record(z.string(), z.number().int()),
  /** True once every task is in a terminal state. */
  done: z.boolean(),
});
export type ArraySummary = z.infer<typeof ArraySummary>;

export const ArrayTask = z.object({
  taskId: z.number().int(),
  /** The task's own SLURM job id (JobIDRaw). */
  slurmJobId: z.string().nullable(),
  state: JobState,
  reason: z.string().nullable(),
  startTime: IsoDate.nullable(),
  endTime: IsoDate.nullable(),
  exitCode: z.number().int().nullable(),
  exitSignal: z.number().int().nullable(),
});
export type ArrayTask = z.infer<typeof ArrayTask>;

export const JobKind = z.enum(['job', 'train', 'predict', 'evaluate']);
export type JobKind = z.infer<typeof JobKind>;

/** Metrics as a job reports them in metrics.json: numbers by name. */
export const Metrics = z.record(z.string().max(128), z.number());
export type Metrics = z.infer<typeof Metrics>;

export const OutputFile = z.object({ path: z.string(), size: z.number().int() });
export type OutputFile = z.infer<typeof OutputFile>;

/** Where a runtime estimate came from: the cluster's runtime model, the user's last runs, the time limit itself, or nothing. */
const EstimateSource = z.enum(['model', 'history', 'request', 'none']);

export const JobInfo = z.object({
  id: z.uuid(),
  cluster: ClusterName,
  /** Null until sbatch answered. */
  slurmJobId: z.string().nullable(),
  name: z.string(),
  state: JobState,
  /** True once the state can no longer change. */
  terminal: z.boolean(),
  reason: z.string().nullable(),
  submitTime: IsoDate.nullable(),
  startTime: IsoDate.nullable(),
  endTime: IsoDate.nullable(),
  /** Exit code of the batch script; null while running or when unknown. */
  exitCode: z.number().int().nullable(),
  /** Signal that ended the batch script, if any. */
  exitSignal: z.number().int().nullable(),
  requested: RequestedResources,
  /** Directory on the cluster where the script was uploaded and run. */
  runDir: z.string(),
  scriptPath: z.string(),
  stdoutPath: z.string().nullable(),
  stderrPath: z.string().nullable(),
  /** 0-100, from the job's log (see README: progress lines); null when never reported. */
  progress: z.number().min(0).max(100).nullable(),
  /** For a job array: its tasks counted by state. Null for a plain job. */
  array: ArraySummary.nullable(),
  /**
   * The runtime estimate made when the job was submitted (seconds), from the
   * model, history or request as they were then; null for jobs submitted
   * without one (before slurm-ml stored them, or nothing could be said).
   */
  estimate: z
    .object({
      p10: z.number().nullable(),
      p50: z.number().nullable(),
      p90: z.number().nullable(),
      source: EstimateSource.exclude(['none']),
      modelVersion: z.number().int().nullable(),
    })
    .nullable()
    // Absent from daemons that did not store it yet (same protocol version): read as null.
    .default(null),
  /** The job this one was resubmitted from, if any. */
  resubmittedFrom: z.uuid().nullable(),
  /** job: a plain sbatch script; train/predict/evaluate: an ML workflow job. */
  kind: JobKind,
  /** For train: the model it trains; predict/evaluate: the model version used. */
  model: z.string().nullable(),
  modelVersion: z.number().int().nullable(),
  /** Where the job writes its results on the cluster (artifacts, metrics, predictions). */
  outputDir: z.string().nullable(),
  /**
   * Once the job ended: whether its results were collected (a train job's
   * version registered, metrics and outputs stored, a failed job's log tail
   * kept). Plain jobs are finalized when they end.
   */
  finalized: z.boolean(),
  createdAt: IsoDate,
  updatedAt: IsoDate,
});
export type JobInfo = z.infer<typeof JobInfo>;
export type SubmitEstimate = NonNullable<JobInfo['estimate']>;

export const JobDetail = JobInfo.extend({
  /** The script exactly as submitted. */
  script: z.string(),
  /** The template and values it was rendered from, for workflow jobs. */
  template: z.string().nullable(),
  values: z.record(z.string(), z.unknown()).nullable(),
  /** What the job reported in metrics.json, once it ended. */
  metrics: Metrics.nullable(),
  /** Files the job produced in its output directory (predictions, artifacts), once it ended. */
  outputs: z.array(OutputFile).nullable(),
  /** The end of its log, kept when a workflow job failed. */
  logTail: z.string().nullable(),
  /** The sbatch arguments given besides the script. */
  sbatchArgs: z.array(z.string()),
});
export type JobDetail = z.infer<typeof JobDetail>;

/**
 * A job reference as a person types it: a uuid, a uuid prefix of at least 6
 * characters, a SLURM job id, or CLUSTER:SLURMID.
 */
export const JobRef = z.string().min(1).max(200);

const SbatchArg = z
  .string()
  .min(2)
  .max(4096)
  .refine((a) => a.startsWith('-'), 'an sbatch argument is an option starting with "-"')
  .refine((a) => !a.includes('\0'), 'must not contain NUL');

// ------------------------------------------------------------------ methods

/** Client -> daemon, first message on every connection. */
export const Initialize = request(
  'initialize',
  z.object({
    protocolVersion: z.number().int(),
    clientName: z.string().min(1).max(64),
    clientVersion: z.string().max(64).optional(),
    /** prompts: this client answers ssh/prompt requests (it has a person in front of it). */
    capabilities: z.object({ prompts: z.boolean().default(false) }).default({ prompts: false }),
  }),
  z.object({
    protocolVersion: z.number().int(),
    daemonVersion: z.string(),
    pid: z.number().int(),
  }),
);

export const DaemonStatusResult = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  protocolVersion: z.number().int(),
  daemonVersion: z.string(),
  stateDir: z.string(),
  stateFile: z.string(),
  database: z.string(),
  logLevel: LogLevel,
  startedAt: IsoDate,
  connections: z.number().int(),
  /** The Prometheus endpoint (`http://127.0.0.1:PORT/metrics`), or null when metrics are off (the default). */
  metrics: z.string().nullable(),
  /** The file holding the bearer token the metrics endpoint asks for (Prometheus: `credentials_file`), or null when metrics are off. */
  metricsTokenFile: z.string().nullable().default(null),
  /** The machine the daemon runs on (a state directory shared by login nodes holds one daemon); null from older daemons. */
  host: z.string().nullable().default(null),
  /**
   * The filesystem of the state directory (`ext4`, `nfs4`, `lustre`…) and the
   * registry's SQLite journal: `wal`, or `delete` on a network filesystem,
   * where WAL does not work. Null from older daemons.
   */
  stateFilesystem: z.string().nullable().default(null),
  registryJournal: z.enum(['wal', 'delete']).nullable().default(null),
});
export type DaemonStatusResult = z.infer<typeof DaemonStatusResult>;

/** Client -> daemon. */
export const DaemonStatus = request('daemon/status', Empty, DaemonStatusResult);

/** Client -> daemon: stop the daemon after answering. */
export const DaemonShutdown = request('daemon/shutdown', Empty, z.object({ stopping: z.literal(true) }));

/** Client -> daemon. */
export const DaemonSetLogLevel = request('daemon/setLogLevel', z.object({ level: LogLevel }), z.object({ level: LogLevel }));

export const HealthResult = z.object({
  ok: z.boolean(),
  database: z.object({
    ok: z.boolean(),
    path: z.string(),
    schemaVersion: z.number().int(),
    message: z.string().nullable(),
    /** The database file and its write-ahead log, in bytes. */
    sizeBytes: z.number().int(),
  }),
  clusters: z.array(z.object({ name: ClusterName, connection: ConnectionState })),
  poller: z.object({
    running: z.boolean(),
    intervalMs: z.number().int(),
    activeJobs: z.number().int(),
    lastCycleAt: IsoDate.nullable(),
    lastError: z.string().nullable(),
  }),
});
export type HealthResult = z.infer<typeof HealthResult>;

/** Client -> daemon. */
export const Health = request('health', Empty, HealthResult);

/** Client -> daemon: register a cluster (nothing is connected yet). */
export const ClustersAdd = request('clusters/add', ClusterConfig, ClusterInfo);

/** Client -> daemon. */
export const ClustersList = request('clusters/list', Empty, z.object({ clusters: z.array(ClusterInfo) }));

/** Client -> daemon: forget a cluster; its jobs' records stay. */
export const ClustersRemove = request('clusters/remove', z.object({ name: ClusterName }), z.object({ removed: z.literal(true) }));

/** The cluster's SLURM release as `sinfo --version` printed it when the connection was made. */
export const SlurmVersionInfo = z.object({
  /** The version word: `22.05.8`, `20.11.9-1.el8`. */
  version: z.string(),
  major: z.number().int(),
  minor: z.number().int(),
  patch: z.number().int(),
  /** The package name printed before it: `slurm`, `slurm-wlm`. */
  distribution: z.string(),
  /** At least 20.11, the oldest release docs/slurm-compatibility.md covers. */
  supported: z.boolean(),
  /** Why the release is outside the checked range; empty inside it. */
  note: z.string(),
});
export type SlurmVersionInfo = z.infer<typeof SlurmVersionInfo>;

export const ClusterTestResult = z.object({
  name: ClusterName,
  hostKeyFingerprint: z.string(),
  /** Round trip of one command over the established connection. */
  latencyMs: z.number(),
  /** As printed (`slurm-wlm 22.05.8`); null when no SLURM answered. */
  slurmVersion: z.string().nullable(),
  /** The same, read: null when unreadable; absent from daemons before it was added. */
  slurm: SlurmVersionInfo.nullable().optional(),
  remoteUser: z.string(),
});
export type ClusterTestResult = z.infer<typeof ClusterTestResult>;

/** Client -> daemon: connect (if needed) and run a trivial command. */
export const ClustersTest = request('clusters/test', z.object({ name: ClusterName }), ClusterTestResult);

/** Client -> daemon: close the cluster's SSH connection now; the next command (or poll, while jobs are followed) opens a new one. */
export const ClustersDisconnect = request('clusters/disconnect', z.object({ name: ClusterName }), z.object({ name: ClusterName, wasConnected: z.boolean() }));

/**
 * Client -> daemon: whether SLURM's commands are on the daemon's own machine
 * (`sinfo --version` answers), so it can be added as a cluster of kind
 * local: what the editor offers on first start under Remote-SSH or in Open
 * OnDemand. `slurmVersion` is what sinfo printed ("slurm 23.11.4"); `why`
 * says what failed when it is not available.
 */
export const ClustersDetectLocal = request(
  'clusters/detectLocal',
  z.object({}),
  z.object({
    available: z.boolean(),
    slurmVersion: z.string().nullable(),
    /** This machine's name and the daemon's user: what a local cluster runs as. */
    host: z.string(),
    user: z.string(),
    why: z.string().nullable(),
  }),
);

/** Client -> daemon: upload a script and submit it with sbatch. */
export const JobsSubmit = request(
  'jobs/submit',
  z.object({
    /**
     * Chosen by the client to make the submit idempotent: a second submit with
     * the same id returns the first job instead of submitting again.
     */
    id: z.uuid().optional(),
    cluster: ClusterName,
    /** The script's text. */
    script: z.string().min(1).max(1_000_000),
    /** The file name the script gets in its run directory. */
    scriptName: z
      .string()
      .min(1)
      .max(255)
      .refine((n) => !n.includes('/') && n !== '.' && n !== '..' && !n.includes('\0'), 'a file name, not a path'),
    /** SLURM job name; defaults to the script name. SLURM prints it raw into line-based output, so one line. */
    name: z
      .string()
      .min(1)
      .max(200)
      .refine((n) => !/[\n\r\0]/.test(n), 'a job name must be one line (no newline, carriage return or NUL)')
      .optional(),
    sbatchArgs: z.array(SbatchArg).max(64).default([]),
  }),
  JobInfo,
);

/** Client -> daemon. Newest first. */
export const JobsList = request(
  'jobs/list',
  z.object({
    cluster: ClusterName.optional(),
    /** Only jobs whose state can still change. */
    active: z.boolean().optional(),
    limit: z.number().int().min(1).max(10_000).default(100),
  }),
  z.object({ jobs: z.array(JobInfo) }),
);

/** Client -> daemon. */
export const JobsGet = request('jobs/get', z.object({ ref: JobRef }), JobDetail);

/** Array task ids: `3`, `3-7`, `1,4,9-12`. */
const TaskSpec = z.string().regex(/^\d+(-\d+)?(,\d+(-\d+)?)*$/, 'tasks are ids and ranges like 3-7 or 1,4,9-12');

/** Client -> daemon: scancel the job, or only these tasks of an array; answers with the job as it is now. */
export const JobsCancel = request('jobs/cancel', z.object({ ref: JobRef, tasks: TaskSpec.optional() }), JobInfo);

/** Client -> daemon: an array's tasks, by task id. */
export const JobsTasks = request(
  'jobs/tasks',
  z.object({ ref: JobRef, offset: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(10_000).default(1000) }),
  z.object({ total: z.number().int(), tasks: z.array(ArrayTask) }),
);

/** A SLURM time limit as sbatch takes it: MM, MM:SS, HH:MM:SS, D-HH, D-HH:MM, D-HH:MM:SS. */
const SlurmTime = z.string().regex(/^(\d+-\d{1,2}(:\d{1,2}){0,2}|\d+(:\d{1,2}){0,2})$/, 'a SLURM time: MM, HH:MM:SS or D-HH:MM:SS');
/** Memory as sbatch --mem takes it: a number with an optional K/M/G/T suffix. */
const SlurmMemory = z.string().regex(/^\d+[KMGT]?$/, 'memory like 4000M or 16G');

export const ResubmitPlan = z.object({
  /** What the new job would be given; the client shows these for confirmation. */
  time: z.string().nullable(),
  mem: z.string().nullable(),
  /** Why these values: "ended TIMEOUT after 1:00:00: doubled the limit". */
  reason: z.string(),
});
export type ResubmitPlan = z.infer<typeof ResubmitPlan>;

/** Client -> daemon: what a resubmit would change, before the user confirms. */
export const JobsResubmitPlan = request('jobs/resubmitPlan', z.object({ ref: JobRef }), ResubmitPlan);

/** Client -> daemon: submit a finished job's script again, with the same options or more time/memory. */
export const JobsResubmit = request(
  'jobs/resubmit',
  z.object({ ref: JobRef, id: z.uuid().optional(), time: SlurmTime.optional(), mem: SlurmMemory.optional() }),
  JobInfo,
);

export const ClusterBudget = z.object({
  name: ClusterName,
  /** SLURM commands run on the cluster in the last 60 s (all kinds). */
  commandsLastMinute: z.number().int(),
  /** New SSH connections in the last 60 s, and the cap. */
  connectionsLastMinute: z.number().int(),
  connectionsPerMinuteCap: z.number().int(),
  /** The poll interval now in force (adaptive) and the site-friendly floor. */
  pollIntervalMs: z.number().int(),
  lastPollAt: IsoDate.nullable(),
  nextPollAt: IsoDate.nullable(),
  /** Why polling is paused, when it is. */
  paused: z.string().nullable(),
});
export type ClusterBudget = z.infer<typeof ClusterBudget>;

/** Client -> daemon: how hard the daemon is using each cluster. */
export const ClustersBudget = request('clusters/budget', Empty, z.object({ clusters: z.array(ClusterBudget) }));

export const LogStream = z.enum(['stdout', 'stderr']);
export type LogStream = z.infer<typeof LogStream>;

/**
 * Client -> daemon: read a job's log from an offset; with follow, new bytes
 * arrive as logs/didAppend notifications until the job ends and the file is
 * read to its end (or logs/unsubscribe).
 */
export const LogsTail = request(
  'logs/tail',
  z.object({
    ref: JobRef,
    stream: LogStream.default('stdout'),
    /** Byte offset to start from; negative: that many bytes before the end. */
    offset: z.number().int().default(-65536),
    follow: z.boolean().default(false),
  }),
  z.object({
    jobId: z.uuid(),
    path: z.string(),
    /** Offset of the first byte of data. */
    offset: z.number().int(),
    data: z.string(),
    /** The file's size when read; the next read starts here. */
    nextOffset: z.number().int(),
    /** Set when follow was asked: notifications carry it. */
    subscriptionId: z.string().nullable(),
  }),
);

/** Client -> daemon: stop following a log. */
export const LogsUnsubscribe = request('logs/unsubscribe', z.object({ subscriptionId: z.string() }), z.object({ unsubscribed: z.boolean() }));

/**
 * Daemon -> client: ask the person for something the SSH login needs: to
 * trust an unknown host key, a password, keyboard-interactive answers (e.g. a
 * two-factor code), or a key passphrase. Answers go straight to the SSH
 * server; the daemon never stores them.
 */
export const SshPrompt = request(
  'ssh/prompt',
  z.object({
    cluster: ClusterName,
    kind: z.enum(['host-key', 'password', 'keyboard-interactive', 'passphrase']),
    /** One line to show as the title: "Two-factor login to alice@login.hpc.example". */
    title: z.string(),
    instructions: z.string().nullable(),
    prompts: z.array(z.object({ prompt: z.string(), echo: z.boolean() })),
    /** For kind host-key: what the server offered. */
    hostKey: z.object({ host: z.string(), port: z.number().int(), keyType: z.string(), fingerprint: z.string() }).nullable(),
  }),
  z.union([
    z.object({ outcome: z.literal('answered'), answers: z.array(z.string().max(4096)).max(32) }),
    z.object({ outcome: z.literal('accepted') }),
    z.object({ outcome: z.literal('cancelled') }),
  ]),
);

// ------------------------------------------------------------ notifications

/** Daemon -> client: a job's record changed. */
export const JobsDidChange = notification('jobs/didChange', z.object({ job: JobInfo }));

/** Daemon -> client: new bytes of a followed log; `done` once the job ended and the file was read to its end. */
export const LogsDidAppend = notification(
  'logs/didAppend',
  z.object({
    subscriptionId: z.string(),
    jobId: z.uuid(),
    stream: LogStream,
    offset: z.number().int(),
    data: z.string(),
    done: z.boolean(),
  }),
);

/** Daemon -> client: a model, its versions or aliases changed. */
export const ModelsDidChange = notification('models/didChange', z.object({ name: ModelName }));

/** Daemon -> client: a cluster's connection state changed. */
export const ClustersDidChange = notification('clusters/didChange', z.object({ name: ClusterName, connection: ConnectionState }));

// ------------------------------------------------------------- ML workflows

/** A template's variable, declared in the template's header. */
export const TemplateVariable = z.object({
  name: z.string(),
  /**
   * string: any text, inserted shell-quoted; token: a plain word (partition,
   * QOS, account, GRES) inserted as is after a strict check; integer, number,
   * boolean; enum: one of `values`; time: a SLURM time limit; memory: 4000M, 16G.
   */
  type: z.enum(['string', 'token', 'integer', 'number', 'boolean', 'enum', 'time', 'memory']),
  description: z.string(),
  required: z.boolean(),
  default: z.union([z.string(), z.number(), z.boolean()]).nullable(),
  values: z.array(z.string()).nullable(),
  pattern: z.string().nullable(),
  min: z.number().nullable(),
  max: z.number().nullable(),
});
export type TemplateVariable = z.infer<typeof TemplateVariable>;

export const TemplateInfo = z.object({
  name: z.string(),
  /** What the template is for: workflows pick theirs by kind. */
  kind: JobKind,
  description: z.string(),
  /** builtin: shipped in templates/; workspace: from WORKSPACE/.slurm-ml/templates (overrides a builtin of the same name). */
  source: z.enum(['builtin', 'workspace']),
  path: z.string(),
  variables: z.array(TemplateVariable),
});
export type TemplateInfo = z.infer<typeof TemplateInfo>;

const TemplateName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a template name is a plain word');
const TemplateValues = z.record(z.string().max(64), z.union([z.string().max(65_536), z.number(), z.boolean()])).default({});
/** `name@prod`, `name@v3`, `name@3`, or `name` (its latest version). */
export const ModelRef = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}(@[A-Za-z0-9][A-Za-z0-9._-]{0,63})?$/, 'a model is NAME, NAME@ALIAS or NAME@vN');
const WorkspaceFile = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

/** Client -> daemon: the templates a workspace can use (builtin ones, overridden by its own). */
export const TemplatesList = request('templates/list', z.object({ workspace: AbsolutePath.optional() }), z.object({ templates: z.array(TemplateInfo) }));

/** Client -> daemon: a dry run: the script a template and values give, nothing submitted. */
export const TemplatesRender = request(
  'templates/render',
  z.object({
    template: TemplateName,
    workspace: AbsolutePath.optional(),
    values: TemplateValues,
    /** The template's text (an unsaved editor buffer) instead of the file named `template`. */
    source: z.string().max(1_000_000).optional(),
  }),
  z.object({ template: z.string(), script: z.string(), values: z.record(z.string(), z.unknown()) }),
);

const WorkflowCommon = {
  id: z.uuid().optional(),
  cluster: ClusterName,
  /** The workspace folder (local): the entrypoint and config are read from it; its git commit is recorded. */
  workspace: AbsolutePath,
  template: TemplateName.optional(),
  values: TemplateValues,
  /** Python entrypoint, relative to the workspace (or absolute). */
  entrypoint: WorkspaceFile,
  /** JSON config, relative to the workspace (or absolute). */
  config: WorkspaceFile.optional(),
};

/** Client -> daemon: train a model; a COMPLETED job becomes the model's next version. */
export const TrainSubmit = request(
  'train/submit',
  z.object({ ...WorkflowCommon, model: ModelName, tags: z.record(z.string().max(64), z.string().max(256)).default({}) }),
  JobInfo,
);

/** Client -> daemon: run a model version on an input (a path on the cluster); outputs land in a fresh directory. */
export const PredictSubmit = request('predict/submit', z.object({ ...WorkflowCommon, model: ModelRef, input: z.string().min(1).max(4096) }), JobInfo);

/** Client -> daemon: evaluate a model version on a dataset (a path on the cluster); its metrics are stored on the version. */
export const EvaluateSubmit = request('evaluate/submit', z.object({ ...WorkflowCommon, model: ModelRef, dataset: z.string().min(1).max(4096) }), JobInfo);

/**
 * An experiment tracker's record of a version: the tracking URI and experiment
 * its template declared, and the run id its training job reported (a line
 * `SLURM_ML_MLFLOW_RUN_ID=ID` on stdout). `runUrl` is the run's page when the
 * tracking URI is an http(s) MLflow server, else null.
 */
export const MlflowLink = z.object({
  trackingUri: z.string(),
  experimentName: z.string().nullable(),
  runId: z.string().nullable(),
  runUrl: z.string().nullable(),
});
export type MlflowLink = z.infer<typeof MlflowLink>;

export const ModelVersionInfo = z.object({
  model: ModelName,
  version: z.number().int(),
  /** Aliases that point at this version now. */
  aliases: z.array(z.string()),
  /** Where the artifact is on the cluster. */
  cluster: ClusterName,
  artifactPath: z.string(),
  /** Files in the artifact directory. */
  artifacts: z.array(OutputFile),
  /** Training metrics (metrics.json). */
  metrics: Metrics,
  /** Metrics of the latest evaluation. */
  evaluation: Metrics.nullable(),
  /** Null for a version the daemon trained itself (a runtime model). */
  trainingJob: z.uuid().nullable(),
  gitCommit: z.string().nullable(),
  tags: z.record(z.string(), z.string()),
  note: z.string().nullable(),
  createdAt: IsoDate,
  /** The MLflow tracker its template declared and the run its training job reported; null or absent without a tracker. */
  mlflow: MlflowLink.nullable().optional(),
});
export type ModelVersionInfo = z.infer<typeof ModelVersionInfo>;

export const ModelSummary = z.object({
  name: ModelName,
  versions: z.number().int(),
  latest: z.number().int().nullable(),
  aliases: z.record(z.string(), z.number().int()),
  createdAt: IsoDate,
});
export type ModelSummary = z.infer<typeof ModelSummary>;

export const AliasMove = z.object({
  alias: z.string(),
  /** Null when the alias was new. */
  fromVersion: z.number().int().nullable(),
  /** Null when the alias was removed. */
  toVersion: z.number().int().nullable(),
  action: z.enum(['promote', 'rollback']),
  who: z.string(),
  why: z.string().nullable(),
  forced: z.boolean(),
  at: IsoDate,
});
export type AliasMove = z.infer<typeof AliasMove>;

export const GateRule = z.object({
  metric: z.string().min(1).max(128),
  /** higher: bigger is better (accuracy); lower: smaller is better (latency). */
  direction: z.enum(['higher', 'lower']),
  /** Allowed worsening: absolute (in the metric's unit) or relative (0.1 = 10 %). */
  tolerance: z.number().min(0),
  mode: z.enum(['absolute', 'relative']),
});
export type GateRule = z.infer<typeof GateRule>;

export const GateRuleResult = GateRule.extend({
  candidate: z.number().nullable(),
  baseline: z.number().nullable(),
  /** The worst value the candidate could have had and still pass. */
  limit: z.number().nullable(),
  pass: z.boolean(),
  detail: z.string(),
});
export type GateRuleResult = z.infer<typeof GateRuleResult>;

export const GateResult = z.object({
  id: z.uuid(),
  model: ModelName,
  candidate: z.number().int(),
  baseline: z.number().int(),
  pass: z.boolean(),
  rules: z.array(GateRuleResult),
  at: IsoDate,
});
export type GateResult = z.infer<typeof GateResult>;

const Page = { offset: z.number().int().min(0).default(0), limit: z.number().int().min(1).max(1000).default(100) };

/** Client -> daemon. */
export const ModelsList = request('models/list', z.object(Page), z.object({ total: z.number().int(), models: z.array(ModelSummary) }));

/** Client -> daemon: a model with a page of its versions (newest first), its aliases and their history. */
export const ModelsGet = request(
  'models/get',
  z.object({ name: ModelName, ...Page }),
  z.object({
    model: ModelSummary,
    totalVersions: z.number().int(),
    versions: z.array(ModelVersionInfo),
    history: z.array(AliasMove),
    rules: z.array(GateRule),
    gates: z.array(GateResult),
  }),
);

/** Client -> daemon: one version, resolved from NAME@ALIAS or NAME@vN. */
export const ModelsVersion = request('models/version', z.object({ ref: ModelRef }), ModelVersionInfo);

/** Client -> daemon: point an alias at a version. Moving `prod` needs a passing gate unless forced with a reason. */
export const ModelsPromote = request(
  'models/promote',
  z.object({
    name: ModelName,
    version: z.number().int().min(1),
    alias: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'an alias is a lower-case word').default('prod'),
    force: z.boolean().default(false),
    reason: z.string().max(1000).optional(),
  }),
  z.object({ alias: z.string(), fromVersion: z.number().int().nullable(), toVersion: z.number().int(), gate: GateResult.nullable() }),
);

/** Client -> daemon: give an alias back to the version that held it before the last move. */
export const ModelsRollback = request(
  'models/rollback',
  z.object({ name: ModelName, alias: z.string().default('prod'), reason: z.string().max(1000).optional() }),
  z.object({ alias: z.string(), fromVersion: z.number().int().nullable(), toVersion: z.number().int() }),
);

/** Client -> daemon: tags and a note on a version. */
export const ModelsAnnotate = request(
  'models/annotate',
  z.object({ ref: ModelRef, tags: z.record(z.string().max(64), z.string().max(256)).default({}), note: z.string().max(10_000).optional() }),
  ModelVersionInfo,
);

/** Client -> daemon: training job -> version -> evaluations -> predictions. */
export const ModelsLineage = request(
  'models/lineage',
  z.object({ ref: ModelRef }),
  z.object({ version: ModelVersionInfo, trainingJob: JobInfo.nullable(), evaluations: z.array(JobInfo), predictions: z.array(JobInfo) }),
);

/** Client -> daemon: the gate rules of a model (defaults until set). */
export const GatesSetRules = request('gates/setRules', z.object({ name: ModelName, rules: z.array(GateRule).max(32) }), z.object({ rules: z.array(GateRule) }));

/** Client -> daemon: compare a candidate with a baseline (default: the version `prod` points at). */
export const GatesRun = request('gates/run', z.object({ name: ModelName, candidate: z.number().int().min(1), baseline: z.number().int().min(1).optional() }), GateResult);

/** Client -> daemon: run an ONNX model version locally (downloaded to a cache) on one JSON input. */
export const ModelsTry = request(
  'models/try',
  z.object({ ref: ModelRef, input: z.unknown() }),
  z.object({ model: ModelName, version: z.number().int(), outputs: z.record(z.string(), z.unknown()), latencyMs: z.number(), cached: z.boolean() }),
);

// ---------------------------------------------------------- runtime estimates

export const ScriptProblem = z.object({
  line: z.number().int(),
  column: z.number().int(),
  endColumn: z.number().int(),
  severity: z.enum(['error', 'warning']),
  message: z.string(),
  option: z.string().optional(),
});
export type ScriptProblem = z.infer<typeof ScriptProblem>;

/**
 * Something the daemon does to the script that the user should know of, not a
 * fault in it. crlf-converted: the script has Windows line endings, which
 * sbatch refuses; the daemon uploads it with Unix ones (the position is the
 * first CRLF).
 */
export const ScriptNotice = z.object({
  code: z.string(),
  line: z.number().int(),
  column: z.number().int(),
  endColumn: z.number().int(),
  message: z.string(),
});
export type ScriptNotice = z.infer<typeof ScriptNotice>;

export const RuntimeWarning = z.object({
  /** timeout-risk: the limit is below p90; over-request: the limit is above 4 × p90 and 15 minutes or more above the suggested limit. */
  kind: z.enum(['timeout-risk', 'over-request']),
  message: z.string(),
  /** A limit to use instead (SLURM form, whole minutes), when one can be suggested; with a model, one its estimate at that limit does not warn about. */
  suggestedLimit: z.string().nullable(),
});
export type RuntimeWarning = z.infer<typeof RuntimeWarning>;

export const RuntimeEstimate = z.object({
  /** Seconds; null when nothing can be said (no history, no limit). */
  p10: z.number().nullable(),
  p50: z.number().nullable(),
  p90: z.number().nullable(),
  /** model: the cluster's runtime model; history: the user's last runs; request: the time limit itself. */
  source: EstimateSource,
  modelVersion: z.number().int().nullable(),
  /** From `sbatch --test-only`, when asked for and the cluster answered. */
  expectedStart: IsoDate.nullable(),
  timeLimitSeconds: z.number().nullable(),
  warnings: z.array(RuntimeWarning),
  /** What the directive parser could not understand. */
  problems: z.array(ScriptProblem),
  /** What the daemon does to the script on submit. Absent: nothing (and from daemons before it was added). */
  notices: z.array(ScriptNotice).optional(),
});
export type RuntimeEstimate = z.infer<typeof RuntimeEstimate>;

const EstimateRequest = z.object({
  cluster: ClusterName,
  /** The sbatch script's text (a template is rendered with its defaults first). */
  script: z.string().max(10_000_000),
  /** Options given to sbatch before the script; they override its directives. */
  sbatchArgs: z.array(z.string().max(4096)).max(64).default([]),
});

/** Client -> daemon: p10/p50/p90 runtime of a script before it is submitted, and warnings about its limit. */
export const RuntimeEstimateRequest = request(
  'runtime/estimate',
  EstimateRequest.extend({ expectedStart: z.boolean().default(false) }),
  RuntimeEstimate,
);

/** Client -> daemon: many estimates at once (no expected start). */
export const RuntimeEstimateBatch = request(
  'runtime/estimateBatch',
  z.object({ cluster: ClusterName, scripts: z.array(z.object({ script: z.string().max(1_000_000), sbatchArgs: z.array(z.string()).max(64).default([]) })).max(100_000) }),
  z.object({ estimates: z.array(RuntimeEstimate) }),
);

export const RuntimeModelInfo = z.object({
  cluster: ClusterName,
  /** Finished jobs ingested from the cluster's accounting. */
  jobs: z.number().int(),
  lastIngestAt: IsoDate.nullable(),
  /** The registered runtime model (`runtime-CLUSTER`) version in use (prod), if any. */
  modelVersion: z.number().int().nullable(),
  metrics: Metrics.nullable(),
});
export type RuntimeModelInfo = z.infer<typeof RuntimeModelInfo>;

/** Client -> daemon. */
export const RuntimeInfo = request('runtime/info', z.object({ cluster: ClusterName.optional() }), z.object({ clusters: z.array(RuntimeModelInfo) }));


/** Client -> daemon: read the cluster's finished jobs, train a runtime model, gate it against the one in use on the same recent jobs, promote it if it is not worse. */
export const RuntimeTrain = request(
  'runtime/train',
  z.object({ cluster: ClusterName }),
  z.object({ cluster: ClusterName, jobs: z.number().int(), version: z.number().int(), metrics: Metrics, promoted: z.boolean(), gate: GateResult.nullable() }),
);

// ----------------------------------------------------------------- dashboard

/** Node or CPU counts as sinfo gives them (%F, %C): allocated/idle/other/total. */
export const StateCounts = z.object({ allocated: z.number().int(), idle: z.number().int(), other: z.number().int(), total: z.number().int() });

export const PartitionInfo = z.object({
  name: z.string(),
  isDefault: z.boolean(),
  /** up, down, drain, inact. */
  avail: z.string(),
  maxTimeSeconds: z.number().nullable(),
  maxTimeUnlimited: z.boolean(),
  defaultTimeSeconds: z.number().nullable(),
  nodes: z.number().int(),
  nodesByState: StateCounts.nullable(),
  cpusByState: StateCounts.nullable(),
  minCpusPerNode: z.number().nullable(),
  maxCpusPerNode: z.number().nullable(),
  minMemoryPerNodeMb: z.number().nullable(),
  maxMemoryPerNodeMb: z.number().nullable(),
  gres: z.array(z.string()),
  nodeLists: z.array(z.string()),
  jobSize: z.string().nullable(),
});
export type PartitionInfo = z.infer<typeof PartitionInfo>;

/** Client -> daemon: the cluster's partitions and their node and CPU states, from one `sinfo`. */
export const ClustersPartitions = request(
  'clusters/partitions',
  z.object({ name: ClusterName }),
  z.object({ cluster: ClusterName, partitions: z.array(PartitionInfo), at: IsoDate }),
);

export const RuntimeAccuracyJob = z.object({
  /** SLURM job id as accounting has it. */
  slurmJobId: z.string(),
  name: z.string(),
  submitTime: IsoDate,
  endTime: IsoDate,
  /** Elapsed seconds. */
  actualSeconds: z.number(),
  requestedSeconds: z.number().nullable(),
  /** What the model in use predicts from what was known at the job's submission (seconds). */
  p10: z.number(),
  p50: z.number(),
  p90: z.number(),
  /** The user's last two runs before it (the baseline), seconds. */
  lastTwoSeconds: z.number(),
  /** The job was among those the model trained or calibrated on (not a fair test). */
  seenInTraining: z.boolean(),
});
export type RuntimeAccuracyJob = z.infer<typeof RuntimeAccuracyJob>;

/**
 * Client -> daemon: predicted against actual runtime for the cluster's newest
 * finished jobs (from its accounting), with the model in use, and the same
 * metrics for the model and for the baselines (requested time, last two runs)
 * over the jobs the model did not train on.
 */
export const RuntimeAccuracy = request(
  'runtime/accuracy',
  z.object({ cluster: ClusterName, limit: z.number().int().min(1).max(10_000).default(500) }),
  z.object({
    cluster: ClusterName,
    /** The runtime model version in use; null before one was trained (jobs is then empty). */
    modelVersion: z.number().int().nullable(),
    /** Finished jobs in the stored accounting. */
    totalJobs: z.number().int(),
    /** Oldest first. */
    jobs: z.array(RuntimeAccuracyJob),
    /** Over the returned jobs the model did not see: model, requested, lastTwo. */
    metrics: z.object({ model: Metrics.nullable(), requested: Metrics.nullable(), lastTwo: Metrics.nullable() }),
  }),
);

// ------------------------------------------------------------ accounting

export const QosInfo = z.object({
  name: z.string(),
  /** Seconds; null when the QOS sets no maximum. */
  maxWallSeconds: z.number().nullable(),
  priority: z.number().int().nullable(),
  description: z.string(),
});
export type QosInfo = z.infer<typeof QosInfo>;

export const AccountInfo = z.object({
  name: z.string(),
  /** The user's default account. */
  isDefault: z.boolean(),
  /** Partitions the association names; empty: any. */
  partitions: z.array(z.string()),
  qos: z.array(z.string()),
  defaultQos: z.string().nullable(),
});
export type AccountInfo = z.infer<typeof AccountInfo>;

/** Client -> daemon: the accounts the cluster's user may charge and the QOS they may use, from sacctmgr (editors complete --account and --qos from it). */
export const ClustersAccounting = request(
  'clusters/accounting',
  z.object({ name: ClusterName }),
  z.object({
    cluster: ClusterName,
    /** The remote user the associations are for. */
    user: z.string(),
    /** False when the cluster has no accounting database; `message` says what sacctmgr said. */
    available: z.boolean(),
    message: z.string().nullable(),
    accounts: z.array(AccountInfo),
    qos: z.array(QosInfo),
    at: IsoDate,
  }),
);

// ------------------------------------------------------ streaming estimates

/** A client's name for one estimate stream (e.g. the editor document's URI). */
const EstimateStreamId = z.string().min(1).max(1024);

/**
 * Client -> daemon: open or update an estimate stream for a changing script
 * (the editor sends the text as it is typed). The daemon answers at once with
 * the update's revision and evaluates later: updates that arrive while one is
 * waiting or running replace it, so only the latest is evaluated and a stale
 * result is never sent. Results come as estimates/didChange.
 */
export const EstimatesWatch = request(
  'estimates/watch',
  EstimateRequest.extend({
    id: EstimateStreamId,
    expectedStart: z.boolean().default(false),
    /** How long an update waits for a newer one before it is evaluated. */
    delayMs: z.number().int().min(0).max(5000).default(50),
  }),
  z.object({ id: EstimateStreamId, revision: z.number().int() }),
);

/** Client -> daemon: close an estimate stream (streams also close with the connection). */
export const EstimatesUnwatch = request('estimates/unwatch', z.object({ id: EstimateStreamId }), z.object({ unwatched: z.boolean() }));

/** Daemon -> client: the estimate of a stream's latest revision (or why there is none). */
export const EstimatesDidChange = notification(
  'estimates/didChange',
  z.object({
    id: EstimateStreamId,
    /** The update this answers: always the newest the daemon had when it sent it. */
    revision: z.number().int(),
    estimate: RuntimeEstimate.nullable(),
    error: z.object({ code: z.number().int(), message: z.string() }).nullable(),
    /** Evaluations this stream has run, and updates it dropped unevaluated or whose result went stale. */
    evaluations: z.number().int(),
    skipped: z.number().int(),
  }),
);

/** Every request the daemon serves, by method name. */
export const requests = {
  [Initialize.method]: Initialize,
  [DaemonStatus.method]: DaemonStatus,
  [DaemonShutdown.method]: DaemonShutdown,
  [DaemonSetLogLevel.method]: DaemonSetLogLevel,
  [Health.method]: Health,
  [ClustersAdd.method]: ClustersAdd,
  [ClustersList.method]: ClustersList,
  [ClustersRemove.method]: ClustersRemove,
  [ClustersTest.method]: ClustersTest,
  [ClustersDisconnect.method]: ClustersDisconnect,
  [ClustersDetectLocal.method]: ClustersDetectLocal,
  [JobsSubmit.method]: JobsSubmit,
  [JobsList.method]: JobsList,
  [JobsGet.method]: JobsGet,
  [JobsCancel.method]: JobsCancel,
  [JobsTasks.method]: JobsTasks,
  [JobsResubmitPlan.method]: JobsResubmitPlan,
  [JobsResubmit.method]: JobsResubmit,
  [ClustersBudget.method]: ClustersBudget,
  [LogsTail.method]: LogsTail,
  [LogsUnsubscribe.method]: LogsUnsubscribe,
  [TemplatesList.method]: TemplatesList,
  [TemplatesRender.method]: TemplatesRender,
  [TrainSubmit.method]: TrainSubmit,
  [PredictSubmit.method]: PredictSubmit,
  [EvaluateSubmit.method]: EvaluateSubmit,
  [ModelsList.method]: ModelsList,
  [ModelsGet.method]: ModelsGet,
  [ModelsVersion.method]: ModelsVersion,
  [ModelsPromote.method]: ModelsPromote,
  [ModelsRollback.method]: ModelsRollback,
  [ModelsAnnotate.method]: ModelsAnnotate,
  [ModelsLineage.method]: ModelsLineage,
  [GatesSetRules.method]: GatesSetRules,
  [GatesRun.method]: GatesRun,
  [ModelsTry.method]: ModelsTry,
  [RuntimeEstimateRequest.method]: RuntimeEstimateRequest,
  [RuntimeEstimateBatch.method]: RuntimeEstimateBatch,
  [RuntimeInfo.method]: RuntimeInfo,
  [RuntimeTrain.method]: RuntimeTrain,
  [EstimatesWatch.method]: EstimatesWatch,
  [EstimatesUnwatch.method]: EstimatesUnwatch,
  [ClustersAccounting.method]: ClustersAccounting,
  [ClustersPartitions.method]: ClustersPartitions,
  [RuntimeAccuracy.method]: RuntimeAccuracy,
} as const;

/** Requests the daemon sends to clients. */
export const clientRequests = {
  [SshPrompt.method]: SshPrompt,
} as const;

/** Every notification the daemon sends, by method name. */
export const notifications = {
  [JobsDidChange.method]: JobsDidChange,
  [ClustersDidChange.method]: ClustersDidChange,
  [LogsDidAppend.method]: LogsDidAppend,
  [ModelsDidChange.method]: ModelsDidChange,
  [EstimatesDidChange.method]: EstimatesDidChange,
} as const;

export const allErrorCodes: readonly ErrorCode[] = errorCodeValues;
