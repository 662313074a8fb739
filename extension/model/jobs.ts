// What the Jobs view shows, as plain data: grouping, labels, icons, and when a
// job's end deserves a notification. No `vscode` here, so it is unit-tested.
import type { ArrayTask, JobInfo } from '../../daemon/protocol';

/** A codicon name and a theme color id, as ThemeIcon takes them. */
export interface IconSpec {
  id: string;
  color?: string;
}

const stateIcons: Record<string, IconSpec> = {
  SUBMITTING: { id: 'cloud-upload' },
  PENDING: { id: 'clock', color: 'charts.yellow' },
  CONFIGURING: { id: 'loading~spin' },
  RUNNING: { id: 'sync~spin', color: 'charts.blue' },
  COMPLETING: { id: 'sync~spin', color: 'charts.blue' },
  SUSPENDED: { id: 'debug-pause' },
  REQUEUED: { id: 'history' },
  COMPLETED: { id: 'pass', color: 'testing.iconPassed' },
  FAILED: { id: 'error', color: 'testing.iconFailed' },
  NODE_FAIL: { id: 'error', color: 'testing.iconFailed' },
  BOOT_FAIL: { id: 'error', color: 'testing.iconFailed' },
  SUBMIT_FAILED: { id: 'error', color: 'testing.iconFailed' },
  OUT_OF_MEMORY: { id: 'error', color: 'testing.iconFailed' },
  TIMEOUT: { id: 'watch', color: 'testing.iconFailed' },
  DEADLINE: { id: 'watch', color: 'testing.iconFailed' },
  CANCELLED: { id: 'circle-slash', color: 'disabledForeground' },
  PREEMPTED: { id: 'circle-slash', color: 'charts.orange' },
  LOST: { id: 'question', color: 'charts.orange' },
  ENDED: { id: 'question', color: 'disabledForeground' },
};

export function stateIcon(state: string): IconSpec {
  return stateIcons[state] ?? { id: 'circle-outline' };
}

/** True for an ended job that did not succeed (the user may want its log). */
export function endedBadly(job: Pick<JobInfo, 'terminal' | 'state'>): boolean {
  return job.terminal && job.state !== 'COMPLETED';
}

/** 59s, 4m05s, 2h03m, 3d04h: short enough for a tree item's description. */
export function formatElapsed(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  if (s < 86400) return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
  return `${Math.floor(s / 86400)}d${String(Math.floor((s % 86400) / 3600)).padStart(2, '0')}h`;
}

/** Run time: start to end (or now while running); null before it started. */
export function elapsedSeconds(job: Pick<JobInfo, 'startTime' | 'endTime'>, now: number): number | null {
  if (!job.startTime) return null;
  const end = job.endTime ? Date.parse(job.endTime) : now;
  return Math.max(0, (end - Date.parse(job.startTime)) / 1000);
}

export function jobLabel(job: JobInfo): string {
  return job.name;
}

/** "#123 · RUNNING · 4m05s · 42%" */
/**
 * `#42 · RUNNING · 4m05s of ≈12m00s · 42%`: the elapsed time against the
 * predicted runtime (p50) when one is known.
 */
export function jobDescription(job: JobInfo, now: number, predictedSeconds?: number | null): string {
  const parts: string[] = [];
  if (job.slurmJobId) parts.push(`#${job.slurmJobId}`);
  parts.push(job.state);
  const e = elapsedSeconds(job, now);
  if (e !== null) parts.push(predictedSeconds ? `${formatElapsed(e)} of ≈${formatElapsed(predictedSeconds)}` : formatElapsed(e));
  else if (predictedSeconds && !job.terminal) parts.push(`≈${formatElapsed(predictedSeconds)}`);
  if (job.progress !== null && !(job.terminal && job.state === 'COMPLETED' && job.progress === 100)) parts.push(`${Math.round(job.progress)}%`);
  if (job.array) parts.push(`${job.array.total} tasks`);
  return parts.join(' · ');
}

export function jobTooltip(job: JobInfo): string {
  const lines = [`${job.name} (${job.kind})`, `cluster ${job.cluster}, SLURM id ${job.slurmJobId ?? '(not yet)'}`, `state ${job.state}${job.reason ? ` (${job.reason})` : ''}`];
  if (job.exitCode !== null) lines.push(`exit code ${job.exitCode}${job.exitSignal ? `, signal ${job.exitSignal}` : ''}`);
  if (job.array) {
    const counts = Object.entries(job.array.byState)
      .map(([s, n]) => `${n} ${s}`)
      .join(', ');
    lines.push(`array: ${job.array.total} tasks (${counts})`);
  }
  if (job.model) lines.push(`model ${job.model}${job.modelVersion !== null ? ` v${job.modelVersion}` : ''}`);
  lines.push(`run directory ${job.runDir}`);
  if (job.outputDir) lines.push(`output ${job.outputDir}`);
  return lines.join('\n');
}

