// Rows of `sacct --parsable2 --noheader --delimiter=U+001F --format=…` as
// built by sacctCommand (columns in SACCT_FIELDS order, JobName last), and
// the same rows grouped: each job with its steps (`.batch`, `.extern`, `.0`).
//
// sacct's State says `CANCELLED by 1001` for a cancelled job (the uid of
// whoever cancelled); fixed-width output (not ours) cuts cells with `+`.
// Both are read. slurmdbd stores job names with `"` turned into a backquote,
// so a name read here may differ from the one submitted (squeue and scontrol
// print it unchanged).
import { FIELD_SEPARATOR, SACCT_FIELDS } from './commands';
import type { SacctField } from './commands';
import { parseExitCode } from './exitcode';
import type { ExitCode } from './exitcode';
import { parseJobId } from './jobid';
import type { ParsedJobId } from './jobid';
import { normalizeJobState } from './jobstate';
import type { JobState } from './jobstate';
import { parseSlurmMemory, parseSlurmMemoryBytes } from './memory';
import type { SlurmMemory } from './memory';
import { issue, optionalInt, optionalText, outputLines, rowsResult, splitColumns } from './output';
import type { ParseIssue, ParseResult } from './output';
import { parseSlurmDuration, parseSlurmTimestamp } from './time';
import type { TimestampOptions } from './time';
import { parseTres } from './tres';
import type { Tres } from './tres';

export interface SacctRow {
  /** JobID as printed: `123`, `123_4`, `123_[5-9]`, `123+0`, and for steps `123.batch`, `123_4.0`. */
  jobId: string;
  id: ParsedJobId | null;
  /** JobIDRaw: the numeric id (an array task's own, not its array's), with the step suffix for steps. */
  jobIdRaw: string;
  /** `batch`, `extern`, `0`…; null for the job's own row. */
  step: string | null;
  state: JobState;
  stateRaw: string;
  /** From `CANCELLED by 1001`: the uid as printed. */
  cancelledBy: string | null;
  exitCode: ExitCode | null;
  derivedExitCode: ExitCode | null;
  reason: string | null;
  submit: string | null;
  eligible: string | null;
  start: string | null;
  end: string | null;
  elapsedSeconds: number | null;
  /** Null when UNLIMITED, not set (steps), or Partition_Limit. */
  timeLimitSeconds: number | null;
  partition: string | null;
  qos: string | null;
  account: string | null;
  user: string | null;
  numNodes: number | null;
  numCpus: number | null;
  numTasks: number | null;
  reqMem: SlurmMemory | null;
  reqTres: Tres | null;
  allocTres: Tres | null;
  nodeList: string | null;
  /** Steps only: the largest resident set of any task. */
  maxRssBytes: number | null;
  maxVmSizeBytes: number | null;
  totalCpuSeconds: number | null;
  cpuTimeSeconds: number | null;
  workDir: string | null;
  jobName: string;
}

export interface SacctJob extends SacctRow {
  steps: SacctRow[];
  /** Largest MaxRSS over the job's steps (the job row itself has none). */
  peakRssBytes: number | null;
}

const COLUMN_COUNT = SACCT_FIELDS.length;

/** Rows grouped into jobs, in the order sacct printed the jobs. */
export function parseSacct(output: string, options: TimestampOptions = {}): ParseResult<SacctJob[]> {
  const rows = parseSacctRows(output, options);
  if (!rows.ok) return rows;
  const issues = [...rows.issues];
  const jobs = new Map<string, SacctJob>();
  const orphans: SacctRow[] = [];
  for (const row of rows.value) {
    const key = row.id?.job ?? row.jobId;
    if (row.step === null) {
      const existing = jobs.get(key);
      // Without --duplicates sacct prints one row per job; a second one is a later record of it.
      jobs.set(key, { ...row, steps: existing?.steps ?? [], peakRssBytes: existing?.peakRssBytes ?? null });
      continue;
    }
    const job = jobs.get(key);
    if (job === undefined) orphans.push(row);
    else addStep(job, row);
  }
  for (const step of orphans) {
    const job = jobs.get(step.id?.job ?? step.jobId);
    if (job !== undefined) addStep(job, step);
    else issues.push(issue(0, step.jobId, 'step without its job row'));
  }
  return { ok: true, value: [...jobs.values()], issues };
}

