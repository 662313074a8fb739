// Job states as SLURM names them (upper case, long form), read from any of the
// places they are printed: squeue %T/%t, scontrol's JobState=, sacct's State
// (which may say `CANCELLED by 1001`, and in fixed-width output may be cut to
// `CANCELLED+`).

export const JOB_STATES = [
  'PENDING',
  'CONFIGURING',
  'RUNNING',
  'RESIZING',
  'SUSPENDED',
  'STOPPED',
  'SIGNALING',
  'STAGE_OUT',
  'COMPLETING',
  'REQUEUED',
  'REQUEUE_HOLD',
  'REQUEUE_FED',
  'RESV_DEL_HOLD',
  'SPECIAL_EXIT',
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
] as const;

export type KnownJobState = (typeof JOB_STATES)[number];
/** UNKNOWN: a state this code does not know (a newer SLURM); the raw text is kept beside it. */
export type JobState = KnownJobState | 'UNKNOWN';

export interface NormalizedJobState {
  state: JobState;
  /** The text as printed, trimmed. */
  raw: string;
  /** sacct's `CANCELLED by 1001`: the uid (as printed) of whoever cancelled. */
  cancelledBy?: string;
}

// Compact codes from squeue %t and the JOB STATE CODES tables of squeue(1)/sacct(1).
const SHORT_CODES: Record<string, KnownJobState> = {
  PD: 'PENDING',
  CF: 'CONFIGURING',
  R: 'RUNNING',
  RS: 'RESIZING',
  S: 'SUSPENDED',
  ST: 'STOPPED',
  SI: 'SIGNALING',
  SO: 'STAGE_OUT',
  CG: 'COMPLETING',
  RQ: 'REQUEUED',
  RH: 'REQUEUE_HOLD',
  RF: 'REQUEUE_FED',
  RD: 'RESV_DEL_HOLD',
  SE: 'SPECIAL_EXIT',
  CD: 'COMPLETED',
  F: 'FAILED',
  CA: 'CANCELLED',
  TO: 'TIMEOUT',
  OOM: 'OUT_OF_MEMORY',
  NF: 'NODE_FAIL',
  PR: 'PREEMPTED',
  BF: 'BOOT_FAIL',
  DL: 'DEADLINE',
  RV: 'REVOKED',
};

const KNOWN = new Set<string>(JOB_STATES);

// Spellings seen in older releases and in sacct's truncated columns.
const ALIASES: Record<string, KnownJobState> = {
  CANCELED: 'CANCELLED',
  OOM: 'OUT_OF_MEMORY',
  NODEFAIL: 'NODE_FAIL',
};

export function normalizeJobState(text: string): NormalizedJobState {
  const raw = typeof text === 'string' ? text.trim() : '';
  let word = raw.toUpperCase();
  let cancelledBy: string | undefined;
  const by = /^(\S+)\s+BY\s+(\S+)$/.exec(word);
  if (by) {
    word = by[1] as string;
    cancelledBy = raw.split(/\s+/).pop();
  }
  // Fixed-width sacct output marks a cut cell with a trailing `+`.
  const cut = word.endsWith('+');
  if (cut) word = word.slice(0, -1);
  // Some outputs join flags to the state (`COMPLETING,...` or `RUNNING+REQUEUE`); the base state comes first.
  word = (word.split(/[,+]/)[0] ?? '').trim();

  let state: JobState = 'UNKNOWN';
  if (KNOWN.has(word)) state = word as KnownJobState;
  else if (word in SHORT_CODES) state = SHORT_CODES[word] as KnownJobState;
  else if (word in ALIASES) state = ALIASES[word] as KnownJobState;
  else if (cut && word.length >= 3) {
    // A truncated long name: the unique state it is a prefix of.
    const matches = JOB_STATES.filter((s) => s.startsWith(word));
    if (matches.length === 1) state = matches[0] as KnownJobState;
  }
  const result: NormalizedJobState = { state, raw };
  if (cancelledBy !== undefined && state === 'CANCELLED') result.cancelledBy = cancelledBy;
  return result;
}

export const TERMINAL_JOB_STATES: readonly KnownJobState[] = [
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
];
const TERMINAL = new Set<JobState>(TERMINAL_JOB_STATES);

/**
 * True when the job will not run again on its own. PREEMPTED counts: a
 * requeued job shows up as PENDING/REQUEUED instead. SPECIAL_EXIT and
 * REQUEUE_HOLD are held jobs a user can release, so they do not.
 */
export function isTerminalState(state: string): boolean {
  // Raw text (`CANCELLED by 1001`, `CD`) is accepted too.
  return TERMINAL.has(KNOWN.has(state) ? (state as JobState) : normalizeJobState(state).state);
}

/** RUNNING-like: the job holds an allocation. */
export function isActiveState(state: string): boolean {
  if (!KNOWN.has(state)) state = normalizeJobState(state).state;
  return state === 'RUNNING' || state === 'COMPLETING' || state === 'CONFIGURING' || state === 'SUSPENDED' || state === 'STOPPED' || state === 'SIGNALING' || state === 'STAGE_OUT' || state === 'RESIZING';
}
