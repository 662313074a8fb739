// The extension <-> daemon contract. Every message on the wire is described
// here once, as a zod schema; TypeScript types are inferred from the schemas.
// This file imports zod only: the extension, the CLI and the daemon all
// import it, and nothing else is shared between them.
import { z } from 'zod';

/** Bumped on every incompatible change; compared in `initialize`. */
export const PROTOCOL_VERSION = 1;

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

const AbsolutePath = z
  .string()
  .min(1)
  .max(4096)
  .refine((p) => p.startsWith('/'), 'must be an absolute path')
  .refine((p) => !p.includes('\0'), 'must not contain NUL');

export const ClusterConfig = z.object({
  name: ClusterName,
  host: z
    .string()
    .min(1)
    .max(255)
    .regex(/^[A-Za-z0-9._:-]+$/, 'a host is a DNS name or an IP address'),
  port: z.number().int().min(1).max(65535).default(22),
  user: z
    .string()
    .regex(/^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$/, 'a user is a POSIX login name'),
  identityFile: AbsolutePath,
  /** Defaults to ~/.ssh/known_hosts of the user running the daemon. */
  knownHostsFile: AbsolutePath.optional(),
});
export type ClusterConfig = z.infer<typeof ClusterConfig>;

export const ConnectionStatus = z.enum(['disconnected', 'connecting', 'ready', 'failed']);
export type ConnectionStatus = z.infer<typeof ConnectionStatus>;

export const ConnectionState = z.object({
  status: ConnectionStatus,
  /** Why the last attempt failed, in words a person can act on. */
  message: z.string().nullable(),
  since: IsoDate,
});
export type ConnectionState = z.infer<typeof ConnectionState>;

export const ClusterInfo = z.object({
  id: z.uuid(),
  name: ClusterName,
  host: z.string(),
  port: z.number().int(),
  user: z.string(),
  identityFile: z.string(),
  knownHostsFile: z.string(),
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
  createdAt: IsoDate,
  updatedAt: IsoDate,
});
export type JobInfo = z.infer<typeof JobInfo>;

export const JobDetail = JobInfo.extend({
  /** The script exactly as submitted. */
  script: z.string(),
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

export const ClusterTestResult = z.object({
  name: ClusterName,
  hostKeyFingerprint: z.string(),
  /** Round trip of one command over the established connection. */
  latencyMs: z.number(),
  slurmVersion: z.string().nullable(),
  remoteUser: z.string(),
});
export type ClusterTestResult = z.infer<typeof ClusterTestResult>;

/** Client -> daemon: connect (if needed) and run a trivial command. */
export const ClustersTest = request('clusters/test', z.object({ name: ClusterName }), ClusterTestResult);

/** Client -> daemon: upload a script and submit it with sbatch. */
export const JobsSubmit = request(
  'jobs/submit',
  z.object({
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

/** Client -> daemon: scancel; answers with the job as it is now. */
export const JobsCancel = request('jobs/cancel', z.object({ ref: JobRef }), JobInfo);

// ------------------------------------------------------------ notifications

/** Daemon -> client: a job's record changed. */
export const JobsDidChange = notification('jobs/didChange', z.object({ job: JobInfo }));

/** Daemon -> client: a cluster's connection state changed. */
export const ClustersDidChange = notification('clusters/didChange', z.object({ name: ClusterName, connection: ConnectionState }));

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
  [JobsSubmit.method]: JobsSubmit,
  [JobsList.method]: JobsList,
  [JobsGet.method]: JobsGet,
  [JobsCancel.method]: JobsCancel,
} as const;

/** Every notification the daemon sends, by method name. */
export const notifications = {
  [JobsDidChange.method]: JobsDidChange,
  [ClustersDidChange.method]: ClustersDidChange,
} as const;

export const allErrorCodes: readonly ErrorCode[] = errorCodeValues;
