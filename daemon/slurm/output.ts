// Reading command output: the result shape every SLURM parser returns, and
// helpers for lines and columns. Parsers never throw: output from a remote
// command is untrusted text (a changed format, a motd leaking into stdout, a
// truncated read), so they report what they could not read instead, and the
// caller decides whether that is fatal.

export type SlurmCommandName = 'sbatch' | 'squeue' | 'scontrol' | 'sacct' | 'sinfo' | 'sacctmgr' | 'scancel' | 'version';

/** One line (or piece) of output that was skipped or read only in part. */
export interface ParseIssue {
  /** 1-based line number in the output given to the parser; 0 when not line-based. */
  line: number;
  /** The offending text, cut to 200 characters. */
  text: string;
  message: string;
}

export interface SlurmParseError {
  kind: 'slurm-parse-error';
  command: SlurmCommandName;
  message: string;
  issues: ParseIssue[];
}

export type ParseResult<T> = { ok: true; value: T; issues: ParseIssue[] } | { ok: false; error: SlurmParseError };

export function parsed<T>(value: T, issues: ParseIssue[] = []): ParseResult<T> {
  return { ok: true, value, issues };
}

export function parseFailure<T>(command: SlurmCommandName, message: string, issues: ParseIssue[] = []): ParseResult<T> {
  return { ok: false, error: { kind: 'slurm-parse-error', command, message, issues } };
}

export function issue(line: number, text: string, message: string): ParseIssue {
  return { line, text: text.length > 200 ? `${text.slice(0, 200)}…` : text, message };
}

/** Output lines without the trailing newline, tolerating CRLF (a pty in between) and a missing final newline. */
export function outputLines(output: string): string[] {
  if (typeof output !== 'string' || output === '') return [];
  const lines = output.split('\n').map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  if (lines.length > 0 && lines[lines.length - 1] === '') lines.pop();
  return lines;
}

/**
 * Multi-line parsers succeed on empty output (no jobs) and on output where
 * some lines were readable; they fail only when there was text and none of it
 * was: that is the wrong command's output or an error message, not data.
 */
export function rowsResult<T>(command: SlurmCommandName, rows: T[], issues: ParseIssue[], nonBlankLines: number): ParseResult<T[]> {
  if (rows.length === 0 && nonBlankLines > 0) {
    return parseFailure(command, `no ${command} line could be read (${issues.length} skipped)`, issues);
  }
  return parsed(rows, issues);
}

/**
 * Split a line into exactly `count` columns, the last one taking the rest
 * (separators included): free text goes last in our formats. Null when the
 * line has fewer columns.
 */
export function splitColumns(line: string, separator: string, count: number): string[] | null {
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i < count - 1; i++) {
    const at = line.indexOf(separator, from);
    if (at < 0) return null;
    out.push(line.slice(from, at));
    from = at + separator.length;
  }
  out.push(line.slice(from));
  return out;
}

/** Values SLURM prints for "nothing here", mapped to null; other text kept as is. */
export function optionalText(value: string | undefined): string | null {
  if (value === undefined) return null;
  const t = value.trim();
  if (t === '' || t === '(null)' || t === 'N/A' || t === 'None' || t === 'NONE') return null;
  return value;
}

/** A whole non-negative number, or null (`N/A`, `*`, empty, garbage). */
export function optionalInt(value: string | undefined): number | null {
  if (value === undefined) return null;
  const t = value.trim();
  if (!/^\d+$/.test(t)) return null;
  const n = Number(t);
  return Number.isSafeInteger(n) ? n : null;
}
