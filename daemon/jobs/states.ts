// SLURM job states the daemon treats as final: once a job is in one of these,
// it is no longer polled.
const TERMINAL = new Set([
  'COMPLETED',
  'FAILED',
  'CANCELLED',
  'TIMEOUT',
  'OUT_OF_MEMORY',
  'NODE_FAIL',
  'PREEMPTED',
  'BOOT_FAIL',
  'DEADLINE',
  'REVOKED',
  'SPECIAL_EXIT',
  // Our own: the submission failed before SLURM had the job, or the cluster forgot it.
  'SUBMIT_FAILED',
  'UNKNOWN',
]);

export const terminalStates: readonly string[] = [...TERMINAL];

export function isTerminalState(state: string): boolean {
  return TERMINAL.has(state);
}
