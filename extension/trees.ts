// The three views. Each renders what the daemon said and refreshes when a
// notification says something changed; nothing here polls the daemon.
import * as vscode from 'vscode';
import {
  ClustersBudget,
  ClustersDidChange,
  ClustersList,
  ClustersPartitions,
  JobsDidChange,
  JobsList,
  JobsTasks,
  ModelsDidChange,
  ModelsGet,
  ModelsList,
  type ArrayTask,
  type ClusterBudget,
  type ClusterInfo,
  type JobInfo,
  type ModelSummary,
  type ModelVersionInfo,
  type PartitionInfo,
} from '../daemon/protocol';
import { errorMessage, type DaemonConnection } from './daemon';
import { clusterContextValue, clusterTooltip, connectionDescription, connectionIcon } from './model/clusters';
import { formatDuration } from './model/estimates';
import { groupJobs, jobContextValue, jobDescription, jobLabel, jobTooltip, stateIcon, taskDescription, taskLabel, type IconSpec } from './model/jobs';
import { modelDescription, versionContextValue, versionDescription, versionLabel, versionTooltip } from './model/models';

export function themeIcon(spec: IconSpec): vscode.ThemeIcon {
  return new vscode.ThemeIcon(spec.id, spec.color ? new vscode.ThemeColor(spec.color) : undefined);
}

function messageItem(text: string, tooltip?: string): vscode.TreeItem {
  const item = new vscode.TreeItem(text);
  item.tooltip = tooltip ?? text;
  item.contextValue = 'message';
  return item;
}

// ------------------------------------------------------------------ clusters

export type ClusterNode =
  | { kind: 'cluster'; cluster: ClusterInfo }
  | { kind: 'partition'; cluster: string; partition: PartitionInfo }
  | { kind: 'message'; cluster: string; text: string };

/** `debug (default) · up · 1/1 nodes idle · max 1 h 00 m`. */
function partitionDescription(p: PartitionInfo): string {
  const idle = p.nodesByState ? `${p.nodesByState.idle}/${p.nodesByState.total} nodes idle` : `${p.nodes} nodes`;
  const max = p.maxTimeUnlimited ? 'no time limit' : p.maxTimeSeconds !== null ? `max ${formatDuration(p.maxTimeSeconds)}` : '';
  return [p.isDefault ? 'default' : '', p.avail, idle, max].filter(Boolean).join(' · ');
}

