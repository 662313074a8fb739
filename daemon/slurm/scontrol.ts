// `scontrol --oneliner show job ID`: one line per job (per array task), made
// of `Key=Value` pairs joined by single spaces. Values may hold spaces (a job
// name, a path in Command/WorkDir/StdOut, a Reason sentence) and even text
// that looks like ` Key=`, so the line is not simply split on spaces.
//
// How boundaries are found: every ` Word=` (Word starting with a capital
// letter, as all of SLURM's keys do) is a candidate. After a value that is not
// free text, every candidate is a boundary (newer releases add keys we do not
// know). After a free-text value (FREE_TEXT_KEYS) a candidate is taken as part
// of that value when its key is unknown, or when SLURM prints that key before
// the free-text one (KNOWN_KEYS is in SLURM's print order), or, after
// JobName, when it is not the UserId that always follows. A known key seen a
// second time means its first appearance was text inside the free-text value
// before it, which is merged back. A value can still fool this only by holding
// a later key in a plausible place; the job name, the field users choose most
// freely, is the best guarded.
import { parseExitCode } from './exitcode';
import type { ExitCode } from './exitcode';
import { parseJobId } from './jobid';
import { normalizeJobState } from './jobstate';
import type { JobState } from './jobstate';
import { parseSlurmMemoryBytes } from './memory';
import { issue, optionalInt, optionalText, outputLines, rowsResult } from './output';
import type { ParseIssue, ParseResult } from './output';
import { parseSlurmDuration, parseSlurmTimestamp } from './time';
import type { TimestampOptions } from './time';
import { parseTres } from './tres';
import type { Tres } from './tres';

/**
 * Keys scontrol 20.11-25.11 prints for a job (without -d), in the order it
 * prints them (src/api/job_info.c up to 23.11, src/scontrol/info_job.c from
 * 24.05; see docs/slurm-compatibility.md). Keys only some releases print are
 * here too: an unknown key after a free-text value would be read as part of
 * that value (24.11's `StdOut=… OOMKillStep=0`, 25.11's `Command=… SubmitLine=…`).
 */
export const KNOWN_KEYS: readonly string[] = [
  'JobId', 'ArrayJobId', 'ArrayTaskId', 'ArrayTaskThrottle', 'HetJobId', 'HetJobOffset', 'HetJobIdSet',
  'JobName', 'UserId', 'GroupId', 'MCS_label', 'Priority', 'Nice', 'Account', 'QOS', 'WCKey', 'JobState',
  'Reason', 'FailedNode', 'Dependency', 'Requeue', 'Restarts', 'BatchFlag', 'Reboot', 'ExitCode',
  'DerivedExitCode', 'RunTime', 'TimeLimit', 'TimeMin', 'SubmitTime', 'EligibleTime', 'AccrueTime',
  'ResizeTime', 'StartTime', 'EndTime', 'Deadline', 'CronJob', 'CrontabSpec', 'PreemptEligibleTime',
  'PreemptTime', 'SuspendTime', 'SecsPreSuspend', 'LastSchedEval', 'Scheduler', 'Partition', 'AllocNode:Sid',
  'ReqNodeList', 'ExcNodeList', 'NodeList', 'SchedNodeList', 'BatchFeatures', 'BatchHost', 'StepMgrEnabled',
  'NumNodes', 'NumCPUs', 'NumTasks', 'CPUs/Task', 'ReqB:S:C:T', 'ReqTRES', 'AllocTRES', 'TRES', 'Socks/Node',
  'NtasksPerN:B:S:C', 'CoreSpec', 'ThreadSpec', 'MinCPUsNode', 'MinMemoryNode', 'MinMemoryCPU',
  'MinTmpDiskNode', 'Features', 'ActiveFeatures', 'ClusterFeatures', 'DelayBoot', 'Prefer', 'Reservation',
  'OverSubscribe', 'Contiguous', 'Licenses', 'LicensesAlloc', 'Network', 'Command', 'SubmitLine', 'WorkDir',
  'AdminComment', 'SystemComment', 'Comment', 'Extra', 'StdErr', 'StdIn', 'StdOut', 'SegmentSize',
  'SpreadSegments', 'ConsolidateSegments', 'Switches', 'BurstBuffer', 'BurstBufferState', 'Power',
  'GresAllowTaskSharing', 'GresEnforceBind', 'GresOneTaskPerSharing', 'CpusPerTres', 'MemPerTres', 'TresBind',
  'TresFreq', 'TresPerJob', 'TresPerNode', 'TresPerSocket', 'TresPerTask', 'NtasksPerTRES', 'MailUser',
  'MailType', 'CpuFreqMin', 'CpuFreqMax', 'CpuFreqGov', 'Container', 'ContainerID', 'Clusters', 'FedOrigin',
  'FedViableSiblings', 'FedActiveSiblings', 'KillOInInvalidDependent', 'KillOnInvalidDependent', 'SpreadJob',
  'ExpeditedRequeue', 'OOMKillStep', 'SELinuxContext', 'ResvPorts', 'CompletingTime',
];

