// The dashboard: a WebviewPanel showing webview/ (dist/webview.js). The page
// gets a CSP with a nonce and nothing else; the host sends nothing before the
// page says it is ready; data is fetched again whenever the page (re)loads,
// while the page keeps its own UI state (getState/setState) across hide and
// restore. Daemon notifications are queued and flushed a few times a second
// with only the latest of each kind (and of each job).
import * as crypto from 'node:crypto';
import * as vscode from 'vscode';
import {
  ClustersBudget,
  ClustersDidChange,
  ClustersList,
  ClustersPartitions,
  ErrorCode,
  JobsCancel,
  JobsDidChange,
  JobsGet,
  JobsList,
  LogsDidAppend,
  LogsTail,
  LogsUnsubscribe,
  ModelsDidChange,
  ModelsGet,
  ModelsLineage,
  ModelsList,
  RuntimeAccuracy,
  RuntimeEstimateBatch,
  RuntimeEstimateRequest,
  RuntimeInfo,
  type JobInfo,
} from '../daemon/protocol';
import { batchSbatchArgs } from '../webview/csv';
import { dashboardHtml } from '../webview/html';
import { LatestQueue } from '../webview/latestQueue';
import { WebviewToHost, jobRow, parseMessage, type HostToWebview } from '../webview/protocol';
import { errorMessage, type DaemonConnection, type DaemonState } from './daemon';

type Rendered = Extract<WebviewToHost, { type: 'rendered' }>;
type Load = Extract<WebviewToHost, { type: 'load' }>;

/** How often queued notifications reach the page. */
const FLUSH_MS = 150;
const VIEW_TYPE = 'slurmMl.dashboard';

export class Dashboard implements vscode.Disposable {
  private panel: vscode.WebviewPanel | undefined;
  private ready = false;
  /** While the full job list is fetched, updates wait: they are newer than it. */
  private replacing = false;
  /** What waits for the next flush: the latest of each kind and of each job. */
  private readonly pending = new LatestQueue();
  private flushTimer: NodeJS.Timeout | undefined;
  private log: { jobId: string; subscriptionId: string | null } | null = null;
  private model: string | null = null;
  private runtimeCluster: string | null = null;
  private readonly subscriptions: vscode.Disposable[] = [];
  private readonly renderedEmitter = new vscode.EventEmitter<Rendered>();
  /** What the page reports after each render (its view, how many rows, which are in view). */
  readonly onDidRender = this.renderedEmitter.event;
  lastRendered: Rendered | undefined;
  /** What the page reported going wrong (script errors, CSP violations). */
  readonly problems: string[] = [];
  /** How many times the page has loaded (a reload would show here). */
  loads = 0;

  constructor(
    private readonly extensionUri: vscode.Uri,
    private readonly daemon: DaemonConnection,
    private readonly out: vscode.LogOutputChannel,
  ) {
    this.subscriptions.push(
      this.renderedEmitter,
      daemon.onNotification(JobsDidChange, ({ job }) => this.queue({ type: 'jobs/update', jobs: [jobRow(job)] })),
      daemon.onNotification(ClustersDidChange, () => this.refetch('clusters')),
      daemon.onNotification(ModelsDidChange, ({ name }) => {
        this.refetch('models');
        if (name === this.model) this.refetch('model');
        if (this.runtimeCluster && name === `runtime-${this.runtimeCluster}`) this.refetch('runtime');
      }),
      daemon.onNotification(LogsDidAppend, (p) => {
        if (!this.log || p.subscriptionId !== this.log.subscriptionId) return;
        this.queue({ type: 'log', jobId: p.jobId, data: p.data, reset: false, done: p.done });
      }),
      daemon.onDidChangeState((s) => {
        this.queue(daemonStatus(s));
        // Back after a restart: everything may have changed.
        if (s.kind === 'connected' && this.ready) void this.sendAll();
      }),
      vscode.window.registerWebviewPanelSerializer(VIEW_TYPE, {
        deserializeWebviewPanel: async (panel) => this.adopt(panel),
      }),
    );
  }

