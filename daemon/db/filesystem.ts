// Which filesystem holds the registry. On clusters the home directory (where
// the state directory is by default) is usually on NFS, GPFS, Lustre or
// BeeGFS, and SQLite's write-ahead log does not work over a network
// filesystem: its index is shared memory (a mmap'ed -shm file) that other
// machines cannot see, and the SQLite documentation says WAL "does not work
// over a network filesystem". There the registry uses SQLite's rollback
// journal (journal_mode=DELETE), whose locking is POSIX fcntl locks, which
// NFS (lockd, or NFSv4 itself) and the parallel filesystems implement. One
// daemon per state directory (lock.ts) keeps the writers to one.
import * as fs from 'node:fs';
import * as path from 'node:path';

export interface FilesystemInfo {
  /** As the kernel names it (`ext4`, `nfs4`, `lustre`, `fuse.sshfs`), or `unknown` where mounts cannot be read. */
  type: string;
  mountPoint: string | null;
  network: boolean;
}

/** Filesystems whose files other machines share: no WAL there. */
const NETWORK_TYPES = new Set([
  'nfs', 'nfs4', 'cifs', 'smb3', 'smbfs', 'lustre', 'gpfs', 'beegfs', 'ceph', 'glusterfs', 'fuse.glusterfs', 'afs', 'panfs',
  'fuse.sshfs', 'sshfs', '9p', 'fuse.s3fs', 'fuse.rclone', 'fuse.gcsfuse', 'fuse.juicefs', 'fuse.ceph', 'fuse.beegfs', 'wekafs', 'vastfs',
]);

export function isNetworkType(type: string): boolean {
  return NETWORK_TYPES.has(type);
}

/** `\040` and friends: octal escapes of spaces, tabs, newlines and backslashes in mountinfo paths. */
function unescapeMountPath(p: string): string {
  return p.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** Mount points and types from /proc/self/mountinfo's text. */
export function parseMountinfo(text: string): { mountPoint: string; type: string }[] {
  const out: { mountPoint: string; type: string }[] = [];
  for (const line of text.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const before = line.slice(0, sep).split(' ');
    const after = line.slice(sep + 3).split(' ');
    if (before.length < 5 || !after[0]) continue;
    out.push({ mountPoint: unescapeMountPath(before[4]!), type: after[0] });
  }
  return out;
}

/** The deepest existing ancestor of `p`, symlinks resolved (a home may be a link into /gpfs). */
function deepestReal(p: string): string {
  let at = path.resolve(p);
  for (;;) {
    try {
      return fs.realpathSync(at);
    } catch {
      const up = path.dirname(at);
      if (up === at) return at;
      at = up;
    }
  }
}

/** The filesystem `p` is (or would be created) on: the mount with the longest mount point above it. */
export function filesystemOf(p: string, mountinfo?: string, resolve: (p: string) => string = deepestReal): FilesystemInfo {
  let text = mountinfo;
  if (text === undefined) {
    try {
      text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
    } catch {
      return { type: 'unknown', mountPoint: null, network: false };
    }
  }
  const at = resolve(p);
  let best: { mountPoint: string; type: string } | undefined;
  for (const m of parseMountinfo(text)) {
    const inside = m.mountPoint === '/' || at === m.mountPoint || at.startsWith(m.mountPoint.endsWith('/') ? m.mountPoint : `${m.mountPoint}/`);
    // Later lines win at equal depth: they are mounted over the earlier ones.
    if (inside && (!best || m.mountPoint.length >= best.mountPoint.length)) best = m;
  }
  if (!best) return { type: 'unknown', mountPoint: null, network: false };
  return { type: best.type, mountPoint: best.mountPoint, network: isNetworkType(best.type) };
}
