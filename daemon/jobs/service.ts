// Submitting, cancelling, resubmitting and refreshing jobs on a cluster.
//
// A job record is written (state SUBMITTING) before anything happens on the
// cluster, and sbatch runs inside the job's own run directory, whose name is
// the job's uuid: if the daemon dies or the connection drops after sbatch ran
// but before its reply was recorded, the job is found again by that working
// directory (squeue %Z, sacct WorkDir) and is never submitted twice.
import { randomUUID } from 'node:crypto';
import { ErrorCode, type ArrayTask, type JobInfo, type JobKind, type ResubmitPlan, type SubmitEstimate } from '../protocol';
import { RpcError } from '../rpc/connection';
import { trackedOf, type ClusterRecord, type ClusterStore, type JobPatch, type JobStore, type TrackedJob } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';
import type { ClientSession } from '../server';
import {
  FIELD_SEPARATOR,
  SQUEUE_FIELDS,
  sacctCommand,
  sacctSinceCommand,
  sbatchCommand,
  scancelCommand,
  scontrolShowJobCommand,
  squeueCommand,
  squeueMineCommand,
  squeuePathsCommand,
} from '../slurm/commands';
import { findDosLineBreaks, toUnixLineBreaks } from '../slurm/lineEndings';
import { parseSbatchOutput } from '../slurm/sbatch';
import { parseSqueue, parseSqueuePaths, type SqueueJob, type SqueuePaths } from '../slurm/squeue';
import { parseScontrolJobs, type ScontrolJob } from '../slurm/scontrol';
import { parseSacct, type SacctJob } from '../slurm/sacct';
import { classifySlurmError } from '../slurm/errors';
import { formatSlurmDuration, parseSlurmDuration } from '../slurm/time';
import { isTerminalState } from './states';
import { expandJobPattern } from './logs';
import { isAllowedTransition, type StateSource } from './transitions';
import { aggregateState, arrayShape, liveTaskIds, taskIds, taskIdsInSqueue, taskSelector, tasksFromSacct, tasksFromSqueue } from './arrays';

export interface SubmitRequest {
  id?: string | undefined;
  cluster: string;
  script: string;
  scriptName: string;
  name?: string | undefined;
  sbatchArgs: string[];
}

/** What an ML workflow adds to a submit: its script is rendered once the run directory is known. */
export interface WorkflowSubmit {
  kind: JobKind;
  template: string;
  /** Renders the script and validates values; called before anything is recorded or uploaded. */
  render(runDir: string): Promise<{ script: string; values: Record<string, unknown> }> | { script: string; values: Record<string, unknown> };
  /** Files uploaded into the run directory beside the script (entrypoint, config). */
  files: { name: string; data: Buffer }[];
  /** Relative to the run directory. */
  outputDir: string;
  modelName?: string | null;
  modelVersionId?: string | null;
  workflow: Record<string, unknown>;
}

export interface SubmitOptions {
  promptVia?: ClientSession;
  resubmittedFrom?: string;
  workflow?: WorkflowSubmit;
}

export interface JobServiceDeps {
  clusters: ClusterStore;
  jobs: JobStore;
  connections: ClusterConnections;
  log: Logger;
  onJobChanged: (job: JobInfo) => void;
}

/** A remote file name: the user's own, with control characters (which SLURM prints raw into line-based output) replaced. */
export function remoteFileName(name: string): string {
  return name.replace(/[\u0000-\u001f\u007f]/g, '_');
}

function firstLines(text: string, n = 3): string {
  return text.trim().split('\n').slice(0, n).join(' | ');
}

/** How long a job may be missing from squeue, scontrol and sacct before it is given up as LOST. */
const FORGOTTEN_AFTER_MS = 10 * 60_000;
/** A SUBMITTING record older than this, with no submit in flight, is looked for on the cluster. */
const RECONCILE_AFTER_MS = 15_000;
/** ... and if the cluster has no such job this much later, sbatch never ran. */
const NEVER_SUBMITTED_AFTER_MS = 120_000;
/** How long an end read from a range row (a pending rest) stays provisional: SLURM may still start some of its tasks. */
const RANGE_SETTLE_MS = 30_000;

/** A task whose end was read from a range row recently enough that its own record may still appear. */
function isUnsettled(t: ArrayTask): boolean {
  return t.slurmJobId === null && isTerminalState(t.state) && t.endTime !== null && Date.now() - Date.parse(t.endTime) < RANGE_SETTLE_MS;
}

/** squeue columns that change while nothing happens (time used, time left): ignored when comparing rows. */
const VOLATILE_SQUEUE_COLUMNS = new Set(['timeUsed', 'timeLeft'].map((f) => SQUEUE_FIELDS.findIndex(([name]) => name === f)));
/** scontrol runs once per job: bound how many a cycle may run. */
const SCONTROL_PER_CYCLE = 5;


/** What one refresh of a cluster cost and changed. */
export interface RefreshStats {
  commands: number;
  changed: number;
}

