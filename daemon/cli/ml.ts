// The ML workflow commands: train, predict, evaluate, and the model registry
// (models, model, promote, rollback, gate, try).
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  EvaluateSubmit,
  GatesRun,
  GatesSetRules,
  ModelsGet,
  ModelsList,
  ModelsPromote,
  ModelsRollback,
  ModelsTry,
  PredictSubmit,
  TrainSubmit,
  type GateResult,
  type GateRule,
  type JobInfo,
  type ModelVersionInfo,
} from '../protocol';
import type { RpcConnection } from '../rpc/connection';
import { Exit, UsageError, explainLostSubmit, need, parse, print, waitForJob, withDaemon } from './common';
import { formatJob } from './format';

/** Exit status of `gate` when the candidate fails. */
export const GATE_FAILED = 5;

/** `--var k=v` (repeatable) as a record; the template decides the types. */
export function keyValues(list: string[] | undefined, what: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of list ?? []) {
    const eq = item.indexOf('=');
    if (eq <= 0) throw new UsageError(`${what} takes NAME=VALUE, got "${item}"`);
    out[item.slice(0, eq)] = item.slice(eq + 1);
  }
  return out;
}

const workflowOptions = {
  cluster: { type: 'string' },
  workspace: { type: 'string' },
  template: { type: 'string' },
  entrypoint: { type: 'string' },
  config: { type: 'string' },
  var: { type: 'string', multiple: true },
  wait: { type: 'boolean' },
} as const;

function workflowParams(values: { cluster?: string; workspace?: string; template?: string; entrypoint?: string; config?: string; var?: string[] }) {
  return {
    cluster: need(values.cluster, '--cluster'),
    workspace: path.resolve(values.workspace ?? process.cwd()),
    template: values.template,
    entrypoint: need(values.entrypoint, '--entrypoint'),
    config: values.config,
    values: keyValues(values.var, '--var'),
  };
}

async function submitAndMaybeWait(rpc: RpcConnection, job: JobInfo, wait: boolean | undefined, json: boolean | undefined, done: (j: JobInfo) => string): Promise<number> {
  if (!wait) {
    print(json, job, () => `submitted ${job.kind} ${job.id} as SLURM job ${job.slurmJobId} on ${job.cluster}`);
    return Exit.Ok;
  }
  if (!json) process.stderr.write(`submitted ${job.kind} ${job.id} as SLURM job ${job.slurmJobId} on ${job.cluster}\n`);
  const final = await waitForJob(rpc, job, json);
  print(json, final, () => `${formatJob(final)}\n${done(final)}`);
  return final.state === 'COMPLETED' ? Exit.Ok : Exit.JobUnsuccessful;
}

export async function trainCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...workflowOptions, tag: { type: 'string', multiple: true } }, 1);
  const model = need(positionals[0], 'MODEL');
  const params = { ...workflowParams(values), model, tags: keyValues(values.tag, '--tag') };
  return withDaemon(async (rpc) => {
    const job = await rpc.request(TrainSubmit, params, { timeoutMs: 120_000 }).catch(explainLostSubmit);
    return submitAndMaybeWait(rpc, job, values.wait, values.json, (j) =>
      j.state === 'COMPLETED' && j.modelVersion !== null ? `registered ${model} v${j.modelVersion}` : `no version registered (${j.state})`,
    );
  });
}

export async function predictCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...workflowOptions, input: { type: 'string' } }, 1);
  const params = { ...workflowParams(values), model: need(positionals[0], 'MODEL[@ALIAS|@vN]'), input: need(values.input, '--input') };
  return withDaemon(async (rpc) => {
    const job = await rpc.request(PredictSubmit, params, { timeoutMs: 120_000 }).catch(explainLostSubmit);
    return submitAndMaybeWait(rpc, job, values.wait, values.json, (j) => `outputs in ${j.outputDir}`);
  });
}

