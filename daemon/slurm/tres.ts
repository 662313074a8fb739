// Trackable resources: `cpu=2,mem=512M,node=1,billing=2,gres/gpu=1` as in
// scontrol's TRES/ReqTRES and sacct's ReqTRES/AllocTRES.
import { parseSlurmMemoryBytes } from './memory';

export interface Tres {
  /** The text as printed, trimmed. */
  text: string;
  /** Every `name=value` pair as printed. */
  entries: Record<string, string>;
  cpus: number | null;
  memBytes: number | null;
  nodes: number | null;
  /** Sum of `gres/gpu` (or, without it, of the typed `gres/gpu:TYPE` entries); null when none. */
  gpus: number | null;
}

/** Null for empty or unset (`(null)`, `N/A`); entries that are not `k=v` are skipped. */
export function parseTres(text: string): Tres | null {
  if (typeof text !== 'string') return null;
  const t = text.trim();
  if (t === '' || t === '(null)' || t.toUpperCase() === 'N/A') return null;
  const entries: Record<string, string> = {};
  for (const part of t.split(',')) {
    const eq = part.indexOf('=');
    if (eq <= 0) continue;
    entries[part.slice(0, eq).trim()] = part.slice(eq + 1).trim();
  }
  const count = (v: string | undefined): number | null => (v !== undefined && /^\d+$/.test(v) ? Number(v) : null);
  let gpus = count(entries['gres/gpu']);
  if (gpus === null) {
    // SLURM lists `gres/gpu` beside the typed ones when both exist; sum typed ones only without it.
    for (const [k, v] of Object.entries(entries)) {
      if (k.startsWith('gres/gpu:')) gpus = (gpus ?? 0) + (count(v) ?? 0);
    }
  }
  return {
    text: t,
    entries,
    cpus: count(entries.cpu),
    memBytes: entries.mem !== undefined ? parseSlurmMemoryBytes(entries.mem) : null,
    nodes: count(entries.node),
    gpus,
  };
}
