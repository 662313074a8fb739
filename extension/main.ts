// The extension's entry point. It only wires things up: a connection to the
// daemon, three views, the commands and the status bar. Everything they show
// comes from the daemon.
import * as vscode from 'vscode';
import { registerClusterSettings } from './clusterSettings';
import { registerCommands } from './commands';
import { registerDashboard } from './dashboard';
import { registerLocalOffer } from './localOffer';
import { registerInstallCli } from './installCli';
import { DaemonConnection } from './daemon';
import { EditorEstimates, estimateSelector } from './estimates';
import { SbatchEditing, sbatchEditingSelector } from './sbatchEditing';
import { jobEndNotice, type NotificationSetting } from './model/jobs';
import { StatusBar } from './statusBar';
import { ClustersTree, JobsTree, ModelsTree } from './trees';

export interface SlurmMlApi {
  daemon: DaemonConnection;
  jobs: JobsTree;
  clusters: ClustersTree;
  models: ModelsTree;
  estimates: EditorEstimates;
}

export function activate(context: vscode.ExtensionContext): SlurmMlApi | undefined {
  const activationStart = performance.now();
  const log = vscode.window.createOutputChannel('Slurm ML', { log: true });
  context.subscriptions.push(log);
  try {
    const daemon = new DaemonConnection(context.extensionPath, String(context.extension.packageJSON.version), log);
    const clusters = new ClustersTree(daemon);
    const jobs = new JobsTree(daemon);
    const models = new ModelsTree(daemon);
    const estimates = new EditorEstimates(daemon, clusters, log);
    const sbatchEditing = new SbatchEditing(daemon, clusters, log);
    context.subscriptions.push(
      daemon,
      clusters,
      jobs,
      models,
      estimates,
      vscode.languages.registerCodeLensProvider(estimateSelector, estimates),
      vscode.languages.registerCodeActionsProvider(estimateSelector, estimates, { providedCodeActionKinds: EditorEstimates.fixKinds }),
      sbatchEditing,
      registerClusterSettings(daemon, clusters, log),
      registerLocalOffer(context, daemon, clusters, log),
      vscode.languages.registerCompletionItemProvider(sbatchEditingSelector, sbatchEditing, ...SbatchEditing.triggerCharacters),
      vscode.languages.registerHoverProvider(sbatchEditingSelector, sbatchEditing),
      vscode.window.createTreeView('slurmMl.clusters', { treeDataProvider: clusters, showCollapseAll: false }),
      vscode.window.createTreeView('slurmMl.jobs', { treeDataProvider: jobs, showCollapseAll: true }),
      vscode.window.createTreeView('slurmMl.models', { treeDataProvider: models, showCollapseAll: true }),
      new StatusBar(daemon, clusters, jobs),
      daemon.onDidChangeState((s) => void vscode.commands.executeCommand('setContext', 'slurmMl.daemonState', s.kind)),
      jobs.onDidChangeJob(({ previous, job }) => {
        const setting = vscode.workspace.getConfiguration('slurmMl').get<NotificationSetting>('notifications', 'failed');
        const notice = jobEndNotice(previous, job, setting);
        if (!notice) return;
        if (notice.kind === 'info') {
          void vscode.window.showInformationMessage(`Slurm ML: ${notice.message}`, 'Show Log').then((c) => {
            if (c) void vscode.commands.executeCommand('slurmMl.showJobLog', job.id);
          });
        } else {
          void vscode.window.showErrorMessage(`Slurm ML: ${notice.message}`, 'Show Log', 'Resubmit').then((c) => {
            if (c === 'Show Log') void vscode.commands.executeCommand('slurmMl.showJobLog', job.id);
            else if (c === 'Resubmit') void vscode.commands.executeCommand('slurmMl.resubmitJob', job.id);
          });
        }
      }),
    );
    registerCommands(context, { daemon, log, clusters, jobs, models, estimates });
    context.subscriptions.push(registerInstallCli(context, log));
    context.subscriptions.push(registerDashboard(context, daemon, log));
    void vscode.commands.executeCommand('setContext', 'slurmMl.daemonState', 'starting');
    // Not awaited: activation must not wait for SSH or a daemon start.
    void daemon.start();
    // The bench (test/bench/activation.ts) reads these two lines.
    log.info(`activated in ${(performance.now() - activationStart).toFixed(1)} ms`);
    const ready = daemon.onDidChangeState((st) => {
      if (st.kind !== 'connected') return;
      log.info(`daemon ready ${(performance.now() - activationStart).toFixed(0)} ms after activation`);
      ready.dispose();
    });
    context.subscriptions.push(ready);
    return { daemon, jobs, clusters, models, estimates };
  } catch (err) {
    // VS Code does not tell the user when activation fails; we do.
    log.error(`activation failed: ${(err as Error)?.stack ?? err}`);
    void vscode.window.showErrorMessage(`Slurm ML failed to activate: ${(err as Error)?.message ?? err}`, 'Show Log').then((c) => c && log.show());
    return undefined;
  }
}

export function deactivate(): void {}
