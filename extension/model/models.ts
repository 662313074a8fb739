// What the Models view shows: versions with their alias badges and metrics.
import type { Metrics, ModelSummary, ModelVersionInfo } from '../../daemon/protocol';

export function modelDescription(m: ModelSummary): string {
  const aliases = Object.entries(m.aliases)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([a, v]) => `${a}→v${v}`);
  return [`${m.versions} version${m.versions === 1 ? '' : 's'}`, ...aliases].join(' · ');
}

export function versionLabel(v: ModelVersionInfo): string {
  return `v${v.version}`;
}

/** Alias badges first ("[prod] [staging]"), then the headline metric. */
export function versionDescription(v: ModelVersionInfo): string {
  const parts: string[] = [];
  if (v.aliases.length) parts.push([...v.aliases].sort().map((a) => `[${a}]`).join(' '));
  const m = v.evaluation ?? v.metrics;
  const headline = ['accuracy', 'f1', 'auc', 'loss'].find((k) => typeof m[k] === 'number');
  if (headline) parts.push(`${headline} ${formatMetric(m[headline]!)}`);
  return parts.join(' · ');
}

export function formatMetric(x: number): string {
  if (Number.isInteger(x)) return String(x);
  const a = Math.abs(x);
  return a >= 100 ? x.toFixed(1) : a >= 1 ? x.toFixed(3) : x.toPrecision(4);
}

function metricLines(title: string, m: Metrics): string[] {
  const keys = Object.keys(m).sort();
  if (!keys.length) return [];
  return [title, ...keys.map((k) => `  ${k}: ${formatMetric(m[k]!)}`)];
}

export function versionTooltip(v: ModelVersionInfo): string {
  const lines = [`${v.model} v${v.version}${v.aliases.length ? ` (${v.aliases.join(', ')})` : ''}`, `created ${v.createdAt} on ${v.cluster}`];
  if (v.gitCommit) lines.push(`git ${v.gitCommit.slice(0, 12)}`);
  const tags = Object.entries(v.tags);
  if (tags.length) lines.push(`tags: ${tags.map(([k, x]) => `${k}=${x}`).join(', ')}`);
  if (v.note) lines.push(`note: ${v.note}`);
  lines.push(...metricLines('training metrics:', v.metrics));
  if (v.evaluation) lines.push(...metricLines('evaluation:', v.evaluation));
  return lines.join('\n');
}

/** contextValue: "modelVersion" plus ".prod" when it holds prod (Promote/Rollback menus differ). */
export function versionContextValue(v: ModelVersionInfo): string {
  return v.aliases.includes('prod') ? 'modelVersion.prod' : 'modelVersion';
}