  /** Shows the dashboard, creating it when needed. */
  open(): vscode.WebviewPanel {
    if (this.panel) {
      this.panel.reveal();
      return this.panel;
    }
    const panel = vscode.window.createWebviewPanel(VIEW_TYPE, 'Slurm ML Dashboard', vscode.ViewColumn.Active, this.options());
    this.adopt(panel);
    return panel;
  }

  get isOpen(): boolean {
    return this.panel !== undefined;
  }

  /** Open and in view (a hidden panel's page is gone until it is shown again). */
  get isVisible(): boolean {
    return this.panel?.visible ?? false;
  }

  private options(): vscode.WebviewPanelOptions & vscode.WebviewOptions {
    // No retainContextWhenHidden: a hidden page is dropped and reloads (with its saved UI state) when shown.
    return { enableScripts: true, localResourceRoots: [vscode.Uri.joinPath(this.extensionUri, 'dist')] };
  }

  private adopt(panel: vscode.WebviewPanel): void {
    this.panel = panel;
    this.ready = false;
    panel.webview.options = this.options();
    panel.iconPath = vscode.Uri.joinPath(this.extensionUri, 'media', 'slurm-ml.svg');
    const w = panel.webview;
    w.html = dashboardHtml({
      cspSource: w.cspSource,
      nonce: crypto.randomBytes(18).toString('base64'),
      scriptUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.js')).toString(),
      styleUri: w.asWebviewUri(vscode.Uri.joinPath(this.extensionUri, 'dist', 'webview.css')).toString(),
    });
    const subs = [
      w.onDidReceiveMessage((data: unknown) => void this.receive(data)),
      panel.onDidChangeViewState(() => {
        // Hidden: the page is gone until it is shown again and says it is ready.
        if (!panel.visible) {
          this.ready = false;
          void this.stopLog();
        }
      }),
    ];
    panel.onDidDispose(() => {
      for (const s of subs) s.dispose();
      if (this.panel === panel) this.panel = undefined;
      this.ready = false;
      void this.stopLog();
    });
  }

  private async receive(data: unknown): Promise<void> {
    const r = parseMessage(WebviewToHost, data);
    if (!r.ok) {
      this.out.warn(`dashboard: ignored a malformed message from the page: ${r.error}`);
      return;
    }
    const m = r.message;
    try {
      switch (m.type) {
        case 'ready':
          this.ready = true;
          this.loads++;
          await this.sendAll();
          return;
        case 'load':
          await this.load(m);
          return;
        case 'followLog':
          await this.followLog(m.jobId);
          return;
        case 'action':
          await this.action(m.action, m.jobId, m.requestId);
          return;
        case 'batchEstimate': {
          const r2 = await this.daemon.request(
            RuntimeEstimateBatch,
            { cluster: m.cluster, scripts: m.rows.map((row) => ({ script: '#!/bin/bash\n', sbatchArgs: batchSbatchArgs(row) })) },
            { timeoutMs: 180_000 },
          );
          this.post({ type: 'batchEstimate', requestId: m.requestId, cluster: m.cluster, estimates: r2.estimates });
          return;
        }
        case 'saveFile': {
          const folder = vscode.workspace.workspaceFolders?.[0]?.uri;
          const target = await vscode.window.showSaveDialog({ defaultUri: folder ? vscode.Uri.joinPath(folder, m.name) : undefined, filters: { CSV: ['csv'] }, title: 'Save the estimates' });
          if (!target) return;
          await vscode.workspace.fs.writeFile(target, Buffer.from(m.content, 'utf8'));
          this.post({ type: 'result', requestId: m.requestId, ok: true, message: `Saved ${target.fsPath}` });
          return;
        }
        case 'problem':
          this.problems.push(m.message);
          this.out.warn(`dashboard page: ${m.message}`);
          return;
        case 'rendered':
          this.lastRendered = m;
          this.renderedEmitter.fire(m);
          return;
      }
    } catch (err) {
      const requestId = 'requestId' in m ? m.requestId : 'page';
      this.out.warn(`dashboard: ${m.type}${m.type === 'load' ? ` ${m.what}` : ''}: ${errorMessage(err)}`);
      this.post({ type: 'result', requestId, ok: false, message: errorMessage(err) });
    }
  }

