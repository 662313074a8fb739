// The machine slurm-ml runs on, as a value: its OS, that OS's path rules, the
// environment and the home directory. Code whose answer depends on the OS
// (where state lives, whether file modes protect it, where ssh keeps its
// files, which SSH agent to ask) takes one instead of reading `process`, so
// every OS's answer is unit-tested on Linux with `path.win32` / `path.posix`.
import * as os from 'node:os';
import * as path from 'node:path';

export interface HostPlatform {
  /** `process.platform` of the machine: 'win32', 'darwin', 'linux', … */
  readonly platform: NodeJS.Platform;
  /** `path.win32` on Windows, `path.posix` elsewhere. */
  readonly path: path.PlatformPath;
  readonly env: Readonly<Record<string, string | undefined>>;
  /** The user's home: %USERPROFILE% on Windows, $HOME elsewhere. */
  readonly home: string;
}

/**
 * The machine described by `platform` (default: this one). Tests pass
 * another platform, its environment and home to get that OS's answers here.
 */
export function hostPlatform(opts: { platform?: NodeJS.Platform; env?: Readonly<Record<string, string | undefined>>; home?: string } = {}): HostPlatform {
  const platform = opts.platform ?? process.platform;
  const env = opts.env ?? process.env;
  const p = platform === 'win32' ? path.win32 : path.posix;
  // os.homedir() reads %USERPROFILE% (Windows) or $HOME itself; an env given for another OS says it here.
  const fromEnv = platform === 'win32' ? env.USERPROFILE || (env.HOMEDRIVE && env.HOMEPATH ? env.HOMEDRIVE + env.HOMEPATH : undefined) : env.HOME;
  const home = opts.home ?? (opts.env ? fromEnv : undefined) ?? os.homedir();
  return { platform, path: p, env, home };
}

/**
 * Where the daemon keeps its state (registry, port and token, lock, log):
 * $SLURM_ML_STATE_DIR when set; otherwise each OS's usual place for an
 * application's per-user, machine-local data:
 *
 * - Windows: %LOCALAPPDATA%\slurm-ml (not Roaming: the registry and the lock
 *   belong to this machine, and a roaming profile would copy them around);
 * - macOS: ~/Library/Application Support/slurm-ml. $XDG_STATE_HOME is not
 *   read there: VS Code started from the Dock does not see a shell's
 *   variables, so the editor and a terminal's CLI would each start a daemon
 *   on a registry of its own;
 * - Linux and the rest: $XDG_STATE_HOME/slurm-ml, else ~/.local/state/slurm-ml
 *   (unchanged, so existing users keep their registry).
 */
export function defaultStateDir(host: HostPlatform): string {
  const { env, path: p } = host;
  if (env.SLURM_ML_STATE_DIR) return p.resolve(env.SLURM_ML_STATE_DIR);
  if (host.platform === 'win32') {
    const local = env.LOCALAPPDATA && p.isAbsolute(env.LOCALAPPDATA) ? env.LOCALAPPDATA : p.join(host.home, 'AppData', 'Local');
    return p.join(local, 'slurm-ml');
  }
  if (host.platform === 'darwin') return p.join(host.home, 'Library', 'Application Support', 'slurm-ml');
  return p.join(env.XDG_STATE_HOME ? p.resolve(env.XDG_STATE_HOME) : p.join(host.home, '.local', 'state'), 'slurm-ml');
}

/**
 * Whether POSIX file modes are what keeps the user's files private here.
 * On Windows they are not: Node maps a mode to the read-only attribute and
 * nothing else. What protects the state there is the ACL of the user's
 * profile directory (%USERPROFILE%, which %LOCALAPPDATA% is inside): only the
 * user, SYSTEM and Administrators may open it, and files created inside
 * inherit that. So on Windows the daemon neither sets nor checks modes.
 */
export function usesFileModes(host: Pick<HostPlatform, 'platform'>): boolean {
  return host.platform !== 'win32';
}