export async function evaluateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { ...workflowOptions, dataset: { type: 'string' } }, 1);
  const params = { ...workflowParams(values), model: need(positionals[0], 'MODEL[@ALIAS|@vN]'), dataset: need(values.dataset, '--dataset') };
  return withDaemon(async (rpc) => {
    const job = await rpc.request(EvaluateSubmit, params, { timeoutMs: 120_000 }).catch(explainLostSubmit);
    return submitAndMaybeWait(rpc, job, values.wait, values.json, (j) => `evaluated ${j.model} v${j.modelVersion}`);
  });
}

function metricsText(m: Record<string, number> | null): string {
  if (!m || Object.keys(m).length === 0) return '-';
  return Object.entries(m)
    .map(([k, v]) => `${k}=${Number.isInteger(v) ? v : v.toPrecision(4)}`)
    .join(' ');
}

function versionLine(v: ModelVersionInfo): string {
  const aliases = v.aliases.length ? ` [${v.aliases.join(', ')}]` : '';
  return `v${v.version}${aliases}  ${v.createdAt.slice(0, 19)}  train: ${metricsText(v.metrics)}  eval: ${metricsText(v.evaluation)}`;
}

export async function modelsCommand(args: string[]): Promise<number> {
  const { values } = parse(args, { offset: { type: 'string' }, limit: { type: 'string' } }, 0);
  const r = await withDaemon((rpc) => rpc.request(ModelsList, { offset: Number(values.offset ?? 0), limit: Number(values.limit ?? 100) }));
  print(values.json, r, () =>
    r.models.length === 0
      ? 'no models; train one: slurm-ml train NAME --cluster C --entrypoint train.py'
      : r.models
          .map((m) => `${m.name}  ${m.versions} version(s), latest v${m.latest ?? '-'}  ${Object.entries(m.aliases).map(([a, v]) => `${a}=v${v}`).join(' ')}`)
          .join('\n'),
  );
  return Exit.Ok;
}

export async function modelCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { offset: { type: 'string' }, limit: { type: 'string' } }, 1);
  const name = need(positionals[0], 'MODEL');
  const r = await withDaemon((rpc) => rpc.request(ModelsGet, { name, offset: Number(values.offset ?? 0), limit: Number(values.limit ?? 100) }));
  print(values.json, r, () =>
    [
      `model ${r.model.name}: ${r.totalVersions} version(s)`,
      ...r.versions.flatMap((v) => [`  ${versionLine(v)}`, ...(v.mlflow?.runId ? [`      mlflow run ${v.mlflow.runId}${v.mlflow.experimentName ? ` (${v.mlflow.experimentName})` : ''}: ${v.mlflow.runUrl ?? v.mlflow.trackingUri}`] : [])]),
      r.history.length ? 'alias history:' : 'alias history: none',
      ...r.history.map((h) => `  ${h.at.slice(0, 19)} ${h.action} ${h.alias}: ${h.fromVersion ? `v${h.fromVersion}` : '-'} -> ${h.toVersion ? `v${h.toVersion}` : '-'} by ${h.who}${h.forced ? ' (forced)' : ''}${h.why ? `: ${h.why}` : ''}`),
    ].join('\n'),
  );
  return Exit.Ok;
}

function gateText(g: GateResult): string {
  return [`gate ${g.model} v${g.candidate} against v${g.baseline}: ${g.pass ? 'PASS' : 'FAIL'}`, ...g.rules.map((r) => `  ${r.pass ? 'ok  ' : 'FAIL'} ${r.detail}`)].join('\n');
}