interface Change {
  jobId: string;
  patch: JobPatch;
  source: StateSource;
  tasks?: ArrayTask[];
}

/** Wraps a session to count the commands a refresh runs (the poll budget). */
function counting(s: RemoteSession, stats: RefreshStats): RemoteSession {
  return {
    ...s,
    exec: (argv, opts) => {
      stats.commands++;
      return s.exec(argv, opts);
    },
  };
}

export class JobService {
  /** Called after a submit or cancel, when someone is likely watching. */
  onActivity: (cluster: string) => void = () => {};
  /**
   * The runtime estimate to store with a job being submitted (the runtime
   * service's, wired by the app); it must not read the cluster's accounting
   * or fail the submit: null when nothing can be said.
   */
  estimateAtSubmit: (cluster: string, script: string, sbatchArgs: string[], session: RemoteSession) => Promise<SubmitEstimate | null> = async () => null;
  /** Submits whose sbatch has not answered yet: not to be reconciled meanwhile. */
  private readonly inFlight = new Set<string>();
  /** Clusters whose sacct said accounting is disabled (no slurmdbd), by id: what it said. */
  private readonly noAccounting = new Map<string, string>();

  constructor(private readonly d: JobServiceDeps) {}

  private changed(job: JobInfo | undefined): void {
    if (job) this.d.onJobChanged(job);
  }

  /** Submits under way by client-chosen id: a repeat while the first runs gets the first's answer. */
  private readonly submitting = new Map<string, Promise<JobInfo>>();

  submit(req: SubmitRequest, log: Logger, opts: SubmitOptions = {}): Promise<JobInfo> {
    if (!req.id) return this.submitOnce(req, log, opts);
    const running = this.submitting.get(req.id);
    if (running) return running;
    const p = this.submitOnce(req, log, opts).finally(() => this.submitting.delete(req.id!));
    this.submitting.set(req.id, p);
    return p;
  }

  private async submitOnce(req: SubmitRequest, log: Logger, opts: SubmitOptions): Promise<JobInfo> {
    if (req.id) {
      const existing = this.d.jobs.find(req.id);
      if (existing) {
        if (existing.cluster !== req.cluster) throw new RpcError(ErrorCode.Conflict, `job id ${req.id} is already used for a job on ${existing.cluster}`);
        // The same submit again (a retry after a lost answer): the first one stands.
        return existing;
      }
    }
    const cluster = this.d.clusters.get(req.cluster);
    const id = req.id ?? randomUUID();
    // Until SLURM says otherwise (a #SBATCH --job-name in the script), the job is named after its script.
    const name = req.name ?? req.scriptName;
    const session = await this.d.connections.session(cluster, { promptVia: opts.promptVia });
    const home = await session.homeDir();
    const runDir = `${home}/.slurm-ml/runs/${id}`;
    const scriptPath = `${runDir}/${remoteFileName(req.scriptName)}`;
    const wf = opts.workflow;
    let script = req.script;
    let values: Record<string, unknown> | null = null;
    if (wf) ({ script, values } = await wf.render(runDir));
    // sbatch refuses Windows line endings ("DOS line breaks"); the job gets the script with Unix ones, and so does its record.
    const crlf = findDosLineBreaks(script);
    if (crlf) {
      script = toUnixLineBreaks(script);
      log.info('script has Windows line endings; uploading it with Unix ones', { job: id, lines: crlf.count });
    }
    let argv: string[];
    try {
      // The comment makes the job recognisable in squeue/sacct too; a user's own --comment comes later and wins.
      argv = sbatchCommand(scriptPath, { jobName: req.name, extraArgs: [`--comment=slurm-ml:${id}`, ...req.sbatchArgs] });
    } catch (err) {
      throw new RpcError(ErrorCode.InvalidParams, (err as Error).message);
    }
    // What the job is expected to take, as known now (the script is final), worked out while the
    // files upload: its first use on a cluster asks the remote user name over SSH.
    const estimated = this.estimateAtSubmit(cluster.name, script, req.sbatchArgs, session).catch((err: unknown) => {
      log.warn('no runtime estimate stored with the job', { job: id, error: (err as Error).message });
      return null;
    });
    this.inFlight.add(id);
    try {
      const created = this.d.jobs.create({
        id,
        clusterId: cluster.id,
        name,
        script,
        scriptPath,
        runDir,
        sbatchArgs: req.sbatchArgs,
        resubmittedFrom: opts.resubmittedFrom ?? null,
        kind: wf?.kind ?? 'job',
        template: wf?.template ?? null,
        templateValues: values,
        outputDir: wf ? `${runDir}/${wf.outputDir}` : null,
        modelName: wf?.modelName ?? null,
        modelVersionId: wf?.modelVersionId ?? null,
        workflow: wf?.workflow ?? null,
        estimate: null,
      });
      this.changed(created);
      const fail = (code: number, message: string): never => {
        this.changed(this.d.jobs.update(id, { state: 'SUBMIT_FAILED', reason: message.slice(0, 500) }));
        throw new RpcError(code, message);
      };
      // Named in the error: which upload failed (a workflow's config can be the big one).
      let uploading = scriptPath;
      try {
        await session.mkdirp(runDir);
        await session.writeFile(scriptPath, script, 0o700);
        for (const f of wf?.files ?? []) {
          uploading = `${runDir}/${remoteFileName(f.name)}`;
          await session.writeFile(uploading, f.data, 0o600);
        }
      } catch (err) {
        fail((err as RpcError).code ?? ErrorCode.InternalError, `uploading ${uploading === scriptPath ? 'the script' : 'a file'} to ${cluster.name}:${uploading} failed: ${(err as Error).message}`);
      }
      let r;
      try {
        r = await session.exec(argv, { cwd: runDir, timeoutMs: 60_000 });
      } catch (err) {
        // sbatch may or may not have run: leave the record SUBMITTING; reconciliation finds the job or proves it absent.
        this.changed(this.d.jobs.update(id, { reason: `connection lost while sbatch ran; looking for the job on ${cluster.name}` }));
        throw new RpcError((err as RpcError).code ?? ErrorCode.SshConnectFailed, `submitting to ${cluster.name}: ${(err as Error).message}. If sbatch ran, job ${id} will be found and followed; it will not be submitted twice.`);
      }
      if (r.code !== 0) {
        fail(ErrorCode.SlurmCommandFailed, `sbatch on ${cluster.name} refused the job: ${firstLines(r.stderr || r.stdout) || `exit status ${r.code}`}`);
      }
      const reply = parseSbatchOutput(r.stdout);
      if (!reply.ok) fail(ErrorCode.SlurmCommandFailed, `sbatch on ${cluster.name} answered something unexpected: ${firstLines(r.stdout)}`);
      const slurmJobId = reply.ok ? reply.value.jobId : '';
      const job = this.d.jobs.update(id, { slurmJobId, state: 'PENDING', reason: null, submitTime: new Date().toISOString() })!;
      log.info('job submitted', { job: id, slurmJobId, cluster: cluster.name });
      this.changed(job);
    } finally {
      this.inFlight.delete(id);
    }
    const estimate = await estimated;
    if (estimate) {
      const withEstimate = this.d.jobs.update(id, { estimate });
      if (withEstimate) this.changed(withEstimate);
    }
    // Paths, resources and (for arrays) the task set as SLURM resolved them.
    await this.refresh(cluster, [this.d.jobs.get(id)], session).catch((err: unknown) => log.warn('first refresh failed', { error: (err as Error).message }));
    this.onActivity(cluster.name);
    return this.d.jobs.get(id);
  }