  /** Everything a freshly loaded page needs; the queue is superseded by it. */
  private async sendAll(): Promise<void> {
    this.pending.clear();
    this.post(daemonStatus(this.daemon.state));
    if (this.daemon.state.kind !== 'connected') return;
    this.replacing = true;
    try {
      const [jobs] = await Promise.all([
        this.daemon.request(JobsList, { limit: 10_000 }, { timeoutMs: 60_000 }),
        this.fetch('clusters').then((m) => m && this.post(m)),
        this.fetch('models').then((m) => m && this.post(m)),
      ]);
      this.post({ type: 'jobs/replace', jobs: jobs.jobs.map(jobRow) });
    } finally {
      this.replacing = false;
      this.schedule();
    }
  }

  private async load(m: Load): Promise<void> {
    if (m.what === 'model' && m.name) this.model = m.name;
    if (m.what === 'runtime' && m.cluster) this.runtimeCluster = m.cluster;
    if (m.what === 'jobDetail') {
      if (!m.ref) throw new Error('which job?');
      const detail = await this.daemon.request(JobsGet, { ref: m.ref });
      if (detail.estimate) {
        // The estimate made when the job was submitted, as the daemon stored it.
        const e = detail.estimate;
        this.post({ type: 'jobDetail', detail, estimate: { ...e, expectedStart: null, timeLimitSeconds: detail.requested.timeLimitSeconds, warnings: [], problems: [] } });
        return;
      }
      this.post({ type: 'jobDetail', detail, estimate: null });
      // Submitted without a stored estimate: the one for the same script and options, as the model says now.
      const estimate = await this.daemon
        .request(RuntimeEstimateRequest, { cluster: detail.cluster, script: detail.script, sbatchArgs: detail.sbatchArgs.slice(0, 64), expectedStart: false }, { timeoutMs: 120_000 })
        .catch((err: unknown) => {
          this.out.info(`dashboard: no estimate for ${detail.name}: ${errorMessage(err)}`);
          return null;
        });
      if (estimate) this.post({ type: 'jobDetail', detail, estimate });
      return;
    }
    const msg = await this.fetch(m.what, m);
    if (msg) this.post(msg);
  }

  private async fetch(what: Load['what'], m?: Partial<Load>): Promise<HostToWebview | null> {
    const d = this.daemon;
    switch (what) {
      case 'clusters': {
        const [c, b] = await Promise.all([d.request(ClustersList, {}), d.request(ClustersBudget, {})]);
        return { type: 'clusters', overview: { clusters: c.clusters, budgets: b.clusters } };
      }
      case 'models':
        return { type: 'models', models: (await d.request(ModelsList, { limit: 1000 })).models };
      case 'model': {
        const name = m?.name ?? this.model;
        if (!name) return null;
        return { type: 'model', detail: await d.request(ModelsGet, { name, limit: 100 }) };
      }
      case 'lineage':
        if (!m?.ref) throw new Error('which version?');
        return { type: 'lineage', lineage: await d.request(ModelsLineage, { ref: m.ref }) };
      case 'partitions': {
        if (!m?.cluster) throw new Error('which cluster?');
        const p = await d.request(ClustersPartitions, { name: m.cluster }, { timeoutMs: 60_000 });
        return { type: 'partitions', cluster: p.cluster, partitions: p.partitions, at: p.at };
      }
      case 'runtime': {
        const cluster = m?.cluster ?? this.runtimeCluster;
        if (!cluster) return null;
        const [info, acc, versions] = await Promise.all([
          d.request(RuntimeInfo, { cluster }, { timeoutMs: 60_000 }),
          d.request(RuntimeAccuracy, { cluster, limit: 500 }, { timeoutMs: 120_000 }),
          d.request(ModelsGet, { name: `runtime-${cluster}`, limit: 50 }).then(
            (r) => r.versions,
            (err: unknown) => {
              if ((err as { code?: number }).code === ErrorCode.NotFound) return [];
              throw err;
            },
          ),
        ]);
        return { type: 'runtime', overview: { cluster, info: info.clusters[0] ?? null, modelVersion: acc.modelVersion, totalJobs: acc.totalJobs, jobs: acc.jobs, metrics: acc.metrics, versions } };
      }
      case 'jobDetail':
        return null;
    }
  }

