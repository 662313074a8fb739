// Argument vectors for the SLURM commands the daemon runs on the cluster.
// They are arrays, never command strings: the SSH layer quotes each element,
// so job names and paths with spaces, quotes or `;` pass through as data.
//
// Commands whose output we parse pin what the user's environment could change:
// `env SLURM_TIME_FORMAT=standard` (a user's SLURM_TIME_FORMAT=relative in
// .bashrc would print `Ystday 12:00`), and an explicit output format (a
// SQUEUE_FORMAT/SACCT_FORMAT in the environment is overridden by -o/--format).
import { isValidJobId } from './jobid';

/**
 * Column separator in squeue -o and sacct --delimiter output. The ASCII unit
 * separator cannot occur in a path, partition, account or state, and in
 * practice not in a job name; the free-text job name is also the last column
 * and split off with a limit, so even a name holding it parses.
 */
export const FIELD_SEPARATOR = '\x1f';

const PINNED_ENV = ['env', 'SLURM_TIME_FORMAT=standard'];

/** squeue -o columns, in order: [field, format letter]. The job name must stay last. */
export const SQUEUE_FIELDS = [
  ['jobId', '%i'],
  ['rawJobId', '%A'],
  ['arrayJobId', '%F'],
  ['arrayTaskId', '%K'],
  ['state', '%T'],
  ['reason', '%r'],
  ['user', '%u'],
  ['account', '%a'],
  ['partition', '%P'],
  ['qos', '%q'],
  ['priority', '%Q'],
  ['submitTime', '%V'],
  ['startTime', '%S'],
  ['endTime', '%e'],
  ['timeUsed', '%M'],
  ['timeLimit', '%l'],
  ['timeLeft', '%L'],
  ['numNodes', '%D'],
  ['numCpus', '%C'],
  ['minMemory', '%m'],
  ['tresPerNode', '%b'],
  ['nodeList', '%N'],
  ['dependency', '%E'],
  ['workDir', '%Z'],
  ['name', '%j'],
] as const;

export type SqueueField = (typeof SQUEUE_FIELDS)[number][0];

/** sacct --format columns, in order. JobName (free text) must stay last, WorkDir (a path) just before it. */
export const SACCT_FIELDS = [
  'JobID',
  'JobIDRaw',
  'State',
  'ExitCode',
  'DerivedExitCode',
  'Reason',
  'Submit',
  'Eligible',
  'Start',
  'End',
  'Elapsed',
  'Timelimit',
  'Partition',
  'QOS',
  'Account',
  'User',
  'NNodes',
  'NCPUS',
  'NTasks',
  'ReqMem',
  'ReqTRES',
  'AllocTRES',
  'NodeList',
  'MaxRSS',
  'MaxVMSize',
  'TotalCPU',
  'CPUTimeRAW',
  'WorkDir',
  'JobName',
] as const;

export type SacctField = (typeof SACCT_FIELDS)[number];

/** sinfo -o columns, in order. The node list stays last. */
export const SINFO_FIELDS = [
  ['partition', '%R'],
  ['partitionMarked', '%P'],
  ['avail', '%a'],
  ['timeLimit', '%l'],
  ['defaultTime', '%L'],
  ['nodes', '%D'],
  ['nodesByState', '%F'],
  ['cpusByState', '%C'],
  ['cpusPerNode', '%c'],
  ['memoryPerNode', '%m'],
  ['gres', '%G'],
  ['jobSize', '%s'],
  ['nodeList', '%N'],
] as const;

export type SinfoField = (typeof SINFO_FIELDS)[number][0];

export const SQUEUE_FORMAT = SQUEUE_FIELDS.map(([, f]) => f).join(FIELD_SEPARATOR);
export const SACCT_FORMAT = SACCT_FIELDS.join(',');
export const SINFO_FORMAT = SINFO_FIELDS.map(([, f]) => f).join(FIELD_SEPARATOR);

export interface SbatchOptions {
  /** --job-name; any text but newlines and NUL. */
  jobName?: string;
  /** Further sbatch options, each one argv element (`--time=10`, `--partition=long`), before the script. */
  extraArgs?: readonly string[];
  /** Arguments passed to the script, after it. */
  scriptArgs?: readonly string[];
}

/** `sbatch --parsable [--job-name=NAME] [extra…] SCRIPT [args…]`; the reply is `ID` or `ID;CLUSTER`. */
export function sbatchCommand(script: string, options: SbatchOptions = {}): string[] {
  requireText('script', script);
  const argv = ['sbatch', '--parsable'];
  if (options.jobName !== undefined) {
    requireText('job name', options.jobName);
    argv.push(`--job-name=${options.jobName}`);
  }
  for (const a of options.extraArgs ?? []) {
    requireLine('sbatch argument', a);
    argv.push(a);
  }
  // A script path that starts with `-` would be read as an option.
  argv.push(script.startsWith('-') ? `./${script}` : script);
  for (const a of options.scriptArgs ?? []) {
    requireLine('script argument', a);
    argv.push(a);
  }
  return argv;
}

/**
 * `sbatch --test-only [options…]` with the script on stdin: nothing is
 * submitted; stderr says `sbatch: Job N to start at TIME using …` (25.05 adds
 * ` on cluster C a` after the time). TIME follows SLURM_TIME_FORMAT like every
 * other time SLURM prints, so it is pinned here too.
 */
export function sbatchTestOnlyCommand(extraArgs: readonly string[] = []): string[] {
  const argv = [...PINNED_ENV, 'sbatch', '--test-only'];
  for (const a of extraArgs) {
    requireLine('sbatch argument', a);
    argv.push(a);
  }
  return argv;
}