const KEY_ORDER: ReadonlyMap<string, number> = new Map(KNOWN_KEYS.map((k, i) => [k, i]));

/** Keys whose values are free text (user-chosen names and paths, sentences). */
export const FREE_TEXT_KEYS: ReadonlySet<string> = new Set([
  'JobName', 'Reason', 'Command', 'WorkDir', 'StdErr', 'StdIn', 'StdOut', 'Comment', 'AdminComment',
  'SystemComment', 'MailUser', 'BurstBuffer', 'BurstBufferState', 'Container', 'ContainerID', 'CrontabSpec',
  'SubmitLine', 'Extra', 'SELinuxContext',
]);

export interface ScontrolJob {
  /** Every pair as printed (values verbatim; a repeated key keeps its last value). */
  fields: Record<string, string>;
  /** JobId=: the job's own numeric id (an array task's, not its array's). */
  jobId: string;
  /** The id as squeue %i and sacct JobID print it: `23_1` for an array task, `7+1` for a het component. */
  displayId: string;
  arrayJobId: string | null;
  /** `1`, or `2-3` / `1-40%2` for the pending rest of an array. */
  arrayTaskId: string | null;
  arrayTaskThrottle: number | null;
  hetJobId: string | null;
  hetJobOffset: number | null;
  jobName: string;
  user: string | null;
  uid: number | null;
  group: string | null;
  gid: number | null;
  state: JobState;
  stateRaw: string;
  reason: string | null;
  exitCode: ExitCode | null;
  derivedExitCode: ExitCode | null;
  submitTime: string | null;
  eligibleTime: string | null;
  /** Actual or (pending) expected start. */
  startTime: string | null;
  /** Actual or expected end. */
  endTime: string | null;
  runTimeSeconds: number | null;
  /** Null when UNLIMITED or not set. */
  timeLimitSeconds: number | null;
  partition: string | null;
  qos: string | null;
  account: string | null;
  /** For a pending job SLURM may print a range (`1-2`); this is its lower bound. */
  numNodes: number | null;
  numCpus: number | null;
  numTasks: number | null;
  /** ReqTRES= (printed by newer releases and by -d). */
  reqTres: Tres | null;
  /**
   * What the job holds, or asks for while pending: TRES= up to 22.05; from
   * 23.02 AllocTRES=, which is `(null)` until the job is allocated, then ReqTRES=.
   */
  tres: Tres | null;
  minMemoryNodeBytes: number | null;
  minMemoryCpuBytes: number | null;
  nodeList: string | null;
  batchHost: string | null;
  workDir: string | null;
  stdOut: string | null;
  stdErr: string | null;
  stdIn: string | null;
  command: string | null;
  comment: string | null;
}

export function parseScontrolJobs(output: string, options: TimestampOptions = {}): ParseResult<ScontrolJob[]> {
  const rows: ScontrolJob[] = [];
  const issues: ParseIssue[] = [];
  let nonBlank = 0;
  for (const [i, line] of outputLines(output).entries()) {
    if (line.trim() === '') continue;
    nonBlank++;
    const job = parseScontrolJobLine(line, options);
    if (typeof job === 'string') issues.push(issue(i + 1, line, job));
    else rows.push(job);
  }
  return rowsResult('scontrol', rows, issues, nonBlank);
}

