// Which state changes a job record accepts. SLURM's views disagree for a
// while around a job's start and end (sacct lags squeue and shows placeholder
// rows), so a reported state is applied only when the job could really have
// moved there from the state recorded.
import { isTerminalState } from './states';

/** Where a reported state came from: live views (squeue, scontrol) or accounting (sacct). */
export type StateSource = 'squeue' | 'scontrol' | 'sacct' | 'daemon';

/** States in which the job has (had) an allocation: it has started. */
const STARTED = new Set(['CONFIGURING', 'RUNNING', 'COMPLETING', 'SUSPENDED', 'STOPPED', 'SIGNALING', 'STAGE_OUT', 'RESIZING']);
/** States a started job goes back to when SLURM requeues it. */
const WAITING = new Set(['PENDING', 'REQUEUED', 'REQUEUE_HOLD', 'REQUEUE_FED', 'SPECIAL_EXIT', 'RESV_DEL_HOLD']);

export function isAllowedTransition(from: string, to: string, source: StateSource): boolean {
  if (from === to) return true;
  // The daemon's own guesses may be corrected by any later sighting.
  if (from === 'SUBMITTING' || from === 'LOST') return true;
  // Final is final: a terminal record never moves (a later different terminal
  // state would be a stale or placeholder row).
  if (isTerminalState(from)) return false;
  if (STARTED.has(from) && WAITING.has(to)) {
    // A requeue is visible in the live views at once; sacct shows a PENDING
    // placeholder row for a running job for a few seconds around its start.
    return source === 'squeue' || source === 'scontrol';
  }
  if (from === 'COMPLETING' && (to === 'RUNNING' || to === 'CONFIGURING')) return false;
  return true;
}