export class ClustersTree implements vscode.TreeDataProvider<ClusterNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ClusterNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private clusters: ClusterInfo[] = [];
  private budgets = new Map<string, ClusterBudget>();
  private error: string | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly daemon: DaemonConnection) {
    this.subscriptions.push(
      this.emitter,
      daemon.onNotification(ClustersDidChange, ({ name, connection }) => {
        const c = this.clusters.find((x) => x.name === name);
        if (c) {
          c.connection = connection;
          this.emitter.fire(undefined);
        } else void this.reload();
      }),
      daemon.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.reload();
        else this.emitter.fire(undefined);
      }),
    );
  }

  list(): readonly ClusterInfo[] {
    return this.clusters;
  }

  async reload(): Promise<void> {
    try {
      this.clusters = (await this.daemon.request(ClustersList, {})).clusters;
      this.budgets = new Map((await this.daemon.request(ClustersBudget, {})).clusters.map((b) => [b.name, b]));
      this.error = undefined;
    } catch (err) {
      this.error = errorMessage(err);
    }
    this.emitter.fire(undefined);
  }

  getTreeItem(node: ClusterNode): vscode.TreeItem {
    if (node.kind === 'message') return messageItem(node.text);
    if (node.kind === 'partition') {
      const p = node.partition;
      const item = new vscode.TreeItem(p.name, vscode.TreeItemCollapsibleState.None);
      item.id = `partition:${node.cluster}:${p.name}`;
      item.description = partitionDescription(p);
      item.tooltip = [
        `partition ${p.name} on ${node.cluster}${p.isDefault ? ' (default)' : ''}: ${p.avail}`,
        `time limit ${p.maxTimeUnlimited ? 'none' : p.maxTimeSeconds !== null ? formatDuration(p.maxTimeSeconds) : '—'}, default ${p.defaultTimeSeconds !== null ? formatDuration(p.defaultTimeSeconds) : '—'}`,
        p.cpusByState ? `CPUs: ${p.cpusByState.idle} idle of ${p.cpusByState.total}` : '',
        p.gres.length ? `GRES: ${p.gres.join(', ')}` : '',
      ]
        .filter(Boolean)
        .join('\n');
      item.iconPath = new vscode.ThemeIcon(p.avail === 'up' ? 'layers' : 'layers-dot', p.avail === 'up' ? undefined : new vscode.ThemeColor('problemsWarningIcon.foreground'));
      item.contextValue = 'partition';
      return item;
    }
    const c = node.cluster;
    // Expanding a cluster lists its partitions (one sinfo through the daemon).
    const item = new vscode.TreeItem(c.name, vscode.TreeItemCollapsibleState.Collapsed);
    item.id = `cluster:${c.id}`;
    item.description = connectionDescription(c.connection, Date.now());
    item.tooltip = clusterTooltip(c, this.budgets.get(c.name));
    item.iconPath = themeIcon(connectionIcon(c.connection));
    item.contextValue = clusterContextValue(c);
    return item;
  }

  async getChildren(node?: ClusterNode): Promise<ClusterNode[]> {
    if (node) {
      if (node.kind !== 'cluster') return [];
      const name = node.cluster.name;
      try {
        const r = await this.daemon.request(ClustersPartitions, { name }, { timeoutMs: 60_000 });
        return r.partitions.length ? r.partitions.map((partition) => ({ kind: 'partition', cluster: name, partition })) : [{ kind: 'message', cluster: name, text: 'no partitions' }];
      } catch (err) {
        return [{ kind: 'message', cluster: name, text: `Cannot list partitions: ${errorMessage(err)}` }];
      }
    }
    // An empty list shows the view's welcome content (add a cluster, or why the daemon is down).
    if (this.daemon.state.kind !== 'connected' || this.error) return [];
    return this.clusters.map((cluster) => ({ kind: 'cluster', cluster }));
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}

// ---------------------------------------------------------------------- jobs

export type JobsNode =
  | { kind: 'cluster'; cluster: string }
  | { kind: 'group'; cluster: string; which: 'active' | 'recent' }
  | { kind: 'job'; job: JobInfo }
  | { kind: 'task'; job: JobInfo; task: ArrayTask }
  | { kind: 'message'; text: string };

