// The registry's clusters and jobs: prepared statements next to the schema,
// rows mapped to the protocol's types.
import { randomUUID } from 'node:crypto';
import {
  ErrorCode,
  type ArraySummary,
  type ArrayTask,
  type ClusterConfig,
  type ClusterKind,
  type JobDetail,
  type JobInfo,
  type JobKind,
  type Metrics,
  type OutputFile,
  type RequestedResources,
  type SubmitEstimate,
} from '../protocol';
import { RpcError } from '../rpc/connection';
import { isTerminalState, terminalStates } from '../jobs/states';
import type { Statement } from './sqlite';
import type { Db } from './database';

export interface ClusterRecord {
  id: string;
  name: string;
  kind: ClusterKind;
  sshAlias: string | null;
  host: string | null;
  port: number | null;
  user: string | null;
  identityFile: string | null;
  knownHostsFile: string;
  sshConfigFile: string | null;
  createdAt: string;
}

interface ClusterRow {
  id: string;
  name: string;
  kind: ClusterKind;
  ssh_alias: string | null;
  host: string | null;
  port: number | null;
  user: string | null;
  identity_file: string | null;
  known_hosts_file: string;
  ssh_config_file: string | null;
  created_at: string;
}

function clusterFromRow(r: ClusterRow): ClusterRecord {
  return {
    id: r.id,
    name: r.name,
    kind: r.kind,
    sshAlias: r.ssh_alias,
    host: r.host,
    port: r.port,
    user: r.user,
    identityFile: r.identity_file,
    knownHostsFile: r.known_hosts_file,
    sshConfigFile: r.ssh_config_file,
    createdAt: r.created_at,
  };
}

export class ClusterStore {
  private readonly insertStmt;
  private readonly byNameStmt;
  private readonly byIdStmt;
  private readonly listStmt;
  private readonly removeStmt;

  constructor(db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO clusters (id, name, kind, ssh_alias, host, port, user, identity_file, known_hosts_file, ssh_config_file, created_at)
       VALUES (@id, @name, @kind, @ssh_alias, @host, @port, @user, @identity_file, @known_hosts_file, @ssh_config_file, @created_at)`,
    );
    this.byNameStmt = db.prepare('SELECT * FROM clusters WHERE name = ? AND removed_at IS NULL');
    this.byIdStmt = db.prepare('SELECT * FROM clusters WHERE id = ?');
    this.listStmt = db.prepare('SELECT * FROM clusters WHERE removed_at IS NULL ORDER BY name');
    this.removeStmt = db.prepare('UPDATE clusters SET removed_at = ? WHERE id = ?');
  }

  add(config: ClusterConfig & { knownHostsFile: string }): ClusterRecord {
    if (this.find(config.name)) {
      throw new RpcError(ErrorCode.AlreadyExists, `a cluster named "${config.name}" already exists; remove it first to change it`);
    }
    const row: ClusterRow = {
      id: randomUUID(),
      name: config.name,
      kind: config.kind ?? 'ssh',
      ssh_alias: config.sshAlias ?? null,
      host: config.host ?? null,
      port: config.port ?? null,
      user: config.user ?? null,
      identity_file: config.identityFile ?? null,
      known_hosts_file: config.knownHostsFile,
      ssh_config_file: config.sshConfigFile ?? null,
      created_at: new Date().toISOString(),
    };
    this.insertStmt.run(row);
    return clusterFromRow(row);
  }

  find(name: string): ClusterRecord | undefined {
    const r = this.byNameStmt.get(name) as ClusterRow | undefined;
    return r && clusterFromRow(r);
  }

  get(name: string): ClusterRecord {
    const c = this.find(name);
    if (!c) throw new RpcError(ErrorCode.NotFound, `no cluster named "${name}" (see \`slurm-ml cluster list\`)`);
    return c;
  }

  byId(id: string): ClusterRecord | undefined {
    const r = this.byIdStmt.get(id) as ClusterRow | undefined;
    return r && clusterFromRow(r);
  }

  list(): ClusterRecord[] {
    return (this.listStmt.all() as ClusterRow[]).map(clusterFromRow);
  }

  remove(name: string): void {
    const c = this.get(name);
    this.removeStmt.run(new Date().toISOString(), c.id);
  }
}

