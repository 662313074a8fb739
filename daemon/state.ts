// Where the daemon keeps its per-user state, and the files through which a
// client finds the running daemon: a state file (host, port + token, private
// to the user). The lock that makes the daemon one instance per state
// directory is lock.ts.
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import { z } from 'zod';
import { defaultStateDir, hostPlatform, usesFileModes, type HostPlatform } from './platform';

export interface StatePaths {
  dir: string;
  stateFile: string;
  lockFile: string;
  database: string;
  logFile: string;
  /** The metrics endpoint's bearer token (only while metrics are on). */
  metricsTokenFile: string;
}

/**
 * $SLURM_ML_STATE_DIR, else the OS's place (platform.ts: %LOCALAPPDATA%\slurm-ml,
 * ~/Library/Application Support/slurm-ml, $XDG_STATE_HOME/slurm-ml or
 * ~/.local/state/slurm-ml). `host` (with its own env) is this machine with `env`
 * unless a test gives another OS.
 */
export function statePaths(env: NodeJS.ProcessEnv = process.env, host: HostPlatform = hostPlatform({ env })): StatePaths {
  const dir = defaultStateDir(host);
  const join = host.path.join;
  return {
    dir,
    stateFile: join(dir, 'daemon.json'),
    lockFile: join(dir, 'daemon.lock'),
    database: join(dir, 'registry.db'),
    logFile: join(dir, 'daemon.log'),
    metricsTokenFile: join(dir, 'metrics-token'),
  };
}

/** Which OS's rules for file protection apply: this machine's unless a test says otherwise. */
type ModeHost = Pick<HostPlatform, 'platform'>;
const thisMachine: ModeHost = { platform: process.platform };

/**
 * Creates the state directory, 0700 where modes exist. On Windows modes mean
 * nothing; the profile directory's ACL (inherited by %LOCALAPPDATA%) keeps
 * it the user's (platform.ts), so nothing is set or checked there.
 */
export function ensureStateDir(dir: string, host: ModeHost = thisMachine): void {
  const modes = usesFileModes(host);
  fs.mkdirSync(dir, { recursive: true, ...(modes ? { mode: 0o700 } : {}) });
  // mkdir's mode is masked by umask and ignored for an existing directory.
  if (modes) fs.chmodSync(dir, 0o700);
}

export const DaemonStateFile = z.object({
  pid: z.number().int(),
  port: z.number().int(),
  token: z.string().min(32),
  protocolVersion: z.number().int(),
  daemonVersion: z.string(),
  startedAt: z.string(),
  /** The machine the daemon runs on: its port is on that machine's loopback (absent from older daemons: this one). */
  host: z.string().optional(),
});
export type DaemonStateFile = z.infer<typeof DaemonStateFile>;

export function writeStateFile(file: string, data: DaemonStateFile, host: ModeHost = thisMachine): void {
  writePrivateFile(file, JSON.stringify(data, null, 2) + '\n', host);
}

/**
 * Writes `text` to `file` atomically, 0600 from the start: a token must never be readable by others,
 * not even briefly. (On Windows the directory's inherited ACL does that; see ensureStateDir.)
 */
function writePrivateFile(file: string, text: string, host: ModeHost): void {
  const tmp = `${file}.${process.pid}.tmp`;
  const fd = fs.openSync(tmp, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_TRUNC, 0o600);
  try {
    if (usesFileModes(host)) fs.fchmodSync(fd, 0o600);
    fs.writeSync(fd, text);
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
  fs.renameSync(tmp, file);
}

/**
 * The bearer token the metrics endpoint asks for: kept in `file` (0600) across restarts, so a
 * Prometheus reading it with `credentials_file` keeps scraping; made anew when absent or unreadable.
 */
export function metricsToken(file: string, host: ModeHost = thisMachine): string {
  try {
    const t = fs.readFileSync(file, 'utf8').trim();
    if (/^[0-9a-f]{64}$/.test(t)) {
      if (usesFileModes(host)) fs.chmodSync(file, 0o600);
      return t;
    }
  } catch {
    // absent: made below
  }
  const t = randomBytes(32).toString('hex');
  writePrivateFile(file, `${t}\n`, host);
  return t;
}

export function readStateFile(file: string): DaemonStateFile | null {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch {
    return null;
  }
  try {
    const parsed = DaemonStateFile.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** True if the process exists and is not a zombie (PID 1 here may reap late). */
export function isProcessAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  try {
    const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
    const state = /^State:\s+(\S)/m.exec(status)?.[1];
    return state !== 'Z' && state !== 'X';
  } catch {
    // No /proc (not Linux): kill(0) said it exists.
    return true;
  }
}
