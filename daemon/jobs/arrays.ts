// Job arrays: what squeue and sacct say about each task, and the one state a
// whole array is shown in.
import type { ArraySummary, ArrayTask } from '../protocol';
import type { SqueueJob } from '../slurm/squeue';
import type { SacctJob } from '../slurm/sacct';
import type { ScontrolJob } from '../slurm/scontrol';
import { parseArraySpec } from '../slurm/jobid';
import { isTerminalState } from './states';

/** Task rows from squeue; the collapsed pending rest (`123_[5-9%2]`) stays implicit. */
export function tasksFromSqueue(rows: SqueueJob[]): ArrayTask[] {
  const tasks: ArrayTask[] = [];
  for (const r of rows) {
    if (r.state === 'UNKNOWN') continue;
    const taskId = r.id?.arrayTaskId;
    // The pending rest is implicit while it waits; once it ended (cancelled before starting), each of its tasks did.
    const ids = taskId !== null && taskId !== undefined ? [taskId] : isTerminalState(r.state) && r.arrayTaskId ? (taskIds(r.arrayTaskId) ?? []) : [];
    for (const id of ids) {
      tasks.push({
        taskId: id,
        slurmJobId: taskId !== null && taskId !== undefined ? r.rawJobId : null,
        state: r.state,
        reason: r.reason,
        startTime: r.state === 'PENDING' || taskId === null || taskId === undefined ? null : r.startTime,
        endTime: isTerminalState(r.state) ? r.endTime : null,
        exitCode: null,
        exitSignal: null,
      });
    }
  }
  return tasks;
}

/**
 * Final task records from sacct: only rows that are really final (sacct lags).
 * A task's own row comes after any range row that also names it, so where
 * both exist (a task of an old pending rest that ran after all) its own wins
 * in a Map built from the list.
 */
export function tasksFromSacct(jobs: SacctJob[]): ArrayTask[] {
  const fromRanges: ArrayTask[] = [];
  const tasks: ArrayTask[] = [];
  for (const j of jobs) {
    if (!isTerminalState(j.state) || j.end === null) continue;
    const taskId = j.id?.arrayTaskId;
    // A range row (`123_[6-8%2]`) is the pending rest, ended together without starting.
    const single = taskId !== null && taskId !== undefined;
    const ids = single ? [taskId] : j.id?.arrayTaskSpec ? (taskIds(j.id.arrayTaskSpec) ?? []) : [];
    for (const id of ids) {
      (single ? tasks : fromRanges).push({
        taskId: id,
        slurmJobId: single ? j.jobIdRaw : null,
        state: j.state,
        reason: j.reason,
        startTime: single ? j.start : null,
        endTime: j.end,
        exitCode: j.exitCode?.code ?? null,
        exitSignal: j.exitCode?.signal ?? null,
      });
    }
  }
  return [...fromRanges, ...tasks];
}

/** Every task id a spec names (`1-9:2,12` -> 1,3,5,7,9,12); null when the spec cannot be read. */
export function taskIds(spec: string): number[] | null {
  const { ranges } = parseArraySpec(spec);
  if (!ranges) return null;
  const ids = new Set<number>();
  for (const r of ranges) for (let i = r.start; i <= r.end; i += r.step) ids.add(i);
  return [...ids].sort((a, b) => a - b);
}

/** Sorted ids as a compact spec: 1,2,3,5,7,8 -> `1-3,5,7-8`. */
export function formatTaskIds(ids: number[]): string {
  const sorted = [...new Set(ids)].sort((a, b) => a - b);
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j]! + 1) j++;
    parts.push(j === i ? String(sorted[i]) : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

/** Task ids squeue accounts for: split-off tasks and the collapsed pending rest. */
export function taskIdsInSqueue(rows: SqueueJob[]): Set<number> {
  const ids = new Set<number>();
  for (const r of rows) {
    if (r.id?.arrayTaskId !== null && r.id?.arrayTaskId !== undefined) ids.add(r.id.arrayTaskId);
    else if (r.arrayTaskId) for (const id of taskIds(r.arrayTaskId) ?? []) ids.add(id);
  }
  return ids;
}

/** Task ids squeue shows still waiting or running: live tasks, whatever accounting's older records say. */
export function liveTaskIds(rows: SqueueJob[]): Set<number> {
  return taskIdsInSqueue(rows.filter((r) => !isTerminalState(r.state)));
}

/**
 * The array's task ids (as a spec) and size from `scontrol show job` of its
 * base id, which prints one line per split-off task and one for the pending rest.
 */
export function arrayShape(rows: ScontrolJob[]): { spec: string; total: number } | null {
  const ids: number[] = [];
  for (const r of rows) {
    const t = r.arrayTaskId;
    if (t === null) continue;
    if (/^\d+$/.test(t)) ids.push(Number(t));
    else ids.push(...(taskIds(t) ?? []));
  }
  if (ids.length === 0) return null;
  const spec = formatTaskIds(ids);
  return { spec, total: new Set(ids).size };
}

/** One state for the whole array: running while any task runs; when all ended, the worst outcome. */
export function aggregateState(summary: ArraySummary): string {
  const n = (s: string) => summary.byState[s] ?? 0;
  if (!summary.done) {
    const started = Object.entries(summary.byState).some(([s, c]) => c > 0 && s !== 'PENDING' && !isTerminalState(s));
    if (started) return 'RUNNING';
    return Object.entries(summary.byState).some(([s, c]) => c > 0 && isTerminalState(s)) ? 'RUNNING' : 'PENDING';
  }
  for (const bad of ['FAILED', 'OUT_OF_MEMORY', 'TIMEOUT', 'NODE_FAIL', 'BOOT_FAIL', 'DEADLINE', 'PREEMPTED']) {
    if (n(bad) > 0) return bad === 'FAILED' ? 'FAILED' : bad;
  }
  if (n('CANCELLED') > 0) return 'CANCELLED';
  return 'COMPLETED';
}

/** `3`, `3-7`, `1,4,9-12` -> array job ids for scancel: `123_3`, `123_[3-7]`, `123_[1,4,9-12]`. */
export function taskSelector(baseId: string, tasks: string): string {
  return /^\d+$/.test(tasks) ? `${baseId}_${tasks}` : `${baseId}_[${tasks}]`;
}