interface JobRow {
  id: string;
  cluster_id: string;
  cluster_name: string;
  slurm_job_id: string | null;
  name: string;
  state: string;
  reason: string | null;
  submit_time: string | null;
  start_time: string | null;
  end_time: string | null;
  exit_code: number | null;
  exit_signal: number | null;
  script: string;
  script_path: string;
  run_dir: string;
  sbatch_args: string;
  requested: string;
  stdout_path: string | null;
  stderr_path: string | null;
  progress: number | null;
  resubmitted_from: string | null;
  array_spec: string | null;
  array_total: number | null;
  poll_misses: number;
  kind: JobKind;
  template: string | null;
  template_values: string | null;
  output_dir: string | null;
  metrics: string | null;
  outputs: string | null;
  log_tail: string | null;
  model_name: string | null;
  model_version_id: string | null;
  /** Joined: the version a predict/evaluate job used, or the one a train job produced. */
  mv_model: string | null;
  mv_version: number | null;
  workflow: string | null;
  estimate: string | null;
  finalized_at: string | null;
  created_at: string;
  updated_at: string;
}

export const emptyRequested: RequestedResources = {
  partition: null,
  qos: null,
  account: null,
  timeLimitSeconds: null,
  nodes: null,
  cpus: null,
  tres: null,
};

function jobFromRow(r: JobRow, array: ArraySummary | null = null): JobInfo {
  return {
    id: r.id,
    cluster: r.cluster_name,
    slurmJobId: r.slurm_job_id,
    name: r.name,
    state: r.state,
    terminal: isTerminalState(r.state),
    reason: r.reason,
    submitTime: r.submit_time,
    startTime: r.start_time,
    endTime: r.end_time,
    exitCode: r.exit_code,
    exitSignal: r.exit_signal,
    requested: { ...emptyRequested, ...(JSON.parse(r.requested) as Partial<RequestedResources>) },
    runDir: r.run_dir,
    scriptPath: r.script_path,
    stdoutPath: r.stdout_path,
    stderrPath: r.stderr_path,
    progress: r.progress,
    array,
    estimate: r.estimate ? (JSON.parse(r.estimate) as SubmitEstimate) : null,
    resubmittedFrom: r.resubmitted_from,
    kind: r.kind,
    model: r.model_name ?? r.mv_model,
    modelVersion: r.mv_version,
    outputDir: r.output_dir,
    finalized: isTerminalState(r.state) && (r.kind === 'job' || r.finalized_at !== null),
    createdAt: r.created_at,
    updatedAt: r.updated_at,
  };
}

/** Fields the poller and the submitter may change after creation. */
export interface JobPatch {
  slurmJobId?: string | null;
  /** As SLURM has it: a script's own #SBATCH --job-name wins over the default. */
  name?: string;
  state?: string;
  reason?: string | null;
  submitTime?: string | null;
  startTime?: string | null;
  endTime?: string | null;
  exitCode?: number | null;
  exitSignal?: number | null;
  requested?: RequestedResources;
  stdoutPath?: string | null;
  stderrPath?: string | null;
  progress?: number | null;
  arraySpec?: string | null;
  arrayTotal?: number | null;
  pollMisses?: number;
  metrics?: Metrics | null;
  outputs?: OutputFile[] | null;
  logTail?: string | null;
  finalizedAt?: string | null;
  /** The runtime estimate made at submit (computed while the files upload). */
  estimate?: SubmitEstimate | null;
}

const patchColumns: Record<keyof JobPatch, string> = {
  slurmJobId: 'slurm_job_id',
  name: 'name',
  state: 'state',
  reason: 'reason',
  submitTime: 'submit_time',
  startTime: 'start_time',
  endTime: 'end_time',
  exitCode: 'exit_code',
  exitSignal: 'exit_signal',
  requested: 'requested',
  stdoutPath: 'stdout_path',
  stderrPath: 'stderr_path',
  progress: 'progress',
  arraySpec: 'array_spec',
  arrayTotal: 'array_total',
  pollMisses: 'poll_misses',
  metrics: 'metrics',
  outputs: 'outputs',
  logTail: 'log_tail',
  finalizedAt: 'finalized_at',
  estimate: 'estimate',
};

/** Patch fields stored as JSON text. */
const jsonColumns = new Set<keyof JobPatch>(['requested', 'metrics', 'outputs', 'estimate']);
/** Patch fields no client sees: changing only these sends no notification. */
const internalColumns = new Set<keyof JobPatch>(['pollMisses', 'finalizedAt']);