  /** Fetches a kind again after a notification; queued, so a burst fetches once per flush. */
  private refetch(what: 'clusters' | 'models' | 'model' | 'runtime'): void {
    if (!this.ready) return;
    void this.fetch(what)
      .then((msg) => msg && this.queue(msg))
      .catch((err: unknown) => this.out.warn(`dashboard: refreshing ${what}: ${errorMessage(err)}`));
  }

  private async followLog(jobId: string | null): Promise<void> {
    await this.stopLog();
    if (!jobId) return;
    this.log = { jobId, subscriptionId: null };
    try {
      const r = await this.daemon.request(LogsTail, { ref: jobId, follow: true, offset: -65_536 }, { timeoutMs: 60_000 });
      if (this.log?.jobId !== jobId) {
        if (r.subscriptionId) await this.daemon.request(LogsUnsubscribe, { subscriptionId: r.subscriptionId }).catch(() => undefined);
        return;
      }
      this.log.subscriptionId = r.subscriptionId;
      // Queued like the appends that follow, so it replaces whatever of another job was waiting.
      this.queue({ type: 'log', jobId, data: r.data, reset: true, done: r.subscriptionId === null });
    } catch (err) {
      this.queue({ type: 'log', jobId, data: `(no log: ${errorMessage(err)})`, reset: true, done: true });
    }
  }

  private async stopLog(): Promise<void> {
    const l = this.log;
    this.log = null;
    if (l?.subscriptionId) await this.daemon.request(LogsUnsubscribe, { subscriptionId: l.subscriptionId }).catch(() => undefined);
  }

  private async action(action: 'cancel' | 'resubmit' | 'showOutput' | 'openScript', jobId: string, requestId: string): Promise<void> {
    if (action === 'cancel') {
      const job: JobInfo = await this.daemon.request(JobsGet, { ref: jobId });
      const ok = await vscode.window.showWarningMessage(`Cancel ${job.name} (#${job.slurmJobId ?? '?'}) on ${job.cluster}?`, { modal: true }, 'Cancel Job');
      if (ok !== 'Cancel Job') return;
      const r = await this.daemon.request(JobsCancel, { ref: jobId }, { timeoutMs: 120_000 });
      this.post({ type: 'result', requestId, ok: true, message: `Cancel sent for ${r.name} (#${r.slurmJobId ?? '?'}).` });
      return;
    }
    // The commands ask what they need (resubmit: more time or memory) and show their own errors.
    const command = { resubmit: 'slurmMl.resubmitJob', showOutput: 'slurmMl.showJobLog', openScript: 'slurmMl.openSubmittedScript' }[action];
    await vscode.commands.executeCommand(command, jobId);
  }

  private queue(m: HostToWebview): void {
    this.pending.push(m);
    this.schedule();
  }

  private schedule(): void {
    if (this.flushTimer || !this.ready || this.replacing) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = undefined;
      this.flush();
    }, FLUSH_MS);
  }

  private flush(): void {
    if (!this.ready || !this.panel || this.replacing) return;
    for (const m of this.pending.drain()) this.post(m);
  }

  private post(m: HostToWebview): void {
    if (!this.panel || !this.ready) return;
    void this.panel.webview.postMessage(m);
  }

  dispose(): void {
    clearTimeout(this.flushTimer);
    void this.stopLog();
    this.panel?.dispose();
    for (const s of this.subscriptions) s.dispose();
  }
}

function daemonStatus(s: DaemonState): HostToWebview {
  const message = s.kind === 'reconnecting' || s.kind === 'stopped' ? s.reason : null;
  return { type: 'daemon', status: { state: s.kind, message } };
}

/** Registers the dashboard and its command; the command returns the Dashboard (for tests). */
export function registerDashboard(context: vscode.ExtensionContext, daemon: DaemonConnection, out: vscode.LogOutputChannel): vscode.Disposable {
  const dashboard = new Dashboard(context.extensionUri, daemon, out);
  const command = vscode.commands.registerCommand('slurmMl.openDashboard', () => {
    dashboard.open();
    return dashboard;
  });
  return vscode.Disposable.from(dashboard, command);
}
