// `sinfo --version` / `sbatch --version` / `squeue --version`: `slurm 23.02.7`,
// or with Debian's packaging `slurm-wlm 22.05.8`; some sites add a suffix
// (`slurm 20.11.9-1.el8`), release candidates print `slurm 24.11.0-0rc1`.
// Every SLURM client prints the version it was built from without asking the
// controller, so reading it costs one local command on the login node.
//
// Which flags and output fields each release has is recorded in
// docs/slurm-compatibility.md; the daemon reads the version when it connects
// (see connections.ts) and reports it in `cluster test`.
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

/** The command the daemon reads the cluster's version with (no controller round trip). */
export function slurmVersionCommand(): string[] {
  return ['sinfo', '--version'];
}

/** The oldest and newest releases whose man pages and sources docs/slurm-compatibility.md was checked against. */
export const SLURM_OLDEST_CHECKED = { major: 20, minor: 11, patch: 0 } as const;
export const SLURM_NEWEST_CHECKED = { major: 25, minor: 11, patch: 0 } as const;

export interface SlurmSupport {
  /** At least SLURM_OLDEST_CHECKED: every flag and output field the daemon uses exists. */
  supported: boolean;
  /** One sentence for people: empty when the release is one the table covers. */
  note: string;
}

/** What docs/slurm-compatibility.md says about running against this release. */
export function slurmSupport(v: Pick<SlurmVersion, 'major' | 'minor' | 'patch'>): SlurmSupport {
  const o = SLURM_OLDEST_CHECKED;
  const n = SLURM_NEWEST_CHECKED;
  if (!versionAtLeast(v, o.major, o.minor)) {
    return {
      supported: false,
      note: `SLURM ${v.major}.${String(v.minor).padStart(2, '0')} is older than ${o.major}.${o.minor}, the oldest release slurm-ml is checked against; some commands may fail (see docs/slurm-compatibility.md)`,
    };
  }
  if (versionAtLeast(v, n.major, n.minor + 1)) {
    return { supported: true, note: `SLURM ${v.major}.${String(v.minor).padStart(2, '0')} is newer than ${n.major}.${n.minor}, the newest release slurm-ml is checked against` };
  }
  return { supported: true, note: '' };
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