export interface NewJob {
  clusterId: string;
  name: string;
  script: string;
  scriptPath: string;
  runDir: string;
  sbatchArgs: string[];
  resubmittedFrom?: string | null;
  kind?: JobKind;
  template?: string | null;
  templateValues?: Record<string, unknown> | null;
  outputDir?: string | null;
  modelName?: string | null;
  modelVersionId?: string | null;
  /** Workflow facts the job's end needs (JSON): git commit, tags, artifact dir... */
  workflow?: Record<string, unknown> | null;
  /** The runtime estimate made at submit. */
  estimate?: SubmitEstimate | null;
}

/** A job the poller follows, as little of it as a cycle over thousands needs. */
export interface TrackedJob {
  id: string;
  cluster: string;
  slurmJobId: string | null;
  state: string;
  stdoutPath: string | null;
  isArray: boolean;
  createdAt: string;
}

interface TrackedRow {
  id: string;
  cluster: string;
  slurm_job_id: string | null;
  state: string;
  stdout_path: string | null;
  array_total: number | null;
  created_at: string;
}

export function trackedOf(job: JobInfo): TrackedJob {
  return { id: job.id, cluster: job.cluster, slurmJobId: job.slurmJobId, state: job.state, stdoutPath: job.stdoutPath, isArray: job.array !== null, createdAt: job.createdAt };
}

/** An array task's state as the poller saw it. */
export type TaskRecord = ArrayTask;

interface TaskRow {
  task_id: number;
  slurm_job_id: string | null;
  state: string;
  reason: string | null;
  start_time: string | null;
  end_time: string | null;
  exit_code: number | null;
  exit_signal: number | null;
}

function taskFromRow(r: TaskRow): ArrayTask {
  return {
    taskId: r.task_id,
    slurmJobId: r.slurm_job_id,
    state: r.state,
    reason: r.reason,
    startTime: r.start_time,
    endTime: r.end_time,
    exitCode: r.exit_code,
    exitSignal: r.exit_signal,
  };
}

const SELECT_JOB = `SELECT j.*, c.name AS cluster_name, m.name AS mv_model, mv.version AS mv_version
  FROM jobs j JOIN clusters c ON c.id = j.cluster_id
  LEFT JOIN model_versions mv ON mv.id = j.model_version_id OR mv.training_job_id = j.id
  LEFT JOIN models m ON m.id = mv.model_id`;
const terminalList = terminalStates.map((s) => `'${s}'`).join(', ');

export class JobStore {
  private readonly insertStmt;
  private readonly byIdStmt;
  private readonly byPrefixStmt;
  private readonly bySlurmIdStmt;
  private readonly activeStmt;
  private readonly taskCountsStmt;
  private readonly upsertTaskStmt;
  private readonly tasksStmt;
  private readonly taskTotalStmt;
  private readonly unfinalizedStmt;
  private readonly activeRefsStmt;
  private readonly countActiveStmt;
  private readonly hasActiveStmt;
  private readonly countByStateStmt;
  private readonly byVersionStmt;