export async function promoteCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { alias: { type: 'string' }, force: { type: 'boolean' }, reason: { type: 'string' } }, 2);
  const name = need(positionals[0], 'MODEL');
  const version = Number(need(positionals[1], 'VERSION').replace(/^v/, ''));
  if (!Number.isInteger(version) || version < 1) throw new UsageError(`VERSION is a number like 3 or v3, got "${positionals[1]}"`);
  const r = await withDaemon((rpc) => rpc.request(ModelsPromote, { name, version, alias: values.alias ?? 'prod', force: values.force ?? false, reason: values.reason }));
  print(values.json, r, () => `${name}@${r.alias}: ${r.fromVersion ? `v${r.fromVersion}` : 'none'} -> v${r.toVersion}${r.gate ? `\n${gateText(r.gate)}` : ''}`);
  return Exit.Ok;
}

export async function rollbackCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { alias: { type: 'string' }, reason: { type: 'string' } }, 1);
  const name = need(positionals[0], 'MODEL');
  const r = await withDaemon((rpc) => rpc.request(ModelsRollback, { name, alias: values.alias ?? 'prod', reason: values.reason }));
  print(values.json, r, () => `${name}@${r.alias}: v${r.fromVersion ?? '-'} -> v${r.toVersion} (rolled back)`);
  return Exit.Ok;
}

export async function gateCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { candidate: { type: 'string' }, baseline: { type: 'string' } }, 1);
  const name = need(positionals[0], 'MODEL');
  const num = (v: string | undefined, what: string) => {
    if (v === undefined) return undefined;
    const n = Number(v.replace(/^v/, ''));
    if (!Number.isInteger(n) || n < 1) throw new UsageError(`${what} is a version like 3 or v3, got "${v}"`);
    return n;
  };
  const g = await withDaemon((rpc) => rpc.request(GatesRun, { name, candidate: num(need(values.candidate, '--candidate'), '--candidate')!, baseline: num(values.baseline, '--baseline') }));
  print(values.json, g, () => gateText(g));
  return g.pass ? Exit.Ok : GATE_FAILED;
}

/** `accuracy:higher:0.01:absolute` -> a gate rule. */
export function parseRule(text: string): GateRule {
  const m = /^([^:]+):(higher|lower):([0-9.]+(?:e-?\d+)?):(absolute|relative)$/.exec(text);
  if (!m) throw new UsageError(`a rule is METRIC:higher|lower:TOLERANCE:absolute|relative, got "${text}"`);
  return { metric: m[1]!, direction: m[2] as GateRule['direction'], tolerance: Number(m[3]), mode: m[4] as GateRule['mode'] };
}

function ruleText(r: GateRule): string {
  const amount = r.mode === 'relative' ? `${r.tolerance * 100} %` : String(r.tolerance);
  return `${r.metric}: ${r.direction} is better; may worsen by at most ${amount}`;
}

export async function rulesCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { set: { type: 'string', multiple: true }, reset: { type: 'boolean' } }, 1);
  const name = need(positionals[0], 'MODEL');
  const r = await withDaemon(async (rpc) => {
    if (values.set || values.reset) return rpc.request(GatesSetRules, { name, rules: values.reset ? [] : values.set!.map(parseRule) });
    return { rules: (await rpc.request(ModelsGet, { name, offset: 0, limit: 1 })).rules };
  });
  print(values.json, r, () => r.rules.map(ruleText).join('\n'));
  return Exit.Ok;
}

export async function tryCommand(args: string[]): Promise<number> {
  const { values, positionals } = parse(args, { input: { type: 'string' } }, 1);
  const ref = need(positionals[0], 'MODEL@VERSION');
  const file = need(values.input, '--input');
  let input: unknown;
  try {
    input = JSON.parse(fs.readFileSync(file, 'utf8'));
  } catch (err) {
    throw new Error(`cannot read JSON from ${file}: ${(err as Error).message}`);
  }
  const r = await withDaemon((rpc) => rpc.request(ModelsTry, { ref, input }, { timeoutMs: 300_000 }));
  print(values.json, r, () => `${r.model} v${r.version} (${r.cached ? 'cached' : 'downloaded'}) in ${r.latencyMs.toFixed(2)} ms\n${JSON.stringify(r.outputs, null, 2)}`);
  return Exit.Ok;
}