function addStep(job: SacctJob, step: SacctRow): void {
  job.steps.push(step);
  if (step.maxRssBytes !== null && (job.peakRssBytes === null || step.maxRssBytes > job.peakRssBytes)) {
    job.peakRssBytes = step.maxRssBytes;
  }
}

/** Every row as printed, jobs and steps alike. */
export function parseSacctRows(output: string, options: TimestampOptions = {}): ParseResult<SacctRow[]> {
  const rows: SacctRow[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const row = parseSacctLine(line, options);
    if (typeof row === 'string') issues.push(issue(i + 1, line, row));
    else rows.push(row);
  }
  return rowsResult('sacct', rows, issues, nonBlank);
}

/** One row, or the reason it could not be read. */
export function parseSacctLine(line: string, options: TimestampOptions = {}): SacctRow | string {
  const cols = splitColumns(line, FIELD_SEPARATOR, COLUMN_COUNT);
  if (cols === null) return `expected ${COLUMN_COUNT} columns separated by U+001F`;
  const c = {} as Record<SacctField, string>;
  SACCT_FIELDS.forEach((field, i) => {
    c[field] = cols[i] as string;
  });
  const jobId = c.JobID.trim();
  const id = parseJobId(jobId.replace(/\+$/, ''));
  if (id === null) return `not a job id: ${JSON.stringify(jobId.slice(0, 40))}`;
  // One upper-case word, maybe `by UID` or cut with `+`; anything else means misaligned columns.
  if (!/^[A-Z][A-Z_]*(?:\+| by \S+)?$/.test(c.State.trim())) return `not a job state: ${JSON.stringify(c.State.slice(0, 40))}`;
  const st = normalizeJobState(c.State);
  return {
    jobId,
    id,
    jobIdRaw: c.JobIDRaw.trim(),
    step: id.step,
    state: st.state,
    stateRaw: st.raw,
    cancelledBy: st.cancelledBy ?? null,
    exitCode: parseExitCode(c.ExitCode),
    derivedExitCode: parseExitCode(c.DerivedExitCode),
    reason: optionalText(c.Reason),
    submit: parseSlurmTimestamp(c.Submit, options),
    eligible: parseSlurmTimestamp(c.Eligible, options),
    start: parseSlurmTimestamp(c.Start, options),
    end: parseSlurmTimestamp(c.End, options),
    elapsedSeconds: parseSlurmDuration(c.Elapsed),
    timeLimitSeconds: parseSlurmDuration(c.Timelimit),
    partition: optionalText(c.Partition),
    qos: optionalText(c.QOS),
    account: optionalText(c.Account),
    user: optionalText(c.User),
    numNodes: optionalInt(c.NNodes),
    numCpus: optionalInt(c.NCPUS),
    numTasks: optionalInt(c.NTasks),
    reqMem: parseSlurmMemory(c.ReqMem),
    reqTres: parseTres(c.ReqTRES),
    allocTres: parseTres(c.AllocTRES),
    // A job that never ran has `None assigned`.
    nodeList: c.NodeList.trim() === 'None assigned' ? null : optionalText(c.NodeList),
    // sacct prints these in kilobytes when it prints no unit.
    maxRssBytes: parseSlurmMemoryBytes(c.MaxRSS, 'K'),
    maxVmSizeBytes: parseSlurmMemoryBytes(c.MaxVMSize, 'K'),
    totalCpuSeconds: parseSlurmDuration(c.TotalCPU),
    cpuTimeSeconds: optionalInt(c.CPUTimeRAW),
    workDir: optionalText(c.WorkDir),
    jobName: c.JobName,
  };
}
