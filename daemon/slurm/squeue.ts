// Rows of `squeue --format=…` as built by squeueCommand (columns in
// SQUEUE_FIELDS order, FIELD_SEPARATOR between them, the job name last).
import { FIELD_SEPARATOR, SQUEUE_FIELDS, SQUEUE_PATH_FIELDS } from './commands';
import type { SqueueField } from './commands';
import { parseJobId } from './jobid';
import type { ParsedJobId } from './jobid';
import { normalizeJobState } from './jobstate';
import type { JobState } from './jobstate';
import { parseSlurmMemoryBytes } from './memory';
import { issue, optionalInt, optionalText, outputLines, rowsResult, splitColumns } from './output';
import type { ParseIssue, ParseResult } from './output';
import { parseSlurmDuration, parseSlurmTimestamp } from './time';
import type { TimestampOptions } from './time';

export interface SqueueJob {
  /** As printed by %i: `123`, `123_4`, `123_[5-9%2]`, `123+0`. */
  jobId: string;
  id: ParsedJobId | null;
  /** %A: the job's own numeric id (an array task's, not its array's). */
  rawJobId: string;
  arrayJobId: string | null;
  /** `4`, or `5-9%2` for the pending rest of an array. */
  arrayTaskId: string | null;
  state: JobState;
  stateRaw: string;
  /** Why the job is pending or how it ended (`Priority`, `BeginTime`, `NonZeroExitCode`); null for `None`. */
  reason: string | null;
  user: string | null;
  account: string | null;
  partition: string | null;
  qos: string | null;
  priority: number | null;
  submitTime: string | null;
  /** Actual start, or the expected one for a pending job (null when SLURM has no estimate). */
  startTime: string | null;
  /** Actual end, or the expected one (start + time limit) for an unfinished job. */
  endTime: string | null;
  timeUsedSeconds: number | null;
  /** Null when unlimited or not set. */
  timeLimitSeconds: number | null;
  timeLeftSeconds: number | null;
  numNodes: number | null;
  numCpus: number | null;
  /** %m: memory requested, per node or per CPU as the job asked. */
  minMemoryBytes: number | null;
  /** %b: GRES per node (`gres/gpu:1`), null when none. */
  tresPerNode: string | null;
  nodeList: string | null;
  dependency: string | null;
  workDir: string | null;
  name: string;
}

const COLUMN_COUNT = SQUEUE_FIELDS.length;

export function parseSqueue(output: string, options: TimestampOptions = {}): ParseResult<SqueueJob[]> {
  const rows: SqueueJob[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const row = parseSqueueLine(line, options);
    if (typeof row === 'string') issues.push(issue(i + 1, line, row));
    else rows.push(row);
  }
  return rowsResult('squeue', rows, issues, nonBlank);
}

/** One row, or the reason it could not be read. */
export function parseSqueueLine(line: string, options: TimestampOptions = {}): SqueueJob | string {
  const cols = splitColumns(line, FIELD_SEPARATOR, COLUMN_COUNT);
  if (cols === null) return `expected ${COLUMN_COUNT} columns separated by U+001F`;
  const c = {} as Record<SqueueField, string>;
  SQUEUE_FIELDS.forEach(([field], i) => {
    c[field] = cols[i] as string;
  });
  const jobId = c.jobId.trim();
  const id = parseJobId(jobId);
  if (id === null) return `not a job id: ${JSON.stringify(jobId.slice(0, 40))}`;
  // Any state, known or from a newer release, is one upper-case word; anything else means misaligned columns.
  if (!/^[A-Z][A-Z_]*$/.test(c.state.trim())) return `not a job state: ${JSON.stringify(c.state.slice(0, 40))}`;
  const st = normalizeJobState(c.state);
  return {
    jobId,
    id,
    rawJobId: c.rawJobId.trim(),
    arrayJobId: optionalText(c.arrayJobId),
    arrayTaskId: optionalText(c.arrayTaskId),
    state: st.state,
    stateRaw: st.raw,
    reason: optionalText(c.reason),
    user: optionalText(c.user),
    account: optionalText(c.account),
    partition: optionalText(c.partition),
    qos: optionalText(c.qos),
    priority: optionalInt(c.priority),
    submitTime: parseSlurmTimestamp(c.submitTime, options),
    startTime: parseSlurmTimestamp(c.startTime, options),
    endTime: parseSlurmTimestamp(c.endTime, options),
    timeUsedSeconds: parseSlurmDuration(c.timeUsed),
    timeLimitSeconds: parseSlurmDuration(c.timeLimit),
    timeLeftSeconds: parseSlurmDuration(c.timeLeft),
    numNodes: optionalInt(c.numNodes),
    numCpus: optionalInt(c.numCpus),
    minMemoryBytes: parseSlurmMemoryBytes(c.minMemory),
    tresPerNode: optionalText(c.tresPerNode),
    nodeList: optionalText(c.nodeList),
    dependency: optionalText(c.dependency),
    workDir: optionalText(c.workDir),
    name: c.name,
  };
}

export interface SqueuePaths {
  jobId: string;
  stdOut: string | null;
  stdErr: string | null;
  /** Requested (pending) or allocated TRES as printed: `cpu=1,mem=300M,node=1,billing=1`. */
  tres: string | null;
}

/** Rows of squeuePathsCommand's output. */
export function parseSqueuePaths(output: string): ParseResult<SqueuePaths[]> {
  const rows: SqueuePaths[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const cols = splitColumns(line, FIELD_SEPARATOR, SQUEUE_PATH_FIELDS.length);
    const jobId = cols?.[0]?.trim() ?? '';
    if (cols === null || parseJobId(jobId) === null) {
      issues.push(issue(i + 1, line, `expected ${SQUEUE_PATH_FIELDS.length} columns starting with a job id`));
      continue;
    }
    rows.push({ jobId, stdOut: optionalText(cols[1]), stdErr: optionalText(cols[2]), tres: optionalText(cols[3]) });
  }
  return rowsResult('squeue', rows, issues, nonBlank);
}