export class JobsTree implements vscode.TreeDataProvider<JobsNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<JobsNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private readonly jobs = new Map<string, JobInfo>();
  private clusters: string[] = [];
  private error: string | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly jobChanged = new vscode.EventEmitter<{ previous: JobInfo | undefined; job: JobInfo }>();
  /** Every job record change, with the record this window knew before. */
  readonly onDidChangeJob = this.jobChanged.event;
  private readonly ticker: NodeJS.Timeout;

  constructor(private readonly daemon: DaemonConnection) {
    this.subscriptions.push(
      this.emitter,
      this.jobChanged,
      daemon.onNotification(JobsDidChange, ({ job }) => this.update(job)),
      daemon.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.reload();
        else this.emitter.fire(undefined);
      }),
    );
    // Elapsed times of running jobs move on without any message: re-render
    // locally (no request) while something runs.
    this.ticker = setInterval(() => {
      if (this.active().length) this.emitter.fire(undefined);
    }, 15_000);
  }

  all(): JobInfo[] {
    return [...this.jobs.values()];
  }

  active(): JobInfo[] {
    return this.all().filter((j) => !j.terminal);
  }

  get(id: string): JobInfo | undefined {
    return this.jobs.get(id);
  }

  update(job: JobInfo): void {
    const previous = this.jobs.get(job.id);
    this.jobs.set(job.id, job);
    if (!this.clusters.includes(job.cluster)) this.clusters.push(job.cluster);
    this.jobChanged.fire({ previous, job });
    this.emitter.fire(undefined);
  }

  async reload(): Promise<void> {
    try {
      const [jobs, clusters] = await Promise.all([this.daemon.request(JobsList, { limit: 500 }), this.daemon.request(ClustersList, {})]);
      this.jobs.clear();
      for (const j of jobs.jobs) this.jobs.set(j.id, j);
      this.clusters = clusters.clusters.map((c) => c.name);
      this.error = undefined;
    } catch (err) {
      this.error = errorMessage(err);
    }
    this.emitter.fire(undefined);
  }

  getTreeItem(node: JobsNode): vscode.TreeItem {
    const now = Date.now();
    switch (node.kind) {
      case 'cluster': {
        const item = new vscode.TreeItem(node.cluster, vscode.TreeItemCollapsibleState.Expanded);
        item.id = `jobs:${node.cluster}`;
        item.iconPath = new vscode.ThemeIcon('server');
        item.contextValue = 'jobsCluster';
        return item;
      }
      case 'group': {
        const g = groupJobs(this.jobs.values(), this.clusters).find((x) => x.cluster === node.cluster);
        const n = g ? g[node.which].length : 0;
        const item = new vscode.TreeItem(node.which === 'active' ? 'Active' : 'Recent', node.which === 'active' ? vscode.TreeItemCollapsibleState.Expanded : vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `jobs:${node.cluster}:${node.which}`;
        item.description = String(n);
        item.contextValue = `jobsGroup.${node.which}`;
        return item;
      }
      case 'job': {
        const j = node.job;
        const item = new vscode.TreeItem(jobLabel(j), j.array ? vscode.TreeItemCollapsibleState.Collapsed : vscode.TreeItemCollapsibleState.None);
        item.id = `job:${j.id}`;
        // The runtime predicted when the job was submitted (the daemon stores it with the job).
        item.description = jobDescription(j, now, j.estimate?.p50);
        item.tooltip = jobTooltip(j);
        item.iconPath = themeIcon(stateIcon(j.state));
        item.contextValue = jobContextValue(j);
        if (!j.array) item.command = { command: 'slurmMl.showJobLog', title: 'Show Log', arguments: [node] };
        return item;
      }
      case 'task': {
        const item = new vscode.TreeItem(taskLabel(node.task), vscode.TreeItemCollapsibleState.None);
        item.id = `task:${node.job.id}:${node.task.taskId}`;
        item.description = taskDescription(node.task, now);
        item.iconPath = themeIcon(stateIcon(node.task.state));
        item.tooltip = `${node.job.name} task ${node.task.taskId}: ${node.task.state}${node.task.reason ? ` (${node.task.reason})` : ''}`;
        item.contextValue = node.task.state === 'PENDING' || node.task.state === 'RUNNING' ? 'task.active' : 'task.ended';
        return item;
      }
      case 'message':
        return messageItem(node.text);
    }
  }

  async getChildren(node?: JobsNode): Promise<JobsNode[]> {
    if (this.daemon.state.kind !== 'connected') return [];
    if (!node) {
      if (this.error) return [{ kind: 'message', text: `Cannot list jobs: ${this.error}` }];
      return groupJobs(this.jobs.values(), this.clusters).map((g) => ({ kind: 'cluster', cluster: g.cluster }));
    }
    switch (node.kind) {
      case 'cluster':
        return [
          { kind: 'group', cluster: node.cluster, which: 'active' },
          { kind: 'group', cluster: node.cluster, which: 'recent' },
        ];
      case 'group': {
        const g = groupJobs(this.jobs.values(), this.clusters).find((x) => x.cluster === node.cluster);
        return (g?.[node.which] ?? []).map((job) => ({ kind: 'job', job }));
      }
      case 'job': {
        if (!node.job.array) return [];
        try {
          const r = await this.daemon.request(JobsTasks, { ref: node.job.id, limit: 1000 });
          const out: JobsNode[] = r.tasks.map((task) => ({ kind: 'task', job: node.job, task }));
          if (r.total > r.tasks.length) out.push({ kind: 'message', text: `… ${r.total - r.tasks.length} more tasks` });
          return out;
        } catch (err) {
          return [{ kind: 'message', text: `Cannot list tasks: ${errorMessage(err)}` }];
        }
      }
      default:
        return [];
    }
  }

  dispose(): void {
    clearInterval(this.ticker);
    for (const s of this.subscriptions) s.dispose();
  }
}

