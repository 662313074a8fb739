// The editor's own JavaScript runtime as the daemon's and the CLI's Node:
// desktop VS Code's Electron, code-server's node, the VS Code Server's node
// under Remote-SSH. Electron behaves as plain Node only with
// ELECTRON_RUN_AS_NODE=1; plain node ignores the variable, so it is always set.
// Pure (no vscode import), so it is unit-tested.
import * as path from 'node:path';

export interface DaemonLaunch {
  /** The executable that runs dist/daemon.js. */
  nodePath: string;
  env: NodeJS.ProcessEnv;
}

/**
 * How a daemon is started: on `nodePath` (the `slurmMl.nodePath` setting) when
 * one is set, else on `execPath` (the editor's runtime, `process.execPath`)
 * with ELECTRON_RUN_AS_NODE=1.
 */
export function daemonLaunch(nodePath: string | undefined, execPath: string, env: NodeJS.ProcessEnv): DaemonLaunch {
  const override = nodePath?.trim();
  if (override) return { nodePath: override, env };
  return { nodePath: execPath, env: { ...env, ELECTRON_RUN_AS_NODE: '1' } };
}

/** The first line after the shebang of every launcher this extension writes: it may replace such a file. */
export const LAUNCHER_MARK = "Written by the Slurm ML extension (Install 'slurm-ml' Command in PATH)";

/** The launcher's file name: `slurm-ml`, or `slurm-ml.cmd` on Windows. */
export function launcherName(platform: NodeJS.Platform): string {
  return platform === 'win32' ? 'slurm-ml.cmd' : 'slurm-ml';
}

/**
 * The text of a `slurm-ml` launcher that runs `cliScript` (dist/cli.js) on
 * `execPath`: a POSIX sh script, or a .cmd file on Windows. Both paths are
 * quoted for their shell, the arguments pass on unchanged, and when the editor
 * or the extension was updated or removed (both paths carry a version) it says
 * so and how to write it again instead of failing obscurely.
 */
export function cliLauncher(platform: NodeJS.Platform, execPath: string, cliScript: string): string {
  const again = `run "Slurm ML: Install 'slurm-ml' Command in PATH" in the editor again`;
  if (platform === 'win32') {
    // cmd.exe: a Windows path cannot contain '"'; %% is a literal percent sign.
    const w = (s: string) => s.replace(/%/g, '%%');
    return [
      '@echo off',
      `rem ${LAUNCHER_MARK}: the slurm-ml CLI on the editor's own runtime.`,
      'setlocal',
      `if not exist "${w(execPath)}" goto gone`,
      `if not exist "${w(cliScript)}" goto gone`,
      'set ELECTRON_RUN_AS_NODE=1',
      `"${w(execPath)}" "${w(cliScript)}" %*`,
      'exit /b %ERRORLEVEL%',
      ':gone',
      `echo slurm-ml: the editor or the Slurm ML extension this command ran with was updated or removed; ${again}. 1>&2`,
      'exit /b 127',
      '',
    ].join('\r\n');
  }
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  return [
    '#!/bin/sh',
    `# ${LAUNCHER_MARK}:`,
    "# the slurm-ml CLI on the editor's own runtime.",
    `node=${q(execPath)}`,
    `cli=${q(cliScript)}`,
    'if [ ! -x "$node" ] || [ ! -f "$cli" ]; then',
    `  echo "slurm-ml: the editor or the Slurm ML extension this command ran with was updated or removed ($node, $cli); ${again.replace(/"/g, '\\"')}." >&2`,
    '  exit 127',
    'fi',
    'ELECTRON_RUN_AS_NODE=1 exec "$node" "$cli" "$@"',
    '',
  ].join('\n');
}

export interface LauncherTarget {
  /** The directory the launcher goes into. */
  dir: string;
  /** Whether that directory is on PATH (else the user is told how to add it). */
  onPath: boolean;
}

/**
 * Where the launcher goes: the first of the usual per-user bin directories
 * that is on PATH (~/.local/bin, ~/bin; on Windows also
 * %LOCALAPPDATA%\Microsoft\WindowsApps, which Windows puts on every user's
 * PATH), else ~/.local/bin, created, and the user is told to add it to PATH.
 * No administrator rights are ever needed.
 */
export function launcherTarget(platform: NodeJS.Platform, env: NodeJS.ProcessEnv, home: string): LauncherTarget {
  const p = platform === 'win32' ? path.win32 : path.posix;
  const norm = (d: string) => {
    const n = p.normalize(d).replace(/[\\/]+$/, '');
    return platform === 'win32' ? n.toLowerCase() : n;
  };
  const pathVar = platform === 'win32' ? (env.Path ?? env.PATH ?? '') : (env.PATH ?? '');
  const onPath = new Set(pathVar.split(p.delimiter).filter(Boolean).map(norm));
  const candidates = [p.join(home, '.local', 'bin'), p.join(home, 'bin')];
  if (platform === 'win32' && env.LOCALAPPDATA) candidates.push(p.join(env.LOCALAPPDATA, 'Microsoft', 'WindowsApps'));
  const found = candidates.find((d) => onPath.has(norm(d)));
  return found ? { dir: found, onPath: true } : { dir: candidates[0]!, onPath: false };
}
