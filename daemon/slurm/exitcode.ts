// `ExitCode=3:0` / sacct's ExitCode and DerivedExitCode: the exit status of
// the batch script, then the signal that ended it (0 when none).

export interface ExitCode {
  code: number;
  signal: number;
}

export function parseExitCode(text: string): ExitCode | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d+)(?::(\d+))?$/.exec(text.trim());
  if (!m) return null;
  const code = Number(m[1]);
  const signal = m[2] !== undefined ? Number(m[2]) : 0;
  // A wait status is at most 255 / signal 127; anything past that is not an exit code.
  if (code > 255 || signal > 255) return null;
  return { code, signal };
}