// -------------------------------------------------------------------- models

export type ModelsNode = { kind: 'model'; model: ModelSummary } | { kind: 'version'; version: ModelVersionInfo } | { kind: 'message'; text: string };

export class ModelsTree implements vscode.TreeDataProvider<ModelsNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<ModelsNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  private models: ModelSummary[] = [];
  private error: string | undefined;
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly daemon: DaemonConnection) {
    this.subscriptions.push(
      this.emitter,
      daemon.onNotification(ModelsDidChange, () => void this.reload()),
      daemon.onDidChangeState((s) => {
        if (s.kind === 'connected') void this.reload();
        else this.emitter.fire(undefined);
      }),
    );
  }

  list(): readonly ModelSummary[] {
    return this.models;
  }

  async reload(): Promise<void> {
    try {
      this.models = (await this.daemon.request(ModelsList, { limit: 1000 })).models;
      this.error = undefined;
    } catch (err) {
      this.error = errorMessage(err);
    }
    this.emitter.fire(undefined);
  }

  getTreeItem(node: ModelsNode): vscode.TreeItem {
    switch (node.kind) {
      case 'model': {
        const item = new vscode.TreeItem(node.model.name, vscode.TreeItemCollapsibleState.Collapsed);
        item.id = `model:${node.model.name}`;
        item.description = modelDescription(node.model);
        item.iconPath = new vscode.ThemeIcon('package');
        item.contextValue = 'model';
        return item;
      }
      case 'version': {
        const v = node.version;
        const item = new vscode.TreeItem(versionLabel(v), vscode.TreeItemCollapsibleState.None);
        item.id = `model:${v.model}:v${v.version}`;
        item.description = versionDescription(v);
        item.tooltip = versionTooltip(v);
        if (v.mlflow?.runId) {
          // The experiment tracker's run, as a link when its server has a page for it.
          const tip = new vscode.MarkdownString().appendText(versionTooltip(v)).appendMarkdown('\n\n');
          const label = `MLflow run ${v.mlflow.runId}${v.mlflow.experimentName ? ` (${v.mlflow.experimentName})` : ''}`;
          if (v.mlflow.runUrl) tip.appendMarkdown(`[${label.replace(/[[\]\\]/g, '\\$&')}](${v.mlflow.runUrl.replace(/[()\s]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`)})`);
          else tip.appendText(`${label} at ${v.mlflow.trackingUri}`);
          item.tooltip = tip;
        }
        item.iconPath = new vscode.ThemeIcon(v.aliases.length ? 'tag' : 'versions');
        item.contextValue = versionContextValue(v);
        return item;
      }
      case 'message':
        return messageItem(node.text);
    }
  }

  async getChildren(node?: ModelsNode): Promise<ModelsNode[]> {
    if (this.daemon.state.kind !== 'connected') return [];
    if (!node) {
      if (this.error) return [{ kind: 'message', text: `Cannot list models: ${this.error}` }];
      return this.models.map((model) => ({ kind: 'model', model }));
    }
    if (node.kind !== 'model') return [];
    try {
      const r = await this.daemon.request(ModelsGet, { name: node.model.name, limit: 200 });
      const out: ModelsNode[] = r.versions.map((version) => ({ kind: 'version', version }));
      if (r.totalVersions > r.versions.length) out.push({ kind: 'message', text: `… ${r.totalVersions - r.versions.length} older versions (slurm-ml model ${node.model.name})` });
      return out;
    } catch (err) {
      return [{ kind: 'message', text: `Cannot list versions: ${errorMessage(err)}` }];
    }
  }

  dispose(): void {
    for (const s of this.subscriptions) s.dispose();
  }
}