/**
 * contextValue for menus: "job.active", "job.ended.ok", "job.ended.failed",
 * with ".array" appended for arrays. Menus match them with regular expressions.
 */
export function jobContextValue(job: JobInfo): string {
  const base = !job.terminal ? 'job.active' : job.state === 'COMPLETED' ? 'job.ended.ok' : 'job.ended.failed';
  return job.array ? `${base}.array` : base;
}

export function taskLabel(task: ArrayTask): string {
  return `task ${task.taskId}`;
}

export function taskDescription(task: ArrayTask, now: number): string {
  const parts: string[] = [];
  if (task.slurmJobId) parts.push(`#${task.slurmJobId}`);
  parts.push(task.state);
  const e = elapsedSeconds(task, now);
  if (e !== null) parts.push(formatElapsed(e));
  if (task.exitCode !== null && task.exitCode !== 0) parts.push(`exit ${task.exitCode}`);
  return parts.join(' · ');
}

export interface ClusterJobs {
  cluster: string;
  active: JobInfo[];
  recent: JobInfo[];
}

/**
 * Per cluster (by name), active jobs (newest first) and the most recent ended
 * ones. Clusters without jobs are listed too when named in `clusters`.
 */
export function groupJobs(jobs: Iterable<JobInfo>, clusters: readonly string[] = [], recentLimit = 20): ClusterJobs[] {
  const by = new Map<string, ClusterJobs>();
  for (const c of clusters) by.set(c, { cluster: c, active: [], recent: [] });
  for (const j of jobs) {
    let g = by.get(j.cluster);
    if (!g) by.set(j.cluster, (g = { cluster: j.cluster, active: [], recent: [] }));
    (j.terminal ? g.recent : g.active).push(j);
  }
  const newest = (a: JobInfo, b: JobInfo) => (b.submitTime ?? b.createdAt).localeCompare(a.submitTime ?? a.createdAt);
  const out = [...by.values()].sort((a, b) => a.cluster.localeCompare(b.cluster));
  for (const g of out) {
    g.active.sort(newest);
    g.recent = g.recent.sort((a, b) => (b.endTime ?? b.updatedAt).localeCompare(a.endTime ?? a.updatedAt)).slice(0, recentLimit);
  }
  return out;
}

export type NotificationSetting = 'all' | 'failed' | 'none';
export type JobEndNotice = { kind: 'info' | 'error'; message: string } | null;

/**
 * What to tell the user when a job record changes: only on the change from an
 * active state to an ended one that this window saw (not for old jobs
 * replayed on connect), filtered by the setting.
 */
export function jobEndNotice(previous: Pick<JobInfo, 'terminal'> | undefined, job: JobInfo, setting: NotificationSetting): JobEndNotice {
  if (setting === 'none' || !previous || previous.terminal || !job.terminal) return null;
  const id = job.slurmJobId ? ` (#${job.slurmJobId})` : '';
  if (job.state === 'COMPLETED') {
    return setting === 'all' ? { kind: 'info', message: `Job ${job.name}${id} on ${job.cluster} completed.` } : null;
  }
  if (job.state === 'ENDED') {
    // No accounting, and SLURM forgot the job before its end was seen: say so, guess nothing.
    return setting === 'all' ? { kind: 'info', message: `Job ${job.name}${id} on ${job.cluster} ended; its final state is unknown (${job.cluster} keeps no accounting).` } : null;
  }
  const exit = job.exitCode !== null && job.exitCode !== 0 ? `, exit code ${job.exitCode}` : '';
  return { kind: 'error', message: `Job ${job.name}${id} on ${job.cluster} ended ${job.state}${exit}.` };
}

/** Counts what the status bar shows. */
export function countJobs(jobs: Iterable<JobInfo>): { running: number; pending: number } {
  let running = 0;
  let pending = 0;
  for (const j of jobs) {
    if (j.terminal) continue;
    if (j.state === 'PENDING' || j.state === 'SUBMITTING') pending++;
    else running++;
  }
  return { running, pending };
}
