// The extension's entry point. It only wires things up; the daemon knows
// everything. (The views and commands of the full extension come with the
// extension issue; this is the first slice: reach the daemon and show it.)
import * as path from 'node:path';
import * as vscode from 'vscode';
import { DaemonStatus } from '../daemon/protocol';
import { connectOrStartDaemon } from '../daemon/client';
import { statePaths } from '../daemon/state';

export function activate(context: vscode.ExtensionContext): void {
  const log = vscode.window.createOutputChannel('Slurm ML', { log: true });
  context.subscriptions.push(log);
  try {
    context.subscriptions.push(
      vscode.commands.registerCommand('slurmMl.showDaemonStatus', async () => {
        const nodePath = vscode.workspace.getConfiguration('slurmMl').get<string>('nodePath') || undefined;
        try {
          const d = await connectOrStartDaemon({
            paths: statePaths(),
            clientName: 'vscode',
            clientVersion: String(context.extension.packageJSON.version),
            daemonScript: path.join(context.extensionPath, 'dist', 'daemon.js'),
            nodePath: nodePath ?? 'node',
            onProtocolError: (m) => log.warn(m),
          });
          const s = await d.rpc.request(DaemonStatus, {});
          d.rpc.close();
          log.info(`daemon pid ${s.pid} on 127.0.0.1:${s.port}, protocol ${s.protocolVersion}`);
          void vscode.window.showInformationMessage(`Slurm ML daemon: pid ${s.pid}, port ${s.port}, protocol ${s.protocolVersion}`);
        } catch (err) {
          log.error(String((err as Error)?.message ?? err));
          void vscode.window.showErrorMessage(`Slurm ML: cannot reach the daemon: ${(err as Error)?.message ?? err}`);
        }
      }),
    );
  } catch (err) {
    // VS Code does not tell the user when activation fails; we do.
    void vscode.window.showErrorMessage(`Slurm ML failed to activate: ${(err as Error)?.message ?? err}`);
    throw err;
  }
}

export function deactivate(): void {}
