// Submitting, cancelling and refreshing jobs on a cluster. The job record is
// written before sbatch runs, so every submission attempt leaves a trace.
import { randomUUID } from 'node:crypto';
import { ErrorCode, type JobInfo, type JobState } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ClusterRecord, ClusterStore, JobPatch, JobStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { Logger } from '../log';
import { sbatchCommand, scancelCommand, scontrolShowJobCommand, squeueCommand, sacctCommand } from '../slurm/commands';
import { parseSbatchOutput } from '../slurm/sbatch';
import { parseSqueue, type SqueueJob } from '../slurm/squeue';
import { parseScontrolJobs, type ScontrolJob } from '../slurm/scontrol';
import { parseSacct, type SacctJob } from '../slurm/sacct';
import { isTerminalState } from './states';

export interface SubmitRequest {
  cluster: string;
  script: string;
  scriptName: string;
  name?: string | undefined;
  sbatchArgs: string[];
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

/** How long a job may be missing from both squeue and sacct before it is given up as LOST. */
const FORGOTTEN_AFTER_MS = 10 * 60_000;

export class JobService {
  /** Called after a submit or cancel, when someone is likely watching. */
  onActivity: () => void = () => {};

  constructor(private readonly d: JobServiceDeps) {}

  private changed(job: JobInfo | undefined): void {
    if (job) this.d.onJobChanged(job);
  }

  async submit(req: SubmitRequest, log: Logger): Promise<JobInfo> {
    const cluster = this.d.clusters.get(req.cluster);
    // Until SLURM says otherwise (a #SBATCH --job-name in the script), the job is named after its script.
    const name = req.name ?? req.scriptName;
    const session = await this.d.connections.session(cluster);
    const id = randomUUID();
    const home = await session.homeDir();
    const runDir = `${home}/.slurm-ml/runs/${id}`;
    const scriptPath = `${runDir}/${remoteFileName(req.scriptName)}`;
    let argv: string[];
    try {
      argv = sbatchCommand(scriptPath, { jobName: req.name, extraArgs: req.sbatchArgs });
    } catch (err) {
      throw new RpcError(ErrorCode.InvalidParams, (err as Error).message);
    }
    const created = this.d.jobs.create({ id, clusterId: cluster.id, name, script: req.script, scriptPath, runDir, sbatchArgs: req.sbatchArgs });
    this.changed(created);
    const fail = (code: number, message: string): never => {
      this.changed(this.d.jobs.update(id, { state: 'SUBMIT_FAILED', reason: message.slice(0, 500) }));
      throw new RpcError(code, message);
    };
    try {
      await session.mkdirp(runDir);
      await session.writeFile(scriptPath, req.script, 0o700);
    } catch (err) {
      fail((err as RpcError).code ?? ErrorCode.InternalError, `uploading the script to ${cluster.name}:${scriptPath} failed: ${(err as Error).message}`);
    }
    const r = await session.exec(argv, { cwd: runDir, timeoutMs: 60_000 });
    if (r.code !== 0) {
      fail(ErrorCode.SlurmCommandFailed, `sbatch on ${cluster.name} refused the job: ${firstLines(r.stderr || r.stdout) || `exit status ${r.code}`}`);
    }
    const reply = parseSbatchOutput(r.stdout);
    if (!reply.ok) fail(ErrorCode.SlurmCommandFailed, `sbatch on ${cluster.name} answered something unexpected: ${firstLines(r.stdout)}`);
    const slurmJobId = reply.ok ? reply.value.jobId : '';
    const job = this.d.jobs.update(id, { slurmJobId, state: 'PENDING', submitTime: new Date().toISOString() })!;
    log.info('job submitted', { job: id, slurmJobId, cluster: cluster.name });
    this.changed(job);
    // Paths and resources as SLURM resolved them; the poller would get them too, a moment later.
    await this.refresh(cluster, [job], session).catch((err: unknown) => log.warn('first refresh failed', { error: (err as Error).message }));
    this.onActivity();
    return this.d.jobs.get(id);
  }

  async cancel(ref: string, log: Logger): Promise<JobInfo> {
    const job = this.d.jobs.resolve(ref);
    if (job.terminal) throw new RpcError(ErrorCode.Conflict, `job ${job.slurmJobId ?? job.id} already ended (${job.state})`);
    if (!job.slurmJobId) throw new RpcError(ErrorCode.Conflict, `job ${job.id} has no SLURM id yet (${job.state})`);
    const cluster = this.clusterOf(job);
    const session = await this.d.connections.session(cluster);
    const r = await session.exec(scancelCommand(job.slurmJobId), { timeoutMs: 30_000 });
    if (r.code !== 0) {
      throw new RpcError(ErrorCode.SlurmCommandFailed, `scancel ${job.slurmJobId} on ${cluster.name} failed: ${firstLines(r.stderr || r.stdout)}`);
    }
    log.info('job cancelled', { job: job.id, slurmJobId: job.slurmJobId });
    this.onActivity();
    await this.refresh(cluster, [job], session).catch((err: unknown) => log.warn('refresh after cancel failed', { error: (err as Error).message }));
    return this.d.jobs.get(job.id);
  }