/** squeue for these jobs in every state (finished ones stay visible for MinJobAge after they end). */
export function squeueCommand(jobIds: readonly string[]): string[] {
  return [...PINNED_ENV, 'squeue', '--noheader', '--states=all', `--jobs=${jobIdList(jobIds)}`, `--format=${SQUEUE_FORMAT}`];
}

/** squeue for every job of a user (e.g. to find jobs submitted outside the daemon). */
export function squeueUserCommand(user: string): string[] {
  requireText('user', user);
  if (/[\s,]/.test(user)) throw new RangeError(`invalid user name: ${JSON.stringify(user)}`);
  return [...PINNED_ENV, 'squeue', '--noheader', '--states=all', `--user=${user}`, `--format=${SQUEUE_FORMAT}`];
}

/** squeue --Format columns for the paths and resources of jobs: [field name, --Format type]. */
export const SQUEUE_PATH_FIELDS = [
  ['jobId', 'JobID'],
  ['stdOut', 'STDOUT'],
  ['stdErr', 'STDERR'],
  ['tres', 'tres-alloc'],
] as const;

/**
 * Output paths and requested resources of many jobs in one call (squeue -o
 * has no field for them; scontrol takes one job at a time). `:0` turns off
 * padding and the separator is the suffix of each column.
 */
export function squeuePathsCommand(jobIds: readonly string[]): string[] {
  const format = SQUEUE_PATH_FIELDS.map(([, f], i) => `${f}:0${i < SQUEUE_PATH_FIELDS.length - 1 ? FIELD_SEPARATOR : ''}`).join(',');
  return [...PINNED_ENV, 'squeue', '--noheader', '--states=all', `--jobs=${jobIdList(jobIds)}`, `--Format=${format}`];
}

/** squeue for every job of the user running it, in every state (`--me`, SLURM >= 20.02). */
export function squeueMineCommand(): string[] {
  return [...PINNED_ENV, 'squeue', '--noheader', '--states=all', '--me', `--format=${SQUEUE_FORMAT}`];
}

/** One line per job (per array task when given an array's base id). */
export function scontrolShowJobCommand(jobId: string): string[] {
  requireJobId(jobId);
  return [...PINNED_ENV, 'scontrol', '--oneliner', 'show', 'job', jobId];
}

/** Accounting rows of the jobs and their steps, from slurmdbd (works long after squeue forgot them). */
export function sacctCommand(jobIds: readonly string[]): string[] {
  return [
    ...PINNED_ENV,
    'sacct',
    '--parsable2',
    '--noheader',
    `--delimiter=${FIELD_SEPARATOR}`,
    `--jobs=${jobIdList(jobIds)}`,
    `--format=${SACCT_FORMAT}`,
  ];
}

/** Accounting rows of the user's own jobs (and their steps) that were submitted or ran since `since`. */
export function sacctSinceCommand(since: Date): string[] {
  if (Number.isNaN(since.getTime())) throw new RangeError('invalid start time');
  // sacct reads --starttime in the cluster's local time; UTC with an explicit
  // zone is not accepted, so the time is given in the daemon's local time,
  // which is the cluster's on a single machine and a small window otherwise.
  const pad = (n: number) => String(n).padStart(2, '0');
  const t = `${since.getFullYear()}-${pad(since.getMonth() + 1)}-${pad(since.getDate())}T${pad(since.getHours())}:${pad(since.getMinutes())}:${pad(since.getSeconds())}`;
  return [...PINNED_ENV, 'sacct', '--parsable2', '--noheader', `--delimiter=${FIELD_SEPARATOR}`, `--starttime=${t}`, `--format=${SACCT_FORMAT}`];
}

export interface ScancelOptions {
  /** e.g. `TERM`, `USR1`; default: SLURM's cancel (TERM, then KILL after KillWait). */
  signal?: string;
}

export function scancelCommand(jobId: string, options: ScancelOptions = {}): string[] {
  requireJobId(jobId);
  const argv = ['scancel'];
  if (options.signal !== undefined) {
    if (!/^[A-Z0-9]+$/i.test(options.signal)) throw new RangeError(`invalid signal: ${JSON.stringify(options.signal)}`);
    argv.push(`--signal=${options.signal}`);
  }
  argv.push(jobId);
  return argv;
}

/** Partitions with their limits; a partition may take several lines (one per kind of node). */
export function sinfoCommand(): string[] {
  return ['sinfo', '--noheader', `--format=${SINFO_FORMAT}`];
}

export function sbatchVersionCommand(): string[] {
  return ['sbatch', '--version'];
}

export function squeueVersionCommand(): string[] {
  return ['squeue', '--version'];
}

function jobIdList(jobIds: readonly string[]): string {
  if (jobIds.length === 0) throw new RangeError('no job ids');
  for (const id of jobIds) requireJobId(id);
  return jobIds.join(',');
}

function requireJobId(id: string): void {
  if (!isValidJobId(id)) throw new RangeError(`invalid job id: ${JSON.stringify(id)}`);
}

function requireText(what: string, value: string): void {
  if (typeof value !== 'string' || value === '') throw new RangeError(`${what} is empty`);
  requireLine(what, value);
}

// Newlines would split a job name across output lines; NUL cannot pass through exec at all.
function requireLine(what: string, value: string): void {
  if (typeof value !== 'string' || /[\n\r\0]/.test(value)) throw new RangeError(`${what} must be one line of text`);
}
