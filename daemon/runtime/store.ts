// The finished-job history runtime predictions learn from, per cluster, read
// incrementally from the cluster's accounting.
import type { Db } from '../db/database';
import type { ClusterRecord } from '../db/registry';
import type { RemoteSession } from '../connections';
import { sacctSinceCommand } from '../slurm/commands';
import { classifySlurmError } from '../slurm/errors';
import { jobsFromSacctOutput, type JobRecord } from './traces';

interface Row {
  slurm_job_id: string;
  user: string;
  job_name: string;
  submit: number;
  start: number;
  end: number;
  runtime: number;
  requested_time: number | null;
  cpus: number;
  nodes: number | null;
  mem_mb: number | null;
  gpus: number | null;
  partition: string | null;
  qos: string | null;
  account: string | null;
  state: string;
  exit_code: number | null;
}

function fromRow(r: Row): JobRecord {
  return {
    id: r.slurm_job_id,
    user: r.user,
    jobName: r.job_name,
    submit: r.submit,
    start: r.start,
    end: r.end,
    runtime: r.runtime,
    requestedTime: r.requested_time,
    cpus: r.cpus,
    nodes: r.nodes,
    memMB: r.mem_mb,
    gpus: r.gpus,
    partition: r.partition,
    qos: r.qos,
    account: r.account,
    state: r.state,
    exit: r.exit_code,
  };
}

/** sacct rows change for a few seconds after a job ends: read again this far behind the last watermark. */
const REREAD_SECONDS = 3600;
/** Jobs ending this recently may still be missing from accounting: the watermark stays behind them. */
const SETTLE_SECONDS = 300;

export class RuntimeStore {
  private readonly upsertStmt;
  private readonly allStmt;
  private readonly countStmt;
  private readonly watermarkStmt;
  private readonly setWatermarkStmt;

  constructor(private readonly db: Db) {
    this.upsertStmt = db.prepare(
      `INSERT INTO runtime_jobs (cluster_id, slurm_job_id, user, job_name, submit, start, end, runtime, requested_time, cpus, nodes, mem_mb, gpus, partition, qos, account, state, exit_code)
       VALUES (@cluster_id, @id, @user, @jobName, @submit, @start, @end, @runtime, @requestedTime, @cpus, @nodes, @memMB, @gpus, @partition, @qos, @account, @state, @exit)
       ON CONFLICT (cluster_id, slurm_job_id) DO UPDATE SET
         user = excluded.user, job_name = excluded.job_name, submit = excluded.submit, start = excluded.start, end = excluded.end,
         runtime = excluded.runtime, requested_time = excluded.requested_time, cpus = excluded.cpus, nodes = excluded.nodes,
         mem_mb = excluded.mem_mb, gpus = excluded.gpus, partition = excluded.partition, qos = excluded.qos,
         account = excluded.account, state = excluded.state, exit_code = excluded.exit_code`,
    );
    this.allStmt = db.prepare('SELECT * FROM runtime_jobs WHERE cluster_id = ? ORDER BY submit, slurm_job_id');
    this.countStmt = db.prepare('SELECT count(*) AS n FROM runtime_jobs WHERE cluster_id = ?');
    this.watermarkStmt = db.prepare('SELECT watermark, last_run_at AS lastRunAt, jobs FROM runtime_ingest WHERE cluster_id = ?');
    this.setWatermarkStmt = db.prepare(
      `INSERT INTO runtime_ingest (cluster_id, watermark, last_run_at, jobs) VALUES (?, ?, ?, ?)
       ON CONFLICT (cluster_id) DO UPDATE SET watermark = excluded.watermark, last_run_at = excluded.last_run_at, jobs = excluded.jobs`,
    );
  }

  add(clusterId: string, jobs: JobRecord[]): void {
    this.db.transaction(() => {
      for (const j of jobs) this.upsertStmt.run({ cluster_id: clusterId, ...j });
    })();
  }

  /** Every finished job of the cluster, in submit order. */
  jobs(clusterId: string): JobRecord[] {
    return (this.allStmt.all(clusterId) as Row[]).map(fromRow);
  }

  count(clusterId: string): number {
    return (this.countStmt.get(clusterId) as { n: number }).n;
  }

  ingestState(clusterId: string): { watermark: number; lastRunAt: string; jobs: number } | null {
    return (this.watermarkStmt.get(clusterId) as { watermark: number; lastRunAt: string; jobs: number } | undefined) ?? null;
  }

  /**
   * Reads the cluster's accounting since the last watermark (the user's own
   * jobs, as sacct shows them to that user) and stores the finished ones.
   * Returns how many were new or changed.
   */
  async ingest(
    cluster: ClusterRecord,
    session: RemoteSession,
    options: { sinceDays?: number; ownHistory?: () => JobRecord[] } = {},
  ): Promise<{ read: number; total: number }> {
    const now = Math.floor(Date.now() / 1000);
    const state = this.ingestState(cluster.id);
    const since = state ? state.watermark - REREAD_SECONDS : now - (options.sinceDays ?? 90) * 86400;
    const r = await session.exec(sacctSinceCommand(new Date(since * 1000)), { timeoutMs: 300_000 });
    let jobs: JobRecord[];
    if (r.code === 0) {
      jobs = jobsFromSacctOutput(r.stdout);
    } else if (options.ownHistory && classifySlurmError(r.stderr || r.stdout).kind === 'accounting-disabled') {
      // A cluster without accounting: the history is what this daemon saw end (final states from scontrol).
      jobs = options.ownHistory();
    } else {
      throw new Error(`sacct on ${cluster.name} failed: ${r.stderr.trim().split('\n')[0] ?? `exit ${r.code}`}`);
    }
    this.add(cluster.id, jobs);
    const total = this.count(cluster.id);
    this.setWatermarkStmt.run(cluster.id, Math.max(since, now - SETTLE_SECONDS), new Date().toISOString(), total);
    return { read: jobs.length, total };
  }
}
