// What the Clusters view and the status bar say about a cluster's connection.
import type { ClusterBudget, ClusterInfo, ConnectionState } from '../../daemon/protocol';
import type { IconSpec } from './jobs';

export function connectionIcon(c: ConnectionState): IconSpec {
  switch (c.status) {
    case 'ready':
      return { id: 'vm-active', color: 'testing.iconPassed' };
    case 'connecting':
      return { id: 'loading~spin' };
    case 'waiting-for-user':
      return { id: 'key', color: 'charts.yellow' };
    case 'backoff':
      return { id: 'debug-disconnect', color: 'charts.orange' };
    case 'failed':
      return { id: 'error', color: 'testing.iconFailed' };
    default:
      return { id: 'vm-outline' };
  }
}

/** "ready", "retry in 12 s", "waiting for your answer", "failed: host key changed". */
export function connectionDescription(c: ConnectionState, now: number): string {
  switch (c.status) {
    case 'backoff': {
      if (!c.retryAt) return 'backing off';
      const s = Math.max(0, Math.ceil((Date.parse(c.retryAt) - now) / 1000));
      return s > 0 ? `retry in ${s} s` : 'retrying';
    }
    case 'waiting-for-user':
      return 'waiting for your answer';
    case 'failed':
      return c.message ? `failed: ${firstLine(c.message)}` : 'failed';
    default:
      return c.status;
  }
}

function firstLine(s: string): string {
  const l = s.split('\n')[0] ?? '';
  return l.length > 80 ? `${l.slice(0, 77)}...` : l;
}

export function clusterTarget(c: ClusterInfo): string {
  if (c.kind === 'local') return 'this machine (SLURM commands run here, no SSH)';
  if (c.sshAlias) return `ssh alias ${c.sshAlias}${c.host ? ` (host ${c.host})` : ''}`;
  return `${c.user ? `${c.user}@` : ''}${c.host ?? '?'}${c.port && c.port !== 22 ? `:${c.port}` : ''}`;
}

export function clusterTooltip(c: ClusterInfo, budget: ClusterBudget | undefined): string {
  const lines = [`${c.name}: ${clusterTarget(c)}`, `connection: ${c.connection.status}${c.connection.message ? ` (${c.connection.message})` : ''}`];
  if (c.connection.retryAt) lines.push(`next attempt: ${c.connection.retryAt}`);
  if (budget) {
    lines.push(`SLURM commands in the last minute: ${budget.commandsLastMinute}`);
    if (c.kind !== 'local') lines.push(`new SSH connections in the last minute: ${budget.connectionsLastMinute} of ${budget.connectionsPerMinuteCap}`);
    lines.push(`poll interval: ${Math.round(budget.pollIntervalMs / 1000)} s${budget.paused ? ` (paused: ${budget.paused})` : ''}`);
  }
  return lines.join('\n');
}

/** contextValue: "cluster.ready", "cluster.failed", ... */
export function clusterContextValue(c: ClusterInfo): string {
  return `cluster.${c.connection.status}`;
}

/** A cluster name for this machine: its short host name where that is a valid, unused name, else "local". */
export function localClusterName(host: string, taken: readonly string[]): string {
  const short = host.split('.')[0] ?? '';
  const base = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(short) ? short : 'local';
  if (!taken.includes(base)) return base;
  for (let i = 2; ; i++) if (!taken.includes(`${base}-${i}`)) return `${base}-${i}`;
}