  async cancel(ref: string, tasks: string | undefined, log: Logger, opts: { promptVia?: ClientSession } = {}): Promise<JobInfo> {
    const job = this.d.jobs.resolve(ref);
    if (job.terminal) throw new RpcError(ErrorCode.Conflict, `job ${job.slurmJobId ?? job.id} already ended (${job.state})`);
    if (!job.slurmJobId) throw new RpcError(ErrorCode.Conflict, `job ${job.id} has no SLURM id yet (${job.state})`);
    if (tasks !== undefined && job.array === null) throw new RpcError(ErrorCode.InvalidParams, `job ${job.slurmJobId} is not an array; cancel it without --tasks`);
    const target = tasks === undefined ? job.slurmJobId : taskSelector(job.slurmJobId, tasks);
    const cluster = this.clusterOf(job);
    const session = await this.d.connections.session(cluster, { promptVia: opts.promptVia });
    const r = await session.exec(scancelCommand(target), { timeoutMs: 30_000 });
    if (r.code !== 0) {
      throw new RpcError(ErrorCode.SlurmCommandFailed, `scancel ${target} on ${cluster.name} failed: ${firstLines(r.stderr || r.stdout)}`);
    }
    log.info('job cancelled', { job: job.id, target });
    this.onActivity(cluster.name);
    await this.refresh(cluster, [this.d.jobs.get(job.id)], session).catch((err: unknown) => log.warn('refresh after cancel failed', { error: (err as Error).message }));
    return this.d.jobs.get(job.id);
  }

  /** What a resubmit would ask for: after TIMEOUT twice the time, after OUT_OF_MEMORY twice the memory. */
  resubmitPlan(ref: string): ResubmitPlan {
    const job = this.d.jobs.resolve(ref);
    if (!job.terminal) throw new RpcError(ErrorCode.Conflict, `job ${job.slurmJobId ?? job.id} has not ended (${job.state}); cancel it first or wait`);
    const limit = job.requested.timeLimitSeconds;
    if (job.state === 'TIMEOUT' && limit) {
      return { time: formatSlurmDuration(limit * 2), mem: null, reason: `ended TIMEOUT at its limit of ${formatSlurmDuration(limit)}: twice the time` };
    }
    if (job.state === 'OUT_OF_MEMORY') {
      const mem = /(?:^|,)mem=(\d+)([KMGT]?)/.exec(job.requested.tres ?? '');
      if (mem) {
        return { time: null, mem: `${Number(mem[1]) * 2}${mem[2] || 'M'}`, reason: `ended OUT_OF_MEMORY with ${mem[1]}${mem[2]} of memory: twice the memory` };
      }
      return { time: null, mem: null, reason: 'ended OUT_OF_MEMORY; its memory request is unknown, give --mem' };
    }
    return { time: null, mem: null, reason: `ended ${job.state}: same script and options` };
  }

