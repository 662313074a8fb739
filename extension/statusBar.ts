// One status bar item: the daemon's state, clusters that need attention, and
// how many jobs run; a click opens a small menu.
import * as vscode from 'vscode';
import type { DaemonConnection } from './daemon';
import { countJobs } from './model/jobs';
import type { ClustersTree, JobsTree } from './trees';

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('slurmMl.status', vscode.StatusBarAlignment.Left, 10);
  private readonly subs: vscode.Disposable[] = [];

  constructor(
    private readonly daemon: DaemonConnection,
    private readonly clusters: ClustersTree,
    private readonly jobs: JobsTree,
  ) {
    this.item.name = 'Slurm ML';
    this.item.command = 'slurmMl.statusMenu';
    this.subs.push(
      daemon.onDidChangeState(() => this.render()),
      clusters.onDidChangeTreeData(() => this.render()),
      jobs.onDidChangeTreeData(() => this.render()),
    );
    this.render();
    this.item.show();
  }

  private render(): void {
    const s = this.daemon.state;
    this.item.backgroundColor = undefined;
    if (s.kind !== 'connected') {
      const stopped = s.kind === 'stopped';
      this.item.text = stopped ? '$(error) Slurm ML' : '$(loading~spin) Slurm ML';
      this.item.tooltip = this.daemon.unavailableReason();
      if (stopped) this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.errorBackground');
      return;
    }
    const troubled = this.clusters.list().filter((c) => c.connection.status === 'failed' || c.connection.status === 'backoff' || c.connection.status === 'waiting-for-user');
    const { running, pending } = countJobs(this.jobs.all());
    this.item.text = `${troubled.length ? '$(warning)' : '$(server-process)'} Slurm ML${running || pending ? `: ${running} running${pending ? `, ${pending} pending` : ''}` : ''}`;
    const lines = [`daemon ${s.version}, pid ${s.pid}`];
    for (const c of this.clusters.list()) lines.push(`${c.name}: ${c.connection.status}${c.connection.message ? ` (${c.connection.message})` : ''}`);
    this.item.tooltip = lines.join('\n');
    if (troubled.some((c) => c.connection.status === 'waiting-for-user' || c.connection.status === 'failed')) {
      this.item.backgroundColor = new vscode.ThemeColor('statusBarItem.warningBackground');
    }
  }

  dispose(): void {
    for (const d of this.subs) d.dispose();
    this.item.dispose();
  }
}
