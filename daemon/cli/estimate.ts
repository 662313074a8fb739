// `slurm-ml estimate SCRIPT`: the runtime a script will probably take, before
// submitting it; `slurm-ml runtime info`: what the estimates learn from.
import * as fs from 'node:fs';
import { RuntimeEstimateRequest, RuntimeInfo, RuntimeTrain, type RuntimeEstimate } from '../protocol';
import { Exit, need, parse, print, withDaemon } from './common';
import { formatDuration } from './format';

export function formatEstimate(e: RuntimeEstimate, file: string): string {
  const lines: string[] = [];
  if (e.p50 === null) lines.push(`${file}: no estimate (no history on this cluster and no --time)`);
  else if (e.p10 !== null && e.p90 !== null) lines.push(`${file}: ≈ ${formatDuration(e.p50)} (p10–p90: ${formatDuration(e.p10)} – ${formatDuration(e.p90)}), from ${e.source}${e.modelVersion !== null ? ` v${e.modelVersion}` : ''}`);
  else lines.push(`${file}: ≈ ${formatDuration(e.p50)}, from ${e.source}`);
  if (e.timeLimitSeconds !== null) lines.push(`  time limit  ${formatDuration(e.timeLimitSeconds)}`);
  if (e.expectedStart) lines.push(`  starts      ≈ ${e.expectedStart}`);
  for (const w of e.warnings) lines.push(`  warning     ${w.message}${w.suggestedLimit ? ` (suggested: --time=${w.suggestedLimit})` : ''}`);
  for (const p of e.problems) lines.push(`  ${p.severity.padEnd(11)} line ${p.line}, column ${p.column}: ${p.message}`);
  for (const n of e.notices ?? []) lines.push(`  note        line ${n.line}: ${n.message}`);
  return lines.join('\n');
}

export async function estimateCommand(args: string[]): Promise<number> {
  const dd = args.indexOf('--');
  const own = dd >= 0 ? args.slice(0, dd) : args;
  const sbatchArgs = dd >= 0 ? args.slice(dd + 1) : [];
  const { values, positionals } = parse(own, { cluster: { type: 'string' }, start: { type: 'boolean' } }, 1);
  const file = need(positionals[0], 'SCRIPT');
  let script: string;
  try {
    script = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`cannot read ${file}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file' : (err as Error).message}`);
  }
  const cluster = need(values.cluster, '--cluster');
  const e = await withDaemon((rpc) => rpc.request(RuntimeEstimateRequest, { cluster, script, sbatchArgs, expectedStart: values.start ?? false }, { timeoutMs: 300_000 }));
  print(values.json, e, () => formatEstimate(e, file));
  return e.problems.some((p) => p.severity === 'error') ? Exit.Error : Exit.Ok;
}

export async function runtimeInfoCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { cluster: { type: 'string' } }, 0);
  const r = await withDaemon((rpc) => rpc.request(RuntimeInfo, { cluster: values.cluster }));
  print(values.json, r, () =>
    r.clusters.length === 0
      ? 'no clusters'
      : r.clusters.map((c) => `${c.cluster}: ${c.jobs} finished job(s) learned from, last read ${c.lastIngestAt ?? 'never'}; model ${c.modelVersion === null ? 'none yet (estimates from history or the request)' : `v${c.modelVersion}`}`).join('\n'),
  );
  return Exit.Ok;
}

export async function runtimeTrainCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { cluster: { type: 'string' } }, 0);
  const cluster = need(values.cluster, '--cluster');
  const r = await withDaemon((rpc) => rpc.request(RuntimeTrain, { cluster }, { timeoutMs: 600_000 }));
  const m = r.metrics;
  print(values.json, r, () =>
    [
      `runtime-${r.cluster} v${r.version}: trained on ${r.jobs} finished jobs; ${r.promoted ? 'in use now (prod)' : 'not promoted: the gate says it is worse than the one in use'}`,
      `  on the newest jobs: MAE ${m.mae_minutes?.toFixed(1)} min, accuracy ${m.accuracy?.toFixed(3)}, p10-p90 coverage ${((m.coverage ?? NaN) * 100).toFixed(1)} %, p90 under ${((m.p90_under_rate ?? NaN) * 100).toFixed(1)} %`,
      ...(r.gate ? r.gate.rules.map((g) => `  ${g.pass ? 'ok  ' : 'FAIL'} ${g.detail}`) : []),
    ].join('\n'),
  );
  return Exit.Ok;
}
