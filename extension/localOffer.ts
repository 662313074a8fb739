// On first start where SLURM's commands are on the daemon's machine (a login
// node under Remote-SSH, a compute node in Open OnDemand's code-server), and
// no cluster is registered yet, the editor offers that machine as a cluster
// of kind local. Asked once: "Not here" is remembered for the machine.
import * as vscode from 'vscode';
import { ClustersAdd, ClustersDetectLocal, ClustersList } from '../daemon/protocol';
import { errorMessage, type DaemonConnection } from './daemon';
import { localClusterName } from './model/clusters';
import type { ClustersTree } from './trees';

const DECLINED = 'slurmMl.localClusterDeclined';

export function registerLocalOffer(context: vscode.ExtensionContext, daemon: DaemonConnection, clusters: ClustersTree, log: vscode.LogOutputChannel): vscode.Disposable {
  let asked = false;
  const offer = async () => {
    if (asked || daemon.state.kind !== 'connected') return;
    asked = true;
    try {
      const known = (await daemon.request(ClustersList, {})).clusters;
      if (known.length > 0) return;
      const here = await daemon.request(ClustersDetectLocal, {}, { timeoutMs: 30_000 });
      if (!here.available) {
        log.info(`no SLURM on this machine (${here.host}): ${here.why ?? 'sinfo did not answer'}`);
        return;
      }
      if (context.globalState.get<string[]>(DECLINED, []).includes(here.host)) return;
      const add = `Use This Machine`;
      const choice = await vscode.window.showInformationMessage(
        `Slurm ML: ${here.slurmVersion} is on this machine (${here.host}). Submit and follow jobs here, as ${here.user}, without SSH?`,
        add,
        'Add Another Cluster…',
        'Not Here',
      );
      if (choice === add) {
        const added = await daemon.request(ClustersAdd, { name: localClusterName(here.host, known.map((c) => c.name)), kind: 'local' });
        await clusters.reload();
        log.info(`cluster ${added.name} added: this machine (${here.slurmVersion})`);
      } else if (choice === 'Add Another Cluster…') {
        await vscode.commands.executeCommand('slurmMl.addCluster');
      } else if (choice === 'Not Here') {
        await context.globalState.update(DECLINED, [...context.globalState.get<string[]>(DECLINED, []), here.host]);
      }
    } catch (err) {
      log.warn(`offering this machine as a cluster: ${errorMessage(err)}`);
    }
  };
  void offer();
  return daemon.onDidChangeState((st) => st.kind === 'connected' && void offer());
}
