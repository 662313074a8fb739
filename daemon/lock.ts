// The lock that makes the daemon one instance per state directory, across
// machines: a home directory on NFS, GPFS or Lustre is shared by every login
// node, and two daemons on two nodes must never write one registry. The lock
// file names the holder's host and pid; its holder touches it every
// LOCK_HEARTBEAT_MS, so a lock from another host (whose pid cannot be
// checked from here) is taken over only when its heartbeat has stopped for
// LOCK_STALE_MS (that host crashed or lost the mount). On one host a lock of
// a dead process is taken over at once.
import * as fs from 'node:fs';
import * as os from 'node:os';
import { isProcessAlive } from './state';

export const LOCK_HEARTBEAT_MS = 30_000;
/** Four missed heartbeats: a daemon on another host is gone. */
export const LOCK_STALE_MS = 4 * LOCK_HEARTBEAT_MS;

export interface LockHolder {
  pid: number;
  host: string;
  startedAt: string | null;
  /** Since the holder last touched the lock. */
  heartbeatAgeMs: number;
}

export class AlreadyRunningError extends Error {
  constructor(readonly pid: number) {
    super(`a slurm-ml daemon is already running for this user (pid ${pid})`);
  }
}

/** The state directory is in use by a daemon on another machine (a shared home). */
export class RunningElsewhereError extends Error {
  constructor(
    readonly holder: LockHolder,
    readonly lockFile: string,
  ) {
    super(runningElsewhereMessage(holder, lockFile));
  }
}

export function runningElsewhereMessage(holder: LockHolder, lockFile: string): string {
  return (
    `the slurm-ml daemon for this state directory runs on host ${holder.host} (pid ${holder.pid}${holder.startedAt ? `, since ${holder.startedAt}` : ''}; ` +
    `lock ${lockFile}, touched ${Math.round(holder.heartbeatAgeMs / 1000)} s ago). A state directory shared by several machines (a home on NFS) ` +
    `holds one daemon: work on ${holder.host}, stop it there (\`slurm-ml daemon stop\`), or give this machine a directory of its own with SLURM_ML_STATE_DIR`
  );
}

/** The lock's holder, or null when there is no lock (or it cannot be read). Plain-pid locks of older daemons are this host's. */
export function readLock(lockFile: string, host = os.hostname(), now = Date.now()): LockHolder | null {
  let text: string;
  let mtimeMs: number;
  try {
    text = fs.readFileSync(lockFile, 'utf8').trim();
    mtimeMs = fs.statSync(lockFile).mtimeMs;
  } catch {
    return null;
  }
  const heartbeatAgeMs = Math.max(0, now - mtimeMs);
  if (/^\d+$/.test(text)) return { pid: Number(text), host, startedAt: null, heartbeatAgeMs };
  try {
    const j = JSON.parse(text) as { pid?: unknown; host?: unknown; startedAt?: unknown };
    if (typeof j.pid === 'number' && Number.isInteger(j.pid) && j.pid > 0 && typeof j.host === 'string' && j.host !== '') {
      return { pid: j.pid, host: j.host, startedAt: typeof j.startedAt === 'string' ? j.startedAt : null, heartbeatAgeMs };
    }
  } catch {
    /* being written, or damaged */
  }
  return null;
}

/** Whether the holder is a daemon that still runs: checked by pid on this host, by heartbeat on another. */
export function holderAlive(h: LockHolder, host = os.hostname()): boolean {
  if (h.host !== host) return h.heartbeatAgeMs < LOCK_STALE_MS;
  return h.pid !== process.pid && isProcessAlive(h.pid);
}

export interface Lock {
  release(): void;
}

export interface LockOptions {
  host?: string;
  /** Called when the lock no longer names this process (another daemon took it over): stop writing the registry. */
  onLost?: (holder: LockHolder | null) => void;
  heartbeatMs?: number;
}

/** An exclusive lock file naming this host and pid, kept fresh by a heartbeat; a stale lock is taken over. */
export function acquireLock(lockFile: string, opts: LockOptions = {}): Lock {
  const host = opts.host ?? os.hostname();
  const me = JSON.stringify({ pid: process.pid, host, startedAt: new Date().toISOString() });
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      const fd = fs.openSync(lockFile, fs.constants.O_WRONLY | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
      fs.writeSync(fd, me);
      fs.fsyncSync(fd);
      fs.closeSync(fd);
      return heldLock(lockFile, me, host, opts);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const holder = readLock(lockFile, host);
    if (holder && holderAlive(holder, host)) {
      if (holder.host !== host) throw new RunningElsewhereError(holder, lockFile);
      throw new AlreadyRunningError(holder.pid);
    }
    if (!holder) {
      // A lock being written right now has no holder yet; give its writer a moment.
      let age = Infinity;
      try {
        age = Date.now() - fs.statSync(lockFile).mtimeMs;
      } catch {
        continue; // removed meanwhile
      }
      if (age < 2000) {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
        continue;
      }
    }
    // Stale: its process is gone (or its host stopped beating). Remove it only if it still names that holder.
    try {
      const again = readLock(lockFile, host);
      if (!holder || (again && again.pid === holder.pid && again.host === holder.host)) fs.unlinkSync(lockFile);
    } catch {
      /* someone else removed it */
    }
  }
  throw new Error(`could not take the daemon lock ${lockFile}`);
}

function heldLock(lockFile: string, me: string, host: string, opts: LockOptions): Lock {
  let released = false;
  const ours = () => {
    try {
      return fs.readFileSync(lockFile, 'utf8').trim() === me;
    } catch {
      return false;
    }
  };
  const timer = setInterval(() => {
    if (released) return;
    if (!ours()) {
      clearInterval(timer);
      opts.onLost?.(readLock(lockFile, host));
      return;
    }
    const now = new Date();
    try {
      fs.utimesSync(lockFile, now, now);
    } catch {
      /* checked again at the next beat */
    }
  }, opts.heartbeatMs ?? LOCK_HEARTBEAT_MS);
  timer.unref();
  return {
    release() {
      if (released) return;
      released = true;
      clearInterval(timer);
      try {
        if (ours()) fs.unlinkSync(lockFile);
      } catch {
        /* already gone */
      }
    },
  };
}
