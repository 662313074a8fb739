// What a failed SLURM command's stderr means, for the messages the daemon can
// act on (a job the controller forgot, a rejected submission, a controller
// that is down). Matching is on SLURM's own wording, stable for many releases.

export type SlurmErrorKind =
  /** `Invalid job id specified`: unknown to the controller (never existed, or purged after MinJobAge). */
  | 'invalid-job-id'
  /** sbatch refused the job: bad partition, QOS, account, time limit, resources. */
  | 'submission-rejected'
  /** sbatch could not read the script. */
  | 'script-unreadable'
  /** sacct on a cluster that keeps no accounting (no slurmdbd, AccountingStorageType=none), in every release from 20.11 on. */
  | 'accounting-disabled'
  /** The controller or the accounting database did not answer. */
  | 'controller-unreachable'
  /** Access denied (another user's job, an operator-only command). */
  | 'permission-denied'
  /** The command is not installed / not on PATH on the login node. */
  | 'command-not-found'
  | 'unknown';

export interface SlurmCommandError {
  kind: SlurmErrorKind;
  /** The first line that said `error:` (or the first non-empty line), without the `sbatch: error:` prefix. */
  message: string;
}

const RULES: Array<[RegExp, SlurmErrorKind]> = [
  [/Invalid job id specified/i, 'invalid-job-id'],
  [/accounting storage is disabled|accounting_storage\/none|not running a supported accounting_storage plugin/i, 'accounting-disabled'],
  [/Unable to open file|Unable to read|No such file or directory.*\.(sh|sbatch|slurm)/i, 'script-unreadable'],
  // bash: `bash: line 1: squeue: command not found`; GNU env: `env: ‘squeue’: No such file or directory`.
  [/command not found|^env: .*(?:sbatch|squeue|sacct|scontrol|sinfo|scancel).*No such file or directory/im, 'command-not-found'],
  [/Unable to contact slurm controller|Socket timed out|Connection refused|Zero Bytes were transmitted|Problem talking to the database|slurm_persist_conn_open/i, 'controller-unreachable'],
  [/Access\/permission denied|Permission denied|not authorized|Invalid user id/i, 'permission-denied'],
  [/Batch job submission failed|invalid partition specified|Invalid qos|Invalid account|Requested time limit|Requested node configuration|invalid (?:--|)time/i, 'submission-rejected'],
];

export function classifySlurmError(stderr: string): SlurmCommandError {
  const text = typeof stderr === 'string' ? stderr : '';
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '');
  // sbatch prints a specific line, then a generic `Batch job submission failed: …`; the last error line is the verdict.
  const errorLines = lines.filter((l) => /\berror\b/i.test(l));
  const line = errorLines[errorLines.length - 1] ?? lines[0] ?? '';
  const message = line.replace(/^[\w-]+: error: /, '').replace(/^[\w-]+ error: /, '');
  for (const [re, kind] of RULES) {
    if (re.test(text)) return { kind, message };
  }
  return { kind: 'unknown', message };
}
