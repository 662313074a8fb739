// Memory sizes as SLURM prints them: sinfo's `18432` (megabytes, no unit),
// squeue/scontrol `256M`, sacct MaxRSS `1234K`, `1.50G`, and before 21.08
// ReqMem's `4Gn`/`256Mc` (per node / per CPU).

export interface SlurmMemory {
  bytes: number;
  /** Per node or per CPU when the text says so (old `n`/`c` suffix); null otherwise. */
  per: 'node' | 'cpu' | null;
}

const UNIT: Record<string, number> = { K: 1, M: 2, G: 3, T: 4, P: 5, E: 6 };

/** Null for empty text, words like `N/A` and anything unparsable. Units are powers of 1024, as in SLURM. */
export function parseSlurmMemory(text: string, defaultUnit: 'K' | 'M' | 'G' = 'M'): SlurmMemory | null {
  if (typeof text !== 'string') return null;
  const m = /^(\d+(?:\.\d+)?)([KMGTPE])?([nc])?$/i.exec(text.trim());
  if (!m) return null;
  const unit = (m[2] ?? defaultUnit).toUpperCase();
  const bytes = Math.round(Number(m[1]) * 1024 ** (UNIT[unit] ?? 2));
  if (!Number.isFinite(bytes)) return null;
  const suffix = m[3]?.toLowerCase();
  return { bytes, per: suffix === 'n' ? 'node' : suffix === 'c' ? 'cpu' : null };
}

/** Bytes only; see parseSlurmMemory. */
export function parseSlurmMemoryBytes(text: string, defaultUnit: 'K' | 'M' | 'G' = 'M'): number | null {
  return parseSlurmMemory(text, defaultUnit)?.bytes ?? null;
}