  constructor(private readonly db: Db) {
    this.insertStmt = db.prepare(
      `INSERT INTO jobs (id, cluster_id, name, state, script, script_path, run_dir, sbatch_args, resubmitted_from,
                         kind, template, template_values, output_dir, model_name, model_version_id, workflow, estimate, created_at, updated_at)
       VALUES (@id, @cluster_id, @name, 'SUBMITTING', @script, @script_path, @run_dir, @sbatch_args, @resubmitted_from,
               @kind, @template, @template_values, @output_dir, @model_name, @model_version_id, @workflow, @estimate, @now, @now)`,
    );
    this.byIdStmt = db.prepare(`${SELECT_JOB} WHERE j.id = ?`);
    this.byPrefixStmt = db.prepare(`${SELECT_JOB} WHERE j.id LIKE ? || '%' LIMIT 2`);
    this.bySlurmIdStmt = db.prepare(`${SELECT_JOB} WHERE j.slurm_job_id = ? AND (? IS NULL OR c.name = ?) ORDER BY j.created_at DESC LIMIT 2`);
    this.activeStmt = db.prepare(`${SELECT_JOB} WHERE j.state NOT IN (${terminalList}) ORDER BY j.created_at`);
    this.taskCountsStmt = db.prepare('SELECT state, count(*) AS n FROM job_tasks WHERE job_id = ? GROUP BY state');
    this.upsertTaskStmt = db.prepare(
      `INSERT INTO job_tasks (job_id, task_id, slurm_job_id, state, reason, start_time, end_time, exit_code, exit_signal, updated_at)
       VALUES (@job_id, @task_id, @slurm_job_id, @state, @reason, @start_time, @end_time, @exit_code, @exit_signal, @updated_at)
       ON CONFLICT (job_id, task_id) DO UPDATE SET
         slurm_job_id = excluded.slurm_job_id, state = excluded.state, reason = excluded.reason,
         start_time = excluded.start_time, end_time = excluded.end_time,
         exit_code = excluded.exit_code, exit_signal = excluded.exit_signal, updated_at = excluded.updated_at
       WHERE job_tasks.state IS NOT excluded.state OR job_tasks.slurm_job_id IS NOT excluded.slurm_job_id
          OR job_tasks.reason IS NOT excluded.reason OR job_tasks.start_time IS NOT excluded.start_time
          OR job_tasks.end_time IS NOT excluded.end_time OR job_tasks.exit_code IS NOT excluded.exit_code
          OR job_tasks.exit_signal IS NOT excluded.exit_signal`,
    );
    this.tasksStmt = db.prepare('SELECT * FROM job_tasks WHERE job_id = ? ORDER BY task_id LIMIT ? OFFSET ?');
    this.taskTotalStmt = db.prepare('SELECT count(*) AS n FROM job_tasks WHERE job_id = ?');
    this.activeRefsStmt = db.prepare(
      `SELECT j.id, c.name AS cluster, j.slurm_job_id, j.state, j.stdout_path, j.array_total, j.created_at
       FROM jobs j JOIN clusters c ON c.id = j.cluster_id WHERE j.state NOT IN (${terminalList}) ORDER BY j.created_at`,
    );
    this.countActiveStmt = db.prepare(`SELECT count(*) AS n FROM jobs WHERE state NOT IN (${terminalList})`);
    this.hasActiveStmt = db.prepare(`SELECT 1 FROM jobs j JOIN clusters c ON c.id = j.cluster_id WHERE c.name = ? AND j.state NOT IN (${terminalList}) LIMIT 1`);
    this.countByStateStmt = db.prepare('SELECT state, kind, count(*) AS count FROM jobs GROUP BY state, kind ORDER BY state, kind');
    this.unfinalizedStmt = db.prepare(`${SELECT_JOB} WHERE j.kind != 'job' AND j.finalized_at IS NULL AND j.state IN (${terminalList}) ORDER BY j.created_at`);
    this.byVersionStmt = db.prepare(`${SELECT_JOB} WHERE j.model_version_id = ? AND j.kind = ? ORDER BY j.created_at DESC`);
  }

  /** Runs f in one transaction: a poll cycle's changes land together or not at all. */
  transaction<T>(f: () => T): T {
    return this.db.transaction(f)();
  }

  /**
   * Statements built from a few shapes (list's filters, update's columns),
   * prepared once each rather than on every call (each poll's updates, each
   * jobs/list), which also left native statements for the garbage collector.
   */
  private readonly statements = new Map<string, Statement>();
  private cached(sql: string): Statement {
    let st = this.statements.get(sql);
    if (!st) {
      if (this.statements.size >= 256) this.statements.clear();
      st = this.db.prepare(sql);
      this.statements.set(sql, st);
    }
    return st;
  }

  private info(r: JobRow): JobInfo {
    return jobFromRow(r, r.array_total !== null ? this.arraySummary(r.id, r.array_total) : null);
  }

  private detail(r: JobRow): JobDetail {
    return {
      ...this.info(r),
      script: r.script,
      sbatchArgs: JSON.parse(r.sbatch_args) as string[],
      template: r.template,
      values: r.template_values ? (JSON.parse(r.template_values) as Record<string, unknown>) : null,
      metrics: r.metrics ? (JSON.parse(r.metrics) as Metrics) : null,
      outputs: r.outputs ? (JSON.parse(r.outputs) as OutputFile[]) : null,
      logTail: r.log_tail,
    };
  }

