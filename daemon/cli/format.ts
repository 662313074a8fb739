// Human-readable output of the CLI. JSON output never goes through here.
import type { JobDetail, JobInfo } from '../protocol';

export function formatDuration(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = s % 60;
  if (d > 0) return `${d}d${h}h${m}m`;
  if (h > 0) return `${h}h${String(m).padStart(2, '0')}m`;
  return `${m}m${String(sec).padStart(2, '0')}s`;
}

function elapsed(job: JobInfo, now = Date.now()): number | null {
  if (!job.startTime) return null;
  const end = job.endTime ? Date.parse(job.endTime) : now;
  return Math.max(0, (end - Date.parse(job.startTime)) / 1000);
}

/** Control characters in job names would garble a terminal: show them escaped. */
function printable(s: string): string {
  return s.replace(/[\u0000-\u001f\u007f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

export function formatJobsTable(jobs: JobInfo[]): string {
  if (jobs.length === 0) return 'no jobs';
  const rows = [
    ['ID', 'CLUSTER', 'SLURM', 'STATE', 'ELAPSED', 'EXIT', 'NAME'],
    ...jobs.map((j) => [
      j.id.slice(0, 8),
      j.cluster,
      j.slurmJobId ?? '-',
      j.array ? `${j.state} (${j.array.byState.COMPLETED ?? 0}/${j.array.total})` : j.state,
      formatDuration(elapsed(j)),
      j.exitCode === null ? '-' : String(j.exitCode),
      printable(j.name),
    ]),
  ];
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i]!))).join('  ')).join('\n');
}

export function formatJob(job: JobInfo | JobDetail): string {
  const lines = [
    `job ${job.id}`,
    `  name       ${printable(job.name)}`,
    `  cluster    ${job.cluster}   SLURM id ${job.slurmJobId ?? '-'}`,
    `  state      ${job.state}${job.reason && job.reason !== 'None' ? ` (${job.reason})` : ''}${job.exitCode !== null ? `, exit code ${job.exitCode}` : ''}${job.exitSignal ? `, signal ${job.exitSignal}` : ''}`,
    `  submitted  ${job.submitTime ?? '-'}`,
    `  started    ${job.startTime ?? '-'}`,
    `  ended      ${job.endTime ?? '-'}`,
    `  elapsed    ${formatDuration(elapsed(job))}${job.requested.timeLimitSeconds !== null ? ` of ${formatDuration(job.requested.timeLimitSeconds)} limit` : ''}`,
    `  partition  ${job.requested.partition ?? '-'}   qos ${job.requested.qos ?? '-'}   ${job.requested.tres ?? ''}`,
    `  run dir    ${job.runDir}`,
    `  script     ${job.scriptPath}`,
    `  stdout     ${job.stdoutPath ?? '-'}`,
  ];
  if (job.stderrPath && job.stderrPath !== job.stdoutPath) lines.push(`  stderr     ${job.stderrPath}`);
  if (job.progress !== null) lines.push(`  progress   ${Math.round(job.progress)}%`);
  if (job.array) {
    const counts = Object.entries(job.array.byState)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([state, n]) => `${n} ${state}`)
      .join(', ');
    lines.push(`  array      ${job.array.total} task(s): ${counts}`);
  }
  if (job.resubmittedFrom) lines.push(`  resubmit   of ${job.resubmittedFrom}`);
  return lines.join('\n');
}
