// `sbatch --version` / `squeue --version`: `slurm 23.02.7`, or with Debian's
// packaging `slurm-wlm 22.05.8`; some sites add a suffix (`slurm 20.11.9-1.el8`).
import { issue, outputLines, parseFailure, parsed } from './output';
import type { ParseResult } from './output';

export interface SlurmVersion {
  major: number;
  minor: number;
  patch: number;
  /** The version word as printed (`22.05.8`, `20.11.9-1.el8`). */
  text: string;
  /** The package name SLURM printed before it (`slurm`, `slurm-wlm`). */
  distribution: string;
}

export function parseSlurmVersion(stdout: string): ParseResult<SlurmVersion> {
  const lines = outputLines(stdout);
  for (const line of lines) {
    const m = /^\s*(slurm[\w-]*)\s+((\d+)\.(\d+)(?:\.(\d+))?\S*)\s*$/i.exec(line);
    if (m) {
      return parsed({
        distribution: m[1] as string,
        text: m[2] as string,
        major: Number(m[3]),
        minor: Number(m[4]),
        patch: m[5] !== undefined ? Number(m[5]) : 0,
      });
    }
  }
  return parseFailure(
    'version',
    'no SLURM version in output',
    lines.slice(0, 5).map((l, i) => issue(i + 1, l, 'not a version line')),
  );
}

/** a >= b, comparing major.minor.patch. */
export function versionAtLeast(v: Pick<SlurmVersion, 'major' | 'minor' | 'patch'>, major: number, minor = 0, patch = 0): boolean {
  if (v.major !== major) return v.major > major;
  if (v.minor !== minor) return v.minor > minor;
  return v.patch >= patch;
}