  /** What a workflow job's end needs: facts recorded at submit, and whether the end was handled. */
  workflowOf(id: string): { workflow: Record<string, unknown> | null; modelVersionId: string | null; finalizedAt: string | null } | undefined {
    const r = this.byIdStmt.get(id) as JobRow | undefined;
    return r && { workflow: r.workflow ? (JSON.parse(r.workflow) as Record<string, unknown>) : null, modelVersionId: r.model_version_id, finalizedAt: r.finalized_at };
  }

  /** Workflow jobs that ended and whose end was not handled yet (also after a restart). */
  unfinalized(): JobInfo[] {
    return (this.unfinalizedStmt.all() as JobRow[]).map((r) => this.info(r));
  }

  /** Jobs that used a model version, by kind (lineage). */
  byModelVersion(versionId: string, kind: JobKind): JobInfo[] {
    return (this.byVersionStmt.all(versionId, kind) as JobRow[]).map((r) => this.info(r));
  }

  private arraySummary(jobId: string, total: number): ArraySummary {
    const byState: Record<string, number> = {};
    let known = 0;
    let terminal = 0;
    for (const { state, n } of this.taskCountsStmt.all(jobId) as { state: string; n: number }[]) {
      byState[state] = n;
      known += n;
      if (isTerminalState(state)) terminal += n;
    }
    // Tasks SLURM has not split off yet are still waiting.
    if (total > known) byState.PENDING = (byState.PENDING ?? 0) + (total - known);
    return { total, byState, done: total > 0 && terminal >= total };
  }

  /** A job record in state SUBMITTING, written before sbatch runs so no submission goes unrecorded. */
  create(job: NewJob & { id?: string }): JobInfo {
    const id = job.id ?? randomUUID();
    this.insertStmt.run({
      id,
      cluster_id: job.clusterId,
      name: job.name,
      script: job.script,
      script_path: job.scriptPath,
      run_dir: job.runDir,
      sbatch_args: JSON.stringify(job.sbatchArgs),
      resubmitted_from: job.resubmittedFrom ?? null,
      kind: job.kind ?? 'job',
      template: job.template ?? null,
      template_values: job.templateValues ? JSON.stringify(job.templateValues) : null,
      output_dir: job.outputDir ?? null,
      model_name: job.modelName ?? null,
      model_version_id: job.modelVersionId ?? null,
      workflow: job.workflow ? JSON.stringify(job.workflow) : null,
      estimate: job.estimate ? JSON.stringify(job.estimate) : null,
      now: new Date().toISOString(),
    });
    return this.get(id);
  }

  find(id: string): JobInfo | undefined {
    const r = this.byIdStmt.get(id) as JobRow | undefined;
    return r && this.info(r);
  }

  get(id: string): JobInfo {
    const j = this.find(id);
    if (!j) throw new RpcError(ErrorCode.NotFound, `no job ${id}`);
    return j;
  }

  /** Consecutive polls that did not see the job in squeue. */
  pollMisses(id: string): number {
    return (this.byIdStmt.get(id) as JobRow | undefined)?.poll_misses ?? 0;
  }

  arraySpec(id: string): string | null {
    return (this.byIdStmt.get(id) as JobRow | undefined)?.array_spec ?? null;
  }

  /** Applies the changed fields; returns the job if anything a client sees changed, else undefined. */
  update(id: string, patch: JobPatch): JobInfo | undefined {
    const current = this.byIdStmt.get(id) as JobRow | undefined;
    if (!current) throw new RpcError(ErrorCode.NotFound, `no job ${id}`);
    const sets: string[] = [];
    const values: Record<string, unknown> = { id };
    let visible = false;
    for (const key of Object.keys(patch) as (keyof JobPatch)[]) {
      const value = patch[key];
      if (value === undefined) continue;
      const column = patchColumns[key];
      const stored = jsonColumns.has(key) && value !== null ? JSON.stringify(value) : value;
      if ((current as unknown as Record<string, unknown>)[column] === stored) continue;
      sets.push(`${column} = @${column}`);
      values[column] = stored;
      if (!internalColumns.has(key)) visible = true;
    }
    if (sets.length === 0) return undefined;
    if (visible) {
      sets.push('updated_at = @updated_at');
      values.updated_at = new Date().toISOString();
    }
    this.cached(`UPDATE jobs SET ${sets.join(', ')} WHERE id = @id`).run(values);
    return visible ? this.get(id) : undefined;
  }

