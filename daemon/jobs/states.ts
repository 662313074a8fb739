// The states a job record can be in: SLURM's own, plus two of the daemon's.
// A record in a terminal state is no longer polled.
import { TERMINAL_JOB_STATES, isTerminalState as isTerminalSlurmState } from '../slurm/jobstate';

/**
 * SUBMIT_FAILED: sbatch refused the job. LOST: the cluster no longer knows a
 * job it never reported finished. ENDED: the job ended but its final state is
 * unknown: the cluster keeps no accounting and the controller forgot the job
 * before the daemon saw how it ended (never a guessed COMPLETED or FAILED).
 */
const OWN_TERMINAL = ['SUBMIT_FAILED', 'LOST', 'ENDED'] as const;

export const terminalStates: readonly string[] = [...TERMINAL_JOB_STATES, ...OWN_TERMINAL];

export function isTerminalState(state: string): boolean {
  return (OWN_TERMINAL as readonly string[]).includes(state) || (state !== 'UNKNOWN' && isTerminalSlurmState(state));
}
