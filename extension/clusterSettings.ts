// Clusters declared in the `slurmMl.clusters` setting are registered in the
// daemon whenever this window connects to it or the setting changes; a bad
// entry is reported once, naming the entry and the field.
import * as vscode from 'vscode';
import { ClustersAdd, ClustersList } from '../daemon/protocol';
import { errorMessage, type DaemonConnection } from './daemon';
import { clustersToAdd, readClusterSettings } from './model/clusterSettings';
import type { ClustersTree } from './trees';

export function registerClusterSettings(daemon: DaemonConnection, clusters: ClustersTree, log: vscode.LogOutputChannel): vscode.Disposable {
  const reported = new Set<string>();
  const report = (m: string) => {
    if (reported.has(m)) return;
    reported.add(m);
    log.warn(m);
    void vscode.window.showWarningMessage(`Slurm ML: ${m}`, 'Open Settings').then((c) => c && vscode.commands.executeCommand('workbench.action.openSettings', 'slurmMl.clusters'));
  };
  const sync = async () => {
    if (daemon.state.kind !== 'connected') return;
    const { valid, problems } = readClusterSettings(vscode.workspace.getConfiguration('slurmMl').get('clusters'));
    for (const p of problems) report(p);
    if (!valid.length) return;
    try {
      const known = (await daemon.request(ClustersList, {})).clusters.map((c) => c.name);
      const missing = clustersToAdd(valid, known);
      for (const c of missing) {
        try {
          await daemon.request(ClustersAdd, c);
          log.info(`cluster ${c.name} registered from the slurmMl.clusters setting`);
        } catch (err) {
          report(`slurmMl.clusters "${c.name}": ${errorMessage(err)}`);
        }
      }
      if (missing.length) await clusters.reload();
    } catch (err) {
      log.warn(`slurmMl.clusters: ${errorMessage(err)}`);
    }
  };
  const subs = [
    daemon.onDidChangeState((s) => s.kind === 'connected' && void sync()),
    vscode.workspace.onDidChangeConfiguration((e) => e.affectsConfiguration('slurmMl.clusters') && void sync()),
  ];
  void sync();
  return vscode.Disposable.from(...subs);
}
