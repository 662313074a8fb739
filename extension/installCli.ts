// "Slurm ML: Install 'slurm-ml' Command in PATH": writes a small launcher that
// runs the CLI this extension carries (dist/cli.js) on the editor's own
// runtime, like VS Code's own `code` command, so a terminal user needs no Node
// and no checkout. Under Remote-SSH it runs where the extension runs: on the
// remote host.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as vscode from 'vscode';
import { LAUNCHER_MARK, cliLauncher, launcherName, launcherTarget } from './model/editorRuntime';

export interface InstalledCli {
  /** The launcher written. */
  file: string;
  onPath: boolean;
}

/**
 * Registers the command. `dir` (for tests and other extensions) replaces the
 * directory chosen from PATH. Returns what it wrote, or undefined when the
 * user kept a file of someone else's.
 */
export function registerInstallCli(context: vscode.ExtensionContext, log: vscode.LogOutputChannel): vscode.Disposable {
  return vscode.commands.registerCommand('slurmMl.installCli', async (dir?: unknown): Promise<InstalledCli | undefined> => {
    try {
      const target = typeof dir === 'string' && dir ? { dir, onPath: pathHas(dir) } : launcherTarget(process.platform, process.env, os.homedir());
      const file = path.join(target.dir, launcherName(process.platform));
      const cli = path.join(context.extensionPath, 'dist', 'cli.js');
      if (!fs.existsSync(cli)) throw new Error(`this installation of Slurm ML has no CLI (${cli} is missing)`);
      const existing = readIfExists(file);
      if (existing !== undefined && !existing.includes(LAUNCHER_MARK)) {
        const c = await vscode.window.showWarningMessage(`Slurm ML: ${file} exists and was not written by Slurm ML. Replace it?`, { modal: true }, 'Replace');
        if (c !== 'Replace') return undefined;
      }
      fs.mkdirSync(target.dir, { recursive: true });
      // Written beside it and renamed: a running `slurm-ml` never reads half a file.
      const tmp = `${file}.${process.pid}.tmp`;
      fs.writeFileSync(tmp, cliLauncher(process.platform, process.execPath, cli), { mode: 0o755 });
      fs.renameSync(tmp, file);
      log.info(`installed the slurm-ml command: ${file} runs ${cli} on ${process.execPath}`);
      if (target.onPath) {
        void vscode.window.showInformationMessage(`Slurm ML: installed the 'slurm-ml' command in ${target.dir}. Open a new terminal and run \`slurm-ml help\`.`);
      } else {
        const hint = process.platform === 'win32' ? `add ${target.dir} to your user Path environment variable` : `add \`export PATH="${target.dir}:$PATH"\` to your shell's startup file (~/.bashrc, ~/.zshrc)`;
        void vscode.window.showWarningMessage(`Slurm ML: installed the 'slurm-ml' command in ${target.dir}, which is not on your PATH: ${hint}, then open a new terminal.`);
      }
      return { file, onPath: target.onPath };
    } catch (err) {
      const message = (err as Error)?.message ?? String(err);
      log.error(`slurmMl.installCli: ${message}`);
      void vscode.window.showErrorMessage(`Slurm ML: could not install the 'slurm-ml' command: ${message}`);
      return undefined;
    }
  });
}

function pathHas(dir: string): boolean {
  return (process.env.PATH ?? '').split(path.delimiter).some((d) => path.resolve(d) === path.resolve(dir));
}

function readIfExists(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}