  /** Records tasks' states; returns how many rows changed. */
  upsertTasks(jobId: string, tasks: ArrayTask[]): number {
    const now = new Date().toISOString();
    let changed = 0;
    for (const t of tasks) {
      changed += this.upsertTaskStmt.run({
        job_id: jobId,
        task_id: t.taskId,
        slurm_job_id: t.slurmJobId,
        state: t.state,
        reason: t.reason,
        start_time: t.startTime,
        end_time: t.endTime,
        exit_code: t.exitCode,
        exit_signal: t.exitSignal,
        updated_at: now,
      }).changes;
    }
    return changed;
  }

  tasks(jobId: string, offset: number, limit: number): { total: number; tasks: ArrayTask[] } {
    const total = (this.taskTotalStmt.get(jobId) as { n: number }).n;
    return { total, tasks: (this.tasksStmt.all(jobId, limit, offset) as TaskRow[]).map(taskFromRow) };
  }

  /** Resolves what a person typed: uuid, uuid prefix (>= 6), SLURM id, or CLUSTER:SLURMID. */
  resolve(ref: string): JobDetail {
    const trimmed = ref.trim();
    const exact = this.byIdStmt.get(trimmed) as JobRow | undefined;
    if (exact) return this.detail(exact);
    const colon = /^([A-Za-z0-9][A-Za-z0-9._-]*):(\d+(?:[_+][0-9]+)?)$/.exec(trimmed);
    if (colon || /^\d+(?:[_+][0-9]+)?$/.test(trimmed)) {
      const cluster = colon ? colon[1]! : null;
      const slurmId = colon ? colon[2]! : trimmed;
      const rows = this.bySlurmIdStmt.all(slurmId, cluster, cluster) as JobRow[];
      if (rows.length === 1) return this.detail(rows[0]!);
      if (rows.length > 1) {
        throw new RpcError(ErrorCode.Conflict, `SLURM job ${slurmId} exists on several clusters; say which: CLUSTER:${slurmId}`);
      }
    }
    if (/^[0-9a-f-]{6,36}$/i.test(trimmed)) {
      const rows = this.byPrefixStmt.all(trimmed.toLowerCase()) as JobRow[];
      if (rows.length === 1) return this.detail(rows[0]!);
      if (rows.length > 1) throw new RpcError(ErrorCode.Conflict, `"${trimmed}" matches several jobs; give more of the id`);
    }
    throw new RpcError(ErrorCode.NotFound, `no job "${trimmed}" (give its id, an id prefix, its SLURM id or CLUSTER:SLURMID)`);
  }

  list(filter: { cluster?: string; active?: boolean; limit: number }): JobInfo[] {
    const where: string[] = [];
    const values: unknown[] = [];
    if (filter.cluster) {
      where.push('c.name = ?');
      values.push(filter.cluster);
    }
    if (filter.active === true) where.push(`j.state NOT IN (${terminalList})`);
    if (filter.active === false) where.push(`j.state IN (${terminalList})`);
    const sql = `${SELECT_JOB} ${where.length ? 'WHERE ' + where.join(' AND ') : ''} ORDER BY j.created_at DESC, j.rowid DESC LIMIT ?`;
    return (this.cached(sql).all(...values, filter.limit) as JobRow[]).map((r) => this.info(r));
  }

  /** Jobs the poller still has to follow, oldest first. */
  active(): JobInfo[] {
    return (this.activeStmt.all() as JobRow[]).map((r) => this.info(r));
  }

  /** What the poller needs of every job it follows, read cheaply (it runs each cycle over all of them). */
  activeRefs(): TrackedJob[] {
    return (this.activeRefsStmt.all() as TrackedRow[]).map((r) => ({
      id: r.id,
      cluster: r.cluster,
      slurmJobId: r.slurm_job_id,
      state: r.state,
      stdoutPath: r.stdout_path,
      isArray: r.array_total !== null,
      createdAt: r.created_at,
    }));
  }

  /** Whether the cluster has a job to follow (without reading every active job). */
  hasActive(cluster: string): boolean {
    return this.hasActiveStmt.get(cluster) !== undefined;
  }

  countActive(): number {
    return (this.countActiveStmt.get() as { n: number }).n;
  }

  /** Jobs by state and kind (the metrics). */
  countByStateAndKind(): { state: string; kind: string; count: number }[] {
    return this.countByStateStmt.all() as { state: string; kind: string; count: number }[];
  }
}