  clusterOf(job: JobInfo): ClusterRecord {
    const c = this.d.clusters.find(job.cluster);
    if (!c) throw new RpcError(ErrorCode.NotFound, `job ${job.id} belongs to cluster ${job.cluster}, which was removed`);
    return c;
  }

  /**
   * Brings the records of these jobs (all on one cluster) up to date: one
   * squeue for all of them, then scontrol (or sacct, once the controller has
   * forgotten the job) for those that ended, to learn exit codes and times.
   */
  async refresh(cluster: ClusterRecord, jobs: JobInfo[], session?: RemoteSession): Promise<void> {
    const tracked = jobs.filter((j) => j.slurmJobId !== null && !isTerminalState(j.state));
    if (tracked.length === 0) return;
    const s = session ?? (await this.d.connections.session(cluster));
    const ids = tracked.map((j) => j.slurmJobId!);
    const q = await s.exec(squeueCommand(ids), { timeoutMs: 30_000 });
    const rows = new Map<string, SqueueJob>();
    if (q.code === 0) {
      const parsed = parseSqueue(q.stdout);
      if (parsed.ok) for (const row of parsed.value) rows.set(row.rawJobId, row);
    } else if (!/invalid job id/i.test(q.stderr)) {
      throw new RpcError(ErrorCode.SlurmCommandFailed, `squeue on ${cluster.name} failed: ${firstLines(q.stderr)}`);
    }
    const needDetail: JobInfo[] = [];
    for (const job of tracked) {
      const row = rows.get(job.slurmJobId!);
      // An ended job is recorded once, with its exit code: squeue alone does not know it.
      if (row && !isTerminalState(row.state)) this.changed(this.d.jobs.update(job.id, patchFromSqueue(row)));
      if (!row || isTerminalState(row.state) || job.stdoutPath === null) needDetail.push(job);
    }
    await Promise.all(needDetail.map((job) => this.refreshDetail(cluster, job, s, rows.get(job.slurmJobId!))));
  }

  private async refreshDetail(cluster: ClusterRecord, job: JobInfo, s: RemoteSession, squeueRow: SqueueJob | undefined): Promise<void> {
    const sc = await s.exec(scontrolShowJobCommand(job.slurmJobId!), { timeoutMs: 30_000 });
    if (sc.code === 0) {
      const parsed = parseScontrolJobs(sc.stdout);
      const row = parsed.ok ? parsed.value.find((r) => r.jobId === job.slurmJobId) : undefined;
      if (row) {
        this.changed(this.d.jobs.update(job.id, patchFromScontrol(row)));
        return;
      }
    }
    if (squeueRow) {
      this.changed(this.d.jobs.update(job.id, patchFromSqueue(squeueRow)));
      return;
    }
    // The controller forgot the job (MinJobAge passed): ask the accounting database.
    const sa = await s.exec(sacctCommand([job.slurmJobId!]), { timeoutMs: 60_000 });
    if (sa.code === 0) {
      const parsed = parseSacct(sa.stdout);
      const row = parsed.ok ? parsed.value.find((r) => r.jobIdRaw === job.slurmJobId) : undefined;
      // sacct shows placeholder rows around a job's end; only trust a finished one.
      if (row && isTerminalState(row.state) && row.end !== null) {
        this.changed(this.d.jobs.update(job.id, patchFromSacct(row)));
        return;
      }
    }
    const age = Date.now() - Date.parse(job.submitTime ?? job.createdAt);
    if (age > FORGOTTEN_AFTER_MS) {
      this.changed(this.d.jobs.update(job.id, { state: 'LOST', reason: `${cluster.name} no longer knows job ${job.slurmJobId}` }));
    }
  }
}

/** A state this code does not know (a newer SLURM) is left out of the patch: the record keeps its last known state and stays polled. */
function knownState(state: string): JobState | undefined {
  return state === 'UNKNOWN' ? undefined : state;
}

function requestedFrom(row: { partition: string | null; qos: string | null; account: string | null; timeLimitSeconds: number | null; numNodes: number | null; numCpus: number | null }, tres: string | null) {
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
