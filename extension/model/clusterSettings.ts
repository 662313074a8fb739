// The `slurmMl.clusters` setting: clusters a user (or a workspace) declares,
// registered in the daemon when it lacks them. Checked with the protocol's own
// schema, so a bad entry is named before anything is sent.
import { ClusterConfig } from '../../daemon/protocol';

export interface SettingsClusters {
  valid: ClusterConfig[];
  /** One line per entry that cannot be used, naming it and the field. */
  problems: string[];
}

export function readClusterSettings(raw: unknown): SettingsClusters {
  const out: SettingsClusters = { valid: [], problems: [] };
  if (raw === undefined || raw === null) return out;
  if (!Array.isArray(raw)) return { valid: [], problems: ['slurmMl.clusters must be a list of clusters'] };
  const seen = new Set<string>();
  for (const [i, entry] of raw.entries()) {
    const r = ClusterConfig.safeParse(entry);
    const label = typeof (entry as { name?: unknown })?.name === 'string' ? `"${(entry as { name: string }).name}"` : `#${i + 1}`;
    if (!r.success) {
      const issue = r.error.issues[0]!;
      out.problems.push(`slurmMl.clusters ${label}: ${issue.path.join('.') || 'entry'}: ${issue.message}`);
      continue;
    }
    if (seen.has(r.data.name)) {
      out.problems.push(`slurmMl.clusters ${label}: declared twice`);
      continue;
    }
    seen.add(r.data.name);
    out.valid.push(r.data);
  }
  return out;
}

/** The declared clusters the daemon does not know yet (known ones are left as the daemon has them). */
export function clustersToAdd(declared: readonly ClusterConfig[], known: readonly string[]): ClusterConfig[] {
  return declared.filter((c) => !known.includes(c.name));
}
