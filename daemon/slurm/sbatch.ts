// sbatch's reply: `--parsable` prints `123` or `123;cluster`; without it,
// `Submitted batch job 123` or `Submitted batch job 123 on cluster x`.
// Stdout may carry other lines (a login script that echoes, sbatch warnings
// sent to stdout by wrappers), so the last line that reads as a reply wins.
import { issue, outputLines, parseFailure, parsed } from './output';
import type { ParseIssue, ParseResult } from './output';

export interface SbatchSubmission {
  /** A string like every job id here; `123` (het jobs too: sbatch names the leader). */
  jobId: string;
  cluster: string | null;
}

const PARSABLE = /^(\d+)(?:;(\S+))?$/;
const PLAIN = /^Submitted batch job (\d+)(?: on cluster (\S+))?$/;

export function parseSbatchOutput(stdout: string): ParseResult<SbatchSubmission> {
  const lines = outputLines(stdout);
  const skipped: ParseIssue[] = [];
  let found: SbatchSubmission | null = null;
  for (const [i, line] of lines.entries()) {
    const t = line.trim();
    if (t === '') continue;
    const m = PARSABLE.exec(t) ?? PLAIN.exec(t);
    // Keep the id's digits as printed: Number() would round ids past 2^53 and drop leading zeros.
    if (m) found = { jobId: (m[1] as string).replace(/^0+(?=\d)/, ''), cluster: m[2] ?? null };
    else skipped.push(issue(i + 1, line, 'not an sbatch reply'));
  }
  if (found === null) return parseFailure('sbatch', 'sbatch printed no job id', skipped);
  return parsed(found, skipped);
}
