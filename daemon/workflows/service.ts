// Train, predict and evaluate: a template rendered for a job's run directory,
// the workspace's entrypoint and config uploaded beside it, submitted like any
// job; and, when the job ends, its results collected: a training job that
// completed becomes the model's next version, an evaluation's metrics are
// stored on the version, a prediction's output files are listed, and a failed
// job keeps the end of its log.
import { execFile } from 'node:child_process';
import * as fs from 'node:fs/promises';
import * as path from 'node:path';
import { ErrorCode, type JobInfo, type JobKind, type Metrics, type OutputFile } from '../protocol';
import { RpcError } from '../rpc/connection';
import type { ClusterStore, JobStore } from '../db/registry';
import type { ClusterConnections, RemoteSession } from '../connections';
import type { JobService } from '../jobs/service';
import type { Logger } from '../log';
import type { ClientSession } from '../server';
import type { ModelStore } from '../db/models';
import type { TemplateService } from '../templates/service';

export interface WorkflowDeps {
  clusters: ClusterStore;
  jobs: JobStore;
  jobService: JobService;
  connections: ClusterConnections;
  templates: TemplateService;
  models: ModelStore;
  log: Logger;
  onJobChanged: (job: JobInfo) => void;
  onModelChanged: (name: string) => void;
}

interface Common {
  id?: string | undefined;
  cluster: string;
  workspace: string;
  template?: string | undefined;
  values: Record<string, string | number | boolean>;
  entrypoint: string;
  config?: string | undefined;
}

/** Layout of a workflow job's run directory (the contract documented in the README and templates). */
const ARTIFACT_DIR = 'artifacts';
const OUTPUT_DIR = 'output';
const METRICS_FILE = 'metrics.json';
/** Bytes of a failed job's log kept with it. */
const LOG_TAIL_BYTES = 4096;
/** The line a job prints on stdout to report its MLflow run (README: experiment tracking). */
const MLFLOW_RUN_LINE = /^SLURM_ML_MLFLOW_RUN_ID=([A-Za-z0-9][A-Za-z0-9._-]{0,127})\s*$/;

/** The run id of the last well-formed `SLURM_ML_MLFLOW_RUN_ID=ID` line, or null. */
export function mlflowRunIdFrom(text: string): string | null {
  let id: string | null = null;
  for (const line of text.split('\n')) {
    const m = MLFLOW_RUN_LINE.exec(line);
    if (m) id = m[1]!;
  }
  return id;
}

async function readWorkspaceFile(workspace: string, file: string, what: string): Promise<{ name: string; data: Buffer }> {
  const full = path.resolve(workspace, file);
  try {
    return { name: path.basename(full), data: await fs.readFile(full) };
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new RpcError(ErrorCode.InvalidParams, `${what} ${full}: ${code === 'ENOENT' ? 'no such file' : (err as Error).message}`, { field: `params.${what}` });
  }
}

/** The workspace's git commit, or null when it is not a git checkout (or git is missing). */
export function gitCommit(workspace: string): Promise<string | null> {
  return new Promise((resolve) => {
    execFile('git', ['-C', workspace, 'rev-parse', 'HEAD'], { timeout: 10_000 }, (err, stdout) => {
      const sha = stdout?.trim() ?? '';
      resolve(!err && /^[0-9a-f]{40,64}$/.test(sha) ? sha : null);
    });
  });
}

/** Only the numbers of a metrics.json: what gates and tables compare. */
export function numericMetrics(text: string): Metrics | null {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return null;
  const out: Metrics = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
    if (typeof v === 'number' && Number.isFinite(v) && k.length <= 128) out[k] = v;
  }
  return out;
}