/** One job line, or the reason it could not be read. */
export function parseScontrolJobLine(line: string, options: TimestampOptions = {}): ScontrolJob | string {
  const pairs = splitScontrolPairs(line);
  if (pairs.length === 0 || pairs[0]?.[0] !== 'JobId') return 'not a `scontrol show job` line (no JobId= first)';
  const f: Record<string, string> = {};
  for (const [k, v] of pairs) f[k] = v;
  const jobId = (f.JobId ?? '').trim();
  if (!/^\d+$/.test(jobId)) return `not a job id: ${JSON.stringify(jobId.slice(0, 40))}`;

  const [user, uid] = nameAndId(f.UserId);
  const [group, gid] = nameAndId(f.GroupId);
  const st = normalizeJobState(f.JobState ?? '');
  const arrayJobId = optionalText(f.ArrayJobId);
  const arrayTaskId = optionalText(f.ArrayTaskId);
  const hetJobId = optionalText(f.HetJobId);
  const hetJobOffset = optionalInt(f.HetJobOffset);
  let displayId = jobId;
  if (arrayJobId !== null && arrayTaskId !== null) {
    displayId = /^\d+$/.test(arrayTaskId) ? `${arrayJobId}_${arrayTaskId}` : `${arrayJobId}_[${arrayTaskId}]`;
  } else if (hetJobId !== null && hetJobOffset !== null) {
    displayId = `${hetJobId}+${hetJobOffset}`;
  }
  // Keep displayId only if it reads back as an id (it always should).
  if (parseJobId(displayId) === null) displayId = jobId;

  return {
    fields: f,
    jobId,
    displayId,
    arrayJobId,
    arrayTaskId,
    arrayTaskThrottle: optionalInt(f.ArrayTaskThrottle),
    hetJobId,
    hetJobOffset,
    jobName: f.JobName ?? '',
    user,
    uid,
    group,
    gid,
    state: st.state,
    stateRaw: st.raw,
    reason: optionalText(f.Reason),
    exitCode: parseExitCode(f.ExitCode ?? ''),
    derivedExitCode: parseExitCode(f.DerivedExitCode ?? ''),
    submitTime: parseSlurmTimestamp(f.SubmitTime ?? '', options),
    eligibleTime: parseSlurmTimestamp(f.EligibleTime ?? '', options),
    startTime: parseSlurmTimestamp(f.StartTime ?? '', options),
    endTime: parseSlurmTimestamp(f.EndTime ?? '', options),
    runTimeSeconds: parseSlurmDuration(f.RunTime ?? ''),
    timeLimitSeconds: parseSlurmDuration(f.TimeLimit ?? ''),
    partition: optionalText(f.Partition),
    qos: optionalText(f.QOS),
    account: optionalText(f.Account),
    numNodes: lowerBound(f.NumNodes),
    numCpus: lowerBound(f.NumCPUs),
    numTasks: optionalInt(f.NumTasks),
    reqTres: parseTres(f.ReqTRES ?? ''),
    tres: parseTres(f.TRES ?? '') ?? parseTres(f.AllocTRES ?? '') ?? parseTres(f.ReqTRES ?? ''),
    minMemoryNodeBytes: f.MinMemoryNode !== undefined ? parseSlurmMemoryBytes(f.MinMemoryNode) : null,
    minMemoryCpuBytes: f.MinMemoryCPU !== undefined ? parseSlurmMemoryBytes(f.MinMemoryCPU) : null,
    nodeList: optionalText(f.NodeList),
    batchHost: optionalText(f.BatchHost),
    workDir: optionalText(f.WorkDir),
    stdOut: optionalText(f.StdOut),
    stdErr: optionalText(f.StdErr),
    stdIn: optionalText(f.StdIn),
    command: optionalText(f.Command),
    // scontrol prints `Comment=text  StdErr=`: the comment carries one space of its own at the end.
    comment: optionalText(f.Comment?.replace(/ $/, '')),
  };
}

const CANDIDATE = /(?:^| )([A-Z][A-Za-z0-9_:/]*)=/g;

interface Boundary {
  key: string;
  /** Index of the key's first character. */
  at: number;
  /** Index just past the `=`. */
  valueAt: number;
}

/** The line's `[key, value]` pairs in order, values verbatim (only whitespace around the whole line dropped). */
export function splitScontrolPairs(line: string): Array<[string, string]> {
  if (typeof line !== 'string') return [];
  const text = line.trim();
  const candidates: Boundary[] = [];
  for (const m of text.matchAll(CANDIDATE)) {
    const key = m[1] as string;
    const at = (m.index ?? 0) + m[0].length - key.length - 1;
    candidates.push({ key, at, valueAt: at + key.length + 1 });
  }
  const kept: Boundary[] = [];
  for (const [ci, b] of candidates.entries()) {
    const prev = kept[kept.length - 1];
    if (prev === undefined) {
      if (b.at === 0) kept.push(b); // text before the first key is not a pair
      continue;
    }
    const order = KEY_ORDER.get(b.key);
    if (FREE_TEXT_KEYS.has(prev.key)) {
      if (order === undefined) continue;
      if (order <= (KEY_ORDER.get(prev.key) ?? -1)) continue;
      if (prev.key === 'JobName' && b.key !== 'UserId' && candidates.slice(ci + 1).some((c) => c.key === 'UserId')) continue;
    }
    if (order !== undefined) {
      const earlier = kept.findIndex((k) => k.key === b.key);
      // A repeat whose first appearance follows a free-text value: that appearance was text.
      if (earlier > 0 && FREE_TEXT_KEYS.has((kept[earlier - 1] as Boundary).key)) kept.length = earlier;
    }
    kept.push(b);
  }
  return kept.map((b, i) => {
    const next = kept[i + 1];
    return [b.key, text.slice(b.valueAt, next === undefined ? text.length : next.at - 1)];
  });
}

/** `hpcuser(1001)` -> ['hpcuser', 1001]; a bare name or number is taken as is. */
function nameAndId(value: string | undefined): [string | null, number | null] {
  if (value === undefined) return [null, null];
  const m = /^(.*)\((\d+)\)$/.exec(value.trim());
  if (m) return [optionalText(m[1]), Number(m[2])];
  const t = value.trim();
  if (/^\d+$/.test(t)) return [null, Number(t)];
  return [optionalText(t), null];
}

function lowerBound(value: string | undefined): number | null {
  const m = /^(\d+)(?:-\d*)?$/.exec((value ?? '').trim());
  return m ? Number(m[1]) : null;
}