  /** Submits a finished job's script again; time and mem (confirmed by the user) override its options. */
  async resubmit(req: { ref: string; id?: string | undefined; time?: string | undefined; mem?: string | undefined }, log: Logger, opts: { promptVia?: ClientSession } = {}): Promise<JobInfo> {
    const old = this.d.jobs.resolve(req.ref);
    if (old.kind !== 'job') throw new RpcError(ErrorCode.Conflict, `job ${old.slurmJobId ?? old.id} is a ${old.kind} job: run the ${old.kind} again (its run directory holds its own inputs)`);
    if (!old.terminal) throw new RpcError(ErrorCode.Conflict, `job ${old.slurmJobId ?? old.id} has not ended (${old.state}); cancel it first or wait`);
    if (req.time !== undefined && parseSlurmDuration(req.time) === null) throw new RpcError(ErrorCode.InvalidParams, `params.time: not a SLURM time: ${req.time}`);
    // Later options win in sbatch, so the new values are appended rather than edited in.
    const args = old.sbatchArgs.filter((a) => !(req.time && /^(--time=|-t)/.test(a)) && !(req.mem && /^--mem(-per-cpu|-per-gpu)?=/.test(a)));
    if (req.time) args.push(`--time=${req.time}`);
    if (req.mem) args.push(`--mem=${req.mem}`);
    const scriptName = old.scriptPath.slice(old.scriptPath.lastIndexOf('/') + 1);
    const wasNamed = old.name !== scriptName;
    return this.submit(
      { id: req.id, cluster: old.cluster, script: old.script, scriptName, name: wasNamed && !/^#SBATCH\s+(-J|--job-name)/m.test(old.script) ? old.name : undefined, sbatchArgs: args },
      log,
      { ...opts, resubmittedFrom: old.id },
    );
  }

  clusterOf(job: Pick<JobInfo, 'id' | 'cluster'>): ClusterRecord {
    const c = this.d.clusters.find(job.cluster);
    if (!c) throw new RpcError(ErrorCode.NotFound, `job ${job.id} belongs to cluster ${job.cluster}, which was removed`);
    return c;
  }

  /**
   * Brings the records of these jobs (all on one cluster) up to date: one
   * squeue for all of them; scontrol for those that ended (exit codes, paths)
   * or are new; sacct only for jobs that left squeue and for array tasks that
   * ended. All changes of one refresh are written in one transaction.
   */
  async refresh(cluster: ClusterRecord, jobs: (TrackedJob | JobInfo)[], session?: RemoteSession): Promise<RefreshStats> {
    const stats: RefreshStats = { commands: 0, changed: 0 };
    const refs = jobs.map((j) => ('isArray' in j ? j : trackedOf(j)));
    const submitting = refs.filter((j) => j.state === 'SUBMITTING' && j.slurmJobId === null && !this.inFlight.has(j.id) && Date.now() - Date.parse(j.createdAt) > RECONCILE_AFTER_MS);
    const tracked = refs.filter((j) => j.slurmJobId !== null && !isTerminalState(j.state));
    if (tracked.length === 0 && submitting.length === 0) return stats;
    const s = counting(session ?? (await this.d.connections.session(cluster, { background: true })), stats);
    const changes: Change[] = [];
    if (submitting.length > 0) changes.push(...(await this.reconcile(s, submitting.map((j) => this.d.jobs.get(j.id)))));
    if (tracked.length > 0) changes.push(...(await this.track(cluster, s, tracked)));
    stats.changed = this.apply(changes);
    return stats;
  }

  /**
   * squeue rows of the last cycle, per cluster and job, without the columns
   * that tick by themselves (time used, time left): a job whose row did not
   * change needs no parsing and no write, which is what keeps a cycle over
   * thousands of waiting jobs cheap.
   */
  private readonly lastRows = new Map<string, Map<string, string>>();

  private async track(cluster: ClusterRecord, s: RemoteSession, tracked: TrackedJob[]): Promise<Change[]> {
    const changes: Change[] = [];
    const q = await s.exec(squeueCommand(tracked.map((j) => j.slurmJobId!)), { timeoutMs: 60_000 });
    const byBase = new Map<string, SqueueJob[]>();
    const seen = new Set<string>();
    const unchanged = new Set<string>();
    // New jobs (paths unknown) and arrays always need their rows read.
    const needsRows = new Set(tracked.filter((j) => j.stdoutPath === null || j.isArray).map((j) => j.slurmJobId!));
    if (q.code === 0) {
      const last = this.lastRows.get(cluster.name) ?? new Map<string, string>();
      const next = new Map<string, string>();
      const changedLines: string[] = [];
      for (const line of q.stdout.split('\n')) {
        if (line === '') continue;
        const cols = line.split(FIELD_SEPARATOR);
        const base = /^\d+/.exec(cols[0] ?? '')?.[0];
        if (base === undefined) {
          changedLines.push(line);
          continue;
        }
        seen.add(base);
        const key = cols.filter((_, i) => !VOLATILE_SQUEUE_COLUMNS.has(i)).join(FIELD_SEPARATOR);
        // Arrays have several rows per base id: always read them.
        if (cols[0] === base) {
          next.set(base, key);
          if (last.get(base) === key && !needsRows.has(base)) {
            unchanged.add(base);
            continue;
          }
        }
        changedLines.push(line);
      }
      this.lastRows.set(cluster.name, next);
      const parsed = parseSqueue(changedLines.join('\n'));
      if (parsed.ok) {
        for (const row of parsed.value) {
          const key = row.id ? String(row.id.baseId) : row.rawJobId;
          const list = byBase.get(key) ?? [];
          list.push(row);
          byBase.set(key, list);
        }
      }
    } else if (!/invalid job id/i.test(q.stderr)) {
      // Also when slurmctld is down: nothing is concluded from a failed squeue.
      throw new RpcError(ErrorCode.SlurmCommandFailed, `squeue on ${cluster.name} failed: ${firstLines(q.stderr)}`);
    }
    const plain: JobInfo[] = [];
    for (const ref of tracked) {
      const id = ref.slurmJobId!;
      // Same row as last cycle: nothing happened to it.
      if (unchanged.has(id)) continue;
      const rows = byBase.get(id) ?? [];
      const job = this.d.jobs.find(ref.id);
      if (!job) continue;
      if (job.array !== null || rows.some((r) => r.arrayTaskId !== null)) changes.push(...(await this.trackArray(s, job, rows)));
      else if (rows.length > 0 || !seen.has(id)) plain.push(job);
    }
    changes.push(...(await this.trackPlain(cluster, s, plain, byBase)));
    return changes;
  }

  /**
   * Plain jobs, in a bounded number of commands whatever their count: the
   * squeue already run, one squeue --Format for the paths of new jobs, one
   * sacct for jobs that ended or left squeue, and scontrol for at most a few
   * of those that sacct cannot answer yet.
   */
  /** Remembers whether the cluster keeps accounting, from what its sacct answered. */
  private noteAccounting(cluster: ClusterRecord, sa: { code: number | null; stderr: string; stdout: string }): void {
    if (sa.code === 0) {
      if (this.noAccounting.delete(cluster.id)) this.d.log.info('accounting is available again', { cluster: cluster.name });
      return;
    }
    const said = (sa.stderr || sa.stdout).trim().split('\n')[0] ?? '';
    if (classifySlurmError(said).kind === 'accounting-disabled' && !this.noAccounting.has(cluster.id)) {
      this.noAccounting.set(cluster.id, said);
      this.d.log.info('the cluster keeps no accounting: final states come from scontrol while SLURM remembers the job', { cluster: cluster.name, sacct: said });
    }
  }

  /** Whether the cluster's sacct said accounting is disabled (no slurmdbd); what it said. */
  accountingDisabled(clusterId: string): string | undefined {
    return this.noAccounting.get(clusterId);
  }

  private async trackPlain(cluster: ClusterRecord, s: RemoteSession, jobs: JobInfo[], byBase: Map<string, SqueueJob[]>): Promise<Change[]> {
    const changes: Change[] = [];
    const row = (j: JobInfo) => byBase.get(j.slurmJobId!)?.[0];
    const fresh = jobs.filter((j) => j.stdoutPath === null && row(j));
    const paths = new Map<string, SqueuePaths>();
    if (fresh.length > 0) {
      const p = await s.exec(squeuePathsCommand(fresh.map((j) => j.slurmJobId!)), { timeoutMs: 60_000 });
      const parsed = p.code === 0 ? parseSqueuePaths(p.stdout) : undefined;
      if (parsed?.ok) for (const r of parsed.value) paths.set(r.jobId, r);
    }
    // Ended (in squeue) or gone from it: the exit code and final times are needed.
    const ending = jobs.filter((j) => !row(j) || isTerminalState(row(j)!.state));
    const finals = new Map<string, JobPatch & { source: StateSource }>();
    let acctAnswered = false;
    /** Jobs the controller answered "Invalid job id" for: it no longer remembers them. */
    const forgotten = new Set<string>();
    if (ending.length > 0) {
      const sa = await s.exec(sacctCommand(ending.map((j) => j.slurmJobId!)), { timeoutMs: 60_000 });
      acctAnswered = sa.code === 0;
      this.noteAccounting(cluster, sa);
      const parsed = acctAnswered ? parseSacct(sa.stdout) : undefined;
      if (parsed?.ok) {
        for (const acct of parsed.value) {
          // sacct shows placeholder rows around a job's end: only a finished row is trusted.
          if (isTerminalState(acct.state) && acct.end !== null) finals.set(acct.jobIdRaw, { ...patchFromSacct(acct), source: 'sacct' });
        }
      }
      // What sacct cannot tell yet, the controller can (while it remembers the job): a few per cycle.
      for (const j of ending.filter((j) => !finals.has(j.slurmJobId!)).slice(0, SCONTROL_PER_CYCLE)) {
        const sc = await s.exec(scontrolShowJobCommand(j.slurmJobId!), { timeoutMs: 30_000 });
        const parsed = sc.code === 0 ? parseScontrolJobs(sc.stdout) : undefined;
        const detail = parsed?.ok ? parsed.value.find((r) => r.jobId === j.slurmJobId) : undefined;
        if (detail && isTerminalState(detail.state)) finals.set(j.slurmJobId!, { ...patchFromScontrol(detail), source: 'scontrol' });
        else if (sc.code !== 0 && classifySlurmError(sc.stderr).kind === 'invalid-job-id') forgotten.add(j.slurmJobId!);
      }
    }
    const noAccounting = this.noAccounting.get(cluster.id);
    for (const job of jobs) {
      const r = row(job);
      const misses = r ? 0 : this.d.jobs.pollMisses(job.id) + 1;
      const patch: JobPatch = { pollMisses: misses };
      let source: StateSource = 'squeue';
      if (r) {
        const fromSqueue = patchFromSqueue(r);
        // An end without its exit code is not recorded yet: it waits for sacct or scontrol.
        if (isTerminalState(r.state) && !finals.has(job.slurmJobId!)) {
          delete fromSqueue.state;
          delete fromSqueue.endTime;
        }
        Object.assign(patch, fromSqueue, { requested: requestedFrom(r, job.requested.tres) });
      }
      const p = paths.get(job.slurmJobId!);
      if (p) {
        // squeue prints an --error path with its %-patterns left in: fill in what the job itself determines.
        const expand = (path: string | null) =>
          path === null ? null : expandJobPattern(r?.user ? path.replace(/%u/g, r.user) : path, { slurmJobId: job.slurmJobId, name: r?.name ?? job.name });
        Object.assign(patch, { stdoutPath: expand(p.stdOut), stderrPath: expand(p.stdErr), requested: { ...(patch.requested ?? job.requested), tres: p.tres } });
      }
      const f = finals.get(job.slurmJobId!);
      if (f) {
        const { source: fs, ...fp } = f;
        Object.assign(patch, fp);
        source = fs;
      } else if (!r) {
        const age = Date.now() - Date.parse(job.submitTime ?? job.createdAt);
        // Never concluded from one missing row: only after several misses and a long silence from every source.
        if (misses >= 3 && age > FORGOTTEN_AFTER_MS && acctAnswered) {
          Object.assign(patch, { state: 'LOST', reason: `${cluster.name} no longer knows job ${job.slurmJobId}` });
          source = 'daemon';
        } else if (misses >= 2 && noAccounting !== undefined && forgotten.has(job.slurmJobId!)) {
          // Gone from squeue and from the controller's memory, with no accounting to ask: it ended, how is unknown.
          Object.assign(patch, {
            state: 'ENDED',
            reason: `final state unknown: SLURM no longer remembers job ${job.slurmJobId} and ${cluster.name} keeps no accounting (sacct: ${noAccounting})`,
          });
          source = 'daemon';
        }
      }
      changes.push({ jobId: job.id, patch, source });
    }
    return changes;
  }

  private async trackArray(s: RemoteSession, job: JobInfo, rows: SqueueJob[]): Promise<Change[]> {
    const patch: JobPatch = { pollMisses: rows.length > 0 ? 0 : this.d.jobs.pollMisses(job.id) + 1 };
    if (job.array === null || job.stdoutPath === null) {
      // First sighting: the array's size and log paths.
      const sc = await s.exec(scontrolShowJobCommand(job.slurmJobId!), { timeoutMs: 30_000 });
      const parsed = sc.code === 0 ? parseScontrolJobs(sc.stdout) : undefined;
      if (parsed?.ok) {
        const shape = arrayShape(parsed.value);
        if (shape) Object.assign(patch, { arraySpec: shape.spec, arrayTotal: shape.total });
        const first = parsed.value.find((r) => r.arrayTaskId !== null && /^\d+$/.test(r.arrayTaskId)) ?? parsed.value[0];
        if (first) {
          const d = patchFromScontrol(first);
          Object.assign(patch, { name: d.name, requested: d.requested, stdoutPath: d.stdoutPath, stderrPath: d.stderrPath, submitTime: d.submitTime });
        }
      }
    }
    // While a partial cancel is being applied, SLURM can show the old pending rest as ended (in squeue or in
    // sacct's record of it) although some of its tasks still wait: what squeue shows live wins.
    const live = liveTaskIds(rows);
    const tasks = tasksFromSqueue(rows).filter((t) => !(t.slurmJobId === null && live.has(t.taskId)));
    const known = new Map(this.d.jobs.tasks(job.id, 0, 1_000_000).tasks.map((t) => [t.taskId, t]));
    // Tasks neither listed by squeue (split off or in the pending rest) nor known to have ended.
    const spec = (patch.arraySpec as string | undefined) ?? this.d.jobs.arraySpec(job.id);
    const listed = taskIdsInSqueue(rows);
    const unaccounted = (spec ? (taskIds(spec) ?? []) : []).filter((id) => !listed.has(id) && !isTerminalState(known.get(id)?.state ?? 'PENDING'));
    // Exit codes are only in accounting: ask sacct (once for the whole array) when a task ended without one,
    // when tasks left squeue, or when squeue no longer lists the array at all.
    const needAcct =
      rows.length === 0 ||
      unaccounted.length > 0 ||
      tasks.some((t) => isTerminalState(t.state) && known.get(t.taskId)?.exitCode == null) ||
      [...known.values()].some((t) => isUnsettled(t));
    if (needAcct) {
      const sa = await s.exec(sacctCommand([job.slurmJobId!]), { timeoutMs: 60_000 });
      if (sa.code === 0) {
        const parsed = parseSacct(sa.stdout);
        if (parsed.ok) {
          const final = new Map(tasksFromSacct(parsed.value).map((t) => [t.taskId, t]));
          const inAcct = new Set(parsed.value.flatMap((j) => (j.id?.arrayTaskId != null ? [j.id.arrayTaskId] : j.id?.arrayTaskSpec ? (taskIds(j.id.arrayTaskSpec) ?? []) : [])));
          for (let i = 0; i < tasks.length; i++) {
            const f = final.get(tasks[i]!.taskId);
            if (f && !live.has(f.taskId)) tasks[i] = f;
          }
          for (const [taskId, f] of final) if (!live.has(taskId) && !tasks.some((t) => t.taskId === taskId)) tasks.push(f);
          // A pending task leaves the pending rest only by starting (then squeue or sacct list it) or by
          // being cancelled, after which SLURM keeps no record of it at all.
          for (const id of unaccounted) {
            if (inAcct.has(id) || tasks.some((t) => t.taskId === id)) continue;
            tasks.push({ taskId: id, slurmJobId: null, state: 'CANCELLED', reason: 'cancelled before it started', startTime: null, endTime: new Date().toISOString(), exitCode: 0, exitSignal: 15 });
          }
        }
      }
    }
    // Keep what is known when a task is not in this cycle's view; never let a terminal task move.
    const merged = tasks.filter((t) => {
      const k = known.get(t.taskId);
      return (
        !k ||
        isAllowedTransition(k.state, t.state, 'squeue') ||
        (isTerminalState(k.state) && k.exitCode === null && isTerminalState(t.state)) ||
        // An end read from a range row (no task id of its own) is SLURM's view of a pending rest while a
        // partial cancel is applied; the task's own record, once it exists, is the truth.
        (k.slurmJobId === null && t.slurmJobId !== null)
      );
    });
    return [{ jobId: job.id, patch, source: 'squeue', tasks: merged }];
  }

  /**
   * Looks for SUBMITTING jobs (sbatch's answer was never recorded) on the
   * cluster by their run directory: squeue first, then sacct.
   */
  private async reconcile(s: RemoteSession, jobs: JobInfo[]): Promise<Change[]> {
    const changes: Change[] = [];
    const byDir = new Map(jobs.map((j) => [j.runDir, j]));
    const found = new Map<string, { slurmJobId: string; source: StateSource }>();
    const q = await s.exec(squeueMineCommand(), { timeoutMs: 60_000 });
    if (q.code === 0) {
      const parsed = parseSqueue(q.stdout);
      if (parsed.ok) {
        for (const row of parsed.value) {
          const j = row.workDir ? byDir.get(row.workDir) : undefined;
          if (j && row.id) found.set(j.id, { slurmJobId: String(row.id.baseId), source: 'squeue' });
        }
      }
    }
    let acctOk = false;
    const missing = jobs.filter((j) => !found.has(j.id));
    if (missing.length > 0) {
      const since = new Date(Math.min(...missing.map((j) => Date.parse(j.createdAt))) - 60_000);
      const sa = await s.exec(sacctSinceCommand(since), { timeoutMs: 60_000 });
      acctOk = sa.code === 0;
      const parsed = acctOk ? parseSacct(sa.stdout) : undefined;
      if (parsed?.ok) {
        for (const row of parsed.value) {
          const j = row.workDir ? byDir.get(row.workDir) : undefined;
          if (j && row.id && !found.has(j.id)) found.set(j.id, { slurmJobId: String(row.id.baseId), source: 'sacct' });
        }
      }
    }
    for (const j of jobs) {
      const f = found.get(j.id);
      if (f) {
        this.d.log.info('found a job whose submit answer was lost', { job: j.id, slurmJobId: f.slurmJobId });
        changes.push({ jobId: j.id, patch: { slurmJobId: f.slurmJobId, state: 'PENDING', reason: null, submitTime: j.createdAt }, source: f.source });
      } else if (acctOk && q.code === 0 && Date.now() - Date.parse(j.createdAt) > NEVER_SUBMITTED_AFTER_MS) {
        changes.push({ jobId: j.id, patch: { state: 'SUBMIT_FAILED', reason: 'the submission was interrupted before sbatch accepted it; the cluster has no such job' }, source: 'daemon' });
      }
    }
    return changes;
  }

  /** Writes a refresh's changes in one transaction, then tells clients. */
  private apply(changes: Change[]): number {
    const touched: JobInfo[] = [];
    this.d.jobs.transaction(() => {
      for (const c of changes) {
        const current = this.d.jobs.find(c.jobId);
        if (!current) continue;
        let patch = c.patch;
        if (patch.state !== undefined && !isAllowedTransition(current.state, patch.state, c.source)) {
          this.d.log.warn('refused an impossible state change', { job: c.jobId, from: current.state, to: patch.state, source: c.source });
          patch = { pollMisses: patch.pollMisses };
        }
        let visible = false;
        if (c.tasks && c.tasks.length > 0) visible = this.d.jobs.upsertTasks(c.jobId, c.tasks) > 0;
        let updated = this.d.jobs.update(c.jobId, patch);
        const after = updated ?? this.d.jobs.get(c.jobId);
        if (after.array !== null) {
          // The array's own record follows its tasks; it ends once every task ended with a known exit code.
          const tasks = this.d.jobs.tasks(c.jobId, 0, 1_000_000).tasks;
          const finished = after.array.done && tasks.every((t) => (!isTerminalState(t.state) || t.exitCode !== null) && !isUnsettled(t));
          const state = aggregateState({ ...after.array, done: finished });
          if (isAllowedTransition(after.state, state, 'squeue')) {
            const ends = tasks.map((t) => t.endTime).filter((e): e is string => e !== null).sort();
            const starts = tasks.map((t) => t.startTime).filter((e): e is string => e !== null).sort();
            const worst = tasks.reduce<ArrayTask | null>((w, t) => (t.exitCode !== null && (w === null || t.exitCode > (w.exitCode ?? 0)) ? t : w), null);
            updated =
              this.d.jobs.update(c.jobId, {
                state,
                startTime: starts[0] ?? null,
                endTime: finished ? (ends.at(-1) ?? null) : null,
                exitCode: finished ? (worst?.exitCode ?? 0) : null,
                exitSignal: finished ? (worst?.exitSignal ?? 0) : null,
              }) ?? updated;
          }
        }
        if (updated || visible) touched.push(updated ?? this.d.jobs.get(c.jobId));
      }
    });
    for (const j of touched) this.changed(j);
    return touched.length;
  }
}

function requestedFrom(
  row: { partition: string | null; qos: string | null; account: string | null; timeLimitSeconds: number | null; numNodes: number | null; numCpus: number | null },
  tres: string | null,
) {
  return {
    partition: row.partition,
    qos: row.qos,
    account: row.account,
    timeLimitSeconds: row.timeLimitSeconds,
    nodes: row.numNodes,
    cpus: row.numCpus,
    tres,
  };
}

/** A state this code does not know (a newer SLURM) is left out of the patch: the record keeps its last known state and stays polled. */
function knownState(state: string): string | undefined {
  return state === 'UNKNOWN' ? undefined : state;
}

function patchFromSqueue(row: SqueueJob): JobPatch {
  const started = row.state !== 'PENDING';
  return {
    name: row.name,
    state: knownState(row.state),
    reason: row.reason,
    submitTime: row.submitTime ?? undefined,
    // For pending jobs squeue prints the expected start and end; those are not facts.
    startTime: started ? row.startTime : null,
    endTime: isTerminalState(row.state) ? row.endTime : null,
  };
}

function patchFromScontrol(row: ScontrolJob): JobPatch {
  const terminal = isTerminalState(row.state);
  const started = row.state !== 'PENDING';
  return {
    name: row.jobName,
    state: knownState(row.state),
    reason: row.reason,
    submitTime: row.submitTime ?? undefined,
    startTime: started ? row.startTime : null,
    endTime: terminal ? row.endTime : null,
    exitCode: terminal && row.exitCode ? row.exitCode.code : null,
    exitSignal: terminal && row.exitCode ? row.exitCode.signal : null,
    stdoutPath: row.stdOut,
    stderrPath: row.stdErr,
    requested: requestedFrom(row, row.tres?.text ?? null),
  };
}

function patchFromSacct(row: SacctJob): JobPatch {
  return {
    state: knownState(row.state),
    reason: row.reason,
    submitTime: row.submit ?? undefined,
    startTime: row.start,
    endTime: row.end,
    exitCode: row.exitCode ? row.exitCode.code : null,
    exitSignal: row.exitCode ? row.exitCode.signal : null,
  };
}
