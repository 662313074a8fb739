// Windows line endings in batch scripts. sbatch refuses a script holding
// "\r\n" anywhere ("Batch script contains DOS line breaks (\r\n) instead of
// expected UNIX line breaks (\n)"), and a script saved on Windows (or checked
// out there with git's core.autocrlf) has them on every line. slurm-ml
// converts such a script to "\n" when it uploads it, rather than refusing it:
// the "\r" carries nothing a job could want (bash would even read it as part
// of each command), and the user is told so in the editor and by the CLI.
// A lone "\r" (tqdm-style output written by a script, say) is kept.

/** Where the first "\r\n" is (1-based line and column, as the directive parser counts) and how many there are. */
export interface DosLineBreaks {
  count: number;
  line: number;
  column: number;
}

export function findDosLineBreaks(text: string): DosLineBreaks | null {
  const first = text.indexOf('\r\n');
  if (first < 0) return null;
  let count = 0;
  for (let i = first; i >= 0; i = text.indexOf('\r\n', i + 2)) count++;
  let line = 1;
  let lineStart = 0;
  for (let i = text.indexOf('\n'); i >= 0 && i < first; i = text.indexOf('\n', i + 1)) {
    line++;
    lineStart = i + 1;
  }
  // A BOM is not counted in columns (directives.ts): only matters on line 1.
  const bom = line === 1 && text.charCodeAt(0) === 0xfeff ? 1 : 0;
  return { count, line, column: first - lineStart + 1 - bom };
}

/** The script as the daemon uploads it: every "\r\n" made "\n". */
export function toUnixLineBreaks(text: string): string {
  return text.includes('\r\n') ? text.replace(/\r\n/g, '\n') : text;
}

/** What the user is told about a script with "\r\n" line breaks. */
export function dosLineBreaksMessage(found: DosLineBreaks): string {
  const lines = found.count === 1 ? 'a line' : `${found.count} lines`;
  return `Windows line endings (CRLF) on ${lines}: sbatch refuses such scripts ("DOS line breaks"), so slurm-ml converts them to Unix line endings (LF) when it uploads the script; the file here is left as it is`;
}