/** `find -printf` rows: relative path TAB size. */
export function parseFileList(stdout: string, base: string): OutputFile[] {
  const files: OutputFile[] = [];
  for (const line of stdout.split('\n')) {
    const tab = line.lastIndexOf('\t');
    if (tab <= 0) continue;
    const size = Number(line.slice(tab + 1));
    if (!Number.isInteger(size)) continue;
    // A name with a newline can forge a line: only plain relative paths below the directory count.
    const rel = line.slice(0, tab);
    if (rel.startsWith('/') || rel.split('/').some((c) => c === '' || c === '.' || c === '..') || /[\x00-\x1f\x7f]/.test(rel)) continue;
    files.push({ path: `${base}/${line.slice(0, tab)}`, size });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

export class WorkflowService {
  /** Jobs whose end is being handled now. */
  private readonly finalizing = new Set<string>();

  constructor(private readonly d: WorkflowDeps) {}

  private async prepare(kind: JobKind, p: Common, extra: { model?: string; input?: string; dataset?: string; modelVersionId?: string; modelDir?: string; modelVersion?: number }) {
    const templateName = p.template ?? kind;
    const template = this.d.templates.get(templateName, p.workspace);
    if (template.kind !== kind && template.kind !== 'job') {
      throw new RpcError(ErrorCode.InvalidParams, `template "${templateName}" is a ${template.kind} template, not a ${kind} one`, { field: 'params.template' });
    }
    // Values are checked before anything touches the cluster.
    this.d.templates.validate(templateName, p.values, p.workspace);
    const entrypoint = await readWorkspaceFile(p.workspace, p.entrypoint, 'entrypoint');
    const files = [entrypoint];
    let config: { name: string; data: Buffer } | undefined;
    if (p.config) {
      config = await readWorkspaceFile(p.workspace, p.config, 'config');
      try {
        JSON.parse(config.data.toString('utf8'));
      } catch (err) {
        throw new RpcError(ErrorCode.InvalidParams, `config ${path.resolve(p.workspace, p.config)} is not JSON: ${(err as Error).message}`, { field: 'params.config' });
      }
      if (config.name === entrypoint.name) throw new RpcError(ErrorCode.InvalidParams, 'the entrypoint and the config have the same file name', { field: 'params.config' });
      files.push(config);
    }
    return {
      templateName,
      files,
      render: (runDir: string) =>
        this.d.templates.render(
          templateName,
          p.values,
          {
            job_name: `${kind}-${extra.model ?? 'job'}`,
            run_dir: runDir,
            entrypoint: `${runDir}/${entrypoint.name}`,
            config: config ? `${runDir}/${config.name}` : '',
            artifact_dir: `${runDir}/${ARTIFACT_DIR}`,
            metrics_file: `${runDir}/${METRICS_FILE}`,
            output_dir: `${runDir}/${OUTPUT_DIR}`,
            model_dir: extra.modelDir ?? '',
            model: extra.model ?? '',
            model_version: extra.modelVersion !== undefined ? String(extra.modelVersion) : '',
            input: extra.input ?? '',
            dataset: extra.dataset ?? '',
          },
          p.workspace,
        ),
    };
  }

  async train(p: Common & { model: string; tags: Record<string, string> }, log: Logger, promptVia?: ClientSession): Promise<JobInfo> {
    const prep = await this.prepare('train', p, { model: p.model });
    const commit = await gitCommit(p.workspace);
    const mlflow = this.d.templates.tracker(prep.templateName, p.values, p.workspace);
    return this.d.jobService.submit({ id: p.id, cluster: p.cluster, script: '', scriptName: `${prep.templateName}.sbatch`, name: `train-${p.model}`, sbatchArgs: [] }, log, {
      promptVia,
      workflow: {
        kind: 'train',
        template: prep.templateName,
        render: prep.render,
        files: prep.files,
        outputDir: ARTIFACT_DIR,
        modelName: p.model,
        workflow: { gitCommit: commit, tags: p.tags, workspace: p.workspace, ...(mlflow ? { mlflow } : {}) },
      },
    });
  }

  private version(ref: string, cluster: string) {
    const v = this.d.models.resolve(ref);
    if (v.cluster !== cluster) {
      throw new RpcError(ErrorCode.InvalidParams, `${v.model} v${v.version} lives on cluster ${v.cluster}, not ${cluster}: run it there`, { field: 'params.cluster' });
    }
    return v;
  }

  async predict(p: Common & { model: string; input: string }, log: Logger, promptVia?: ClientSession): Promise<JobInfo> {
    const v = this.version(p.model, p.cluster);
    const prep = await this.prepare('predict', p, { model: v.model, modelVersion: v.version, modelDir: v.artifactPath, input: p.input });
    return this.d.jobService.submit({ id: p.id, cluster: p.cluster, script: '', scriptName: `${prep.templateName}.sbatch`, name: `predict-${v.model}-v${v.version}`, sbatchArgs: [] }, log, {
      promptVia,
      workflow: {
        kind: 'predict',
        template: prep.templateName,
        render: prep.render,
        files: prep.files,
        outputDir: OUTPUT_DIR,
        modelVersionId: this.d.models.versionId(v.model, v.version),
        workflow: { input: p.input, workspace: p.workspace },
      },
    });
  }

  async evaluate(p: Common & { model: string; dataset: string }, log: Logger, promptVia?: ClientSession): Promise<JobInfo> {
    const v = this.version(p.model, p.cluster);
    const prep = await this.prepare('evaluate', p, { model: v.model, modelVersion: v.version, modelDir: v.artifactPath, dataset: p.dataset });
    return this.d.jobService.submit({ id: p.id, cluster: p.cluster, script: '', scriptName: `${prep.templateName}.sbatch`, name: `evaluate-${v.model}-v${v.version}`, sbatchArgs: [] }, log, {
      promptVia,
      workflow: {
        kind: 'evaluate',
        template: prep.templateName,
        render: prep.render,
        files: prep.files,
        outputDir: OUTPUT_DIR,
        modelVersionId: this.d.models.versionId(v.model, v.version),
        workflow: { dataset: p.dataset, workspace: p.workspace },
      },
    });
  }

  /** Handles every ended workflow job whose results were not collected yet (also those from before a restart). */
  async finalizePending(): Promise<void> {
    await Promise.all(this.d.jobs.unfinalized().map((j) => this.finalize(j)));
  }

  /** Collects an ended workflow job's results, once. Failures are logged and retried on the next call. */
  async finalize(job: JobInfo): Promise<void> {
    if (job.kind === 'job' || !job.terminal || this.finalizing.has(job.id)) return;
    const facts = this.d.jobs.workflowOf(job.id);
    if (!facts || facts.finalizedAt) return;
    this.finalizing.add(job.id);
    try {
      const cluster = this.d.clusters.find(job.cluster);
      if (!cluster) return;
      const s = await this.d.connections.session(cluster, { background: true });
      if (job.state === 'COMPLETED') await this.collect(job, facts, cluster.id, s);
      else this.d.jobs.update(job.id, { logTail: await this.logTail(job, s) });
      const done = this.d.jobs.update(job.id, { finalizedAt: new Date().toISOString() });
      this.d.onJobChanged(done ?? this.d.jobs.get(job.id));
    } catch (err) {
      this.d.log.warn('collecting a workflow job\'s results failed; will retry', { job: job.id, error: (err as Error).message });
    } finally {
      this.finalizing.delete(job.id);
    }
  }

  private async collect(job: JobInfo, facts: { workflow: Record<string, unknown> | null; modelVersionId: string | null }, clusterId: string, s: RemoteSession): Promise<void> {
    const metrics = await this.readMetrics(job, s);
    const outputs = job.outputDir ? await this.listFiles(job.outputDir, s) : [];
    this.d.jobs.update(job.id, { metrics, outputs });
    const model = job.model;
    if (job.kind === 'train' && model) {
      const wf = facts.workflow ?? {};
      const tracker = wf.mlflow as { trackingUri: string; experimentName: string | null } | undefined;
      this.d.models.registerVersion({
        mlflow: tracker ? { trackingUri: tracker.trackingUri, experimentName: tracker.experimentName, runId: await this.mlflowRunId(job, s) } : null,
        model,
        clusterId,
        artifactPath: job.outputDir!,
        artifacts: outputs,
        metrics: metrics ?? {},
        trainingJobId: job.id,
        gitCommit: typeof wf.gitCommit === 'string' ? wf.gitCommit : null,
        tags: (wf.tags as Record<string, string> | undefined) ?? {},
      });
      this.d.onModelChanged(model);
    } else if (job.kind === 'evaluate' && facts.modelVersionId && metrics) {
      this.d.models.setEvaluation(facts.modelVersionId, metrics);
      if (model) this.d.onModelChanged(model);
    }
  }

  /** Only lines of the contract, so a long log costs no more than they do. */
  private async mlflowRunId(job: JobInfo, s: RemoteSession): Promise<string | null> {
    if (!job.stdoutPath) return null;
    const r = await s.exec(['grep', '-a', '-E', '^SLURM_ML_MLFLOW_RUN_ID=', '--', job.stdoutPath], { timeoutMs: 30_000 });
    // 1: no such line; 2: no log. Either way the version has no run.
    return r.code === 0 ? mlflowRunIdFrom(r.stdout) : null;
  }

  private async readMetrics(job: JobInfo, s: RemoteSession): Promise<Metrics | null> {
    const r = await s.exec(['cat', '--', `${job.runDir}/${METRICS_FILE}`], { timeoutMs: 30_000 });
    if (r.code !== 0) return null;
    return numericMetrics(r.stdout);
  }

  private async listFiles(dir: string, s: RemoteSession): Promise<OutputFile[]> {
    const r = await s.exec(['find', dir, '-maxdepth', '3', '-type', 'f', '-printf', '%P\\t%s\\n'], { timeoutMs: 30_000 });
    return r.code === 0 ? parseFileList(r.stdout, dir) : [];
  }

  private async logTail(job: JobInfo, s: RemoteSession): Promise<string | null> {
    const parts: string[] = [];
    for (const p of new Set([job.stdoutPath, job.stderrPath].filter((x): x is string => x !== null))) {
      try {
        const { size } = await s.stat(p);
        const from = Math.max(0, size - LOG_TAIL_BYTES);
        const text = (await s.readRange(p, from, LOG_TAIL_BYTES)).toString('utf8');
        // Start at a line boundary when the tail was cut.
        parts.push(from > 0 ? text.slice(text.indexOf('\n') + 1) : text);
      } catch {
        // A job that never started has no log.
      }
    }
    return parts.length ? parts.join('\n') : null;
  }
}
