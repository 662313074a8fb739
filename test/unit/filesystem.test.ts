// Which filesystem holds the registry (daemon/db/filesystem.ts), from
// /proc/self/mountinfo as recorded on the test machine with a real sshfs
// (FUSE) mount of the test cluster user's home, the network filesystem the
// NFS-less kernel here can mount.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { filesystemOf, isNetworkType, parseMountinfo } from '../../daemon/db/filesystem';

const recorded = fs.readFileSync(path.join(__dirname, '..', 'fixtures', 'mountinfo', 'debian-vm-sshfs.txt'), 'utf8');
const asIs = (p: string) => p;

test('a state directory under the sshfs mount is on a network filesystem; one on the root disk is not', () => {
  assert.deepEqual(filesystemOf('/tmp/sshfs-probe/slurm-ml', recorded, asIs), { type: 'fuse.sshfs', mountPoint: '/tmp/sshfs-probe', network: true });
  assert.deepEqual(filesystemOf('/root/.local/state/slurm-ml', recorded, asIs), { type: 'ext4', mountPoint: '/', network: false });
  // A sibling whose name starts like the mount point is not inside it.
  assert.equal(filesystemOf('/tmp/sshfs-probe-2/x', recorded, asIs).type, 'ext4');
});

test('the deepest mount wins, and escaped spaces in mount points are read', () => {
  const text = `${recorded}\n50 26 0:50 / /home/with\\040space rw - nfs4 server:/export rw\n51 50 0:51 / /home/with\\040space/local rw - xfs /dev/sdb rw\n`;
  assert.equal(parseMountinfo(text).at(-2)!.mountPoint, '/home/with space');
  assert.deepEqual(filesystemOf('/home/with space/me/.local/state/slurm-ml', text, asIs), { type: 'nfs4', mountPoint: '/home/with space', network: true });
  assert.deepEqual(filesystemOf('/home/with space/local/slurm-ml', text, asIs), { type: 'xfs', mountPoint: '/home/with space/local', network: false });
});

test('the shared filesystems of HPC sites are network ones; local disks are not', () => {
  for (const t of ['nfs', 'nfs4', 'lustre', 'gpfs', 'beegfs', 'ceph', 'cifs', 'fuse.sshfs']) assert.equal(isNetworkType(t), true, t);
  for (const t of ['ext4', 'xfs', 'btrfs', 'tmpfs', 'zfs', 'overlay', 'apfs']) assert.equal(isNetworkType(t), false, t);
});

test('without /proc (macOS, Windows) the filesystem is unknown and treated as local', () => {
  assert.deepEqual(filesystemOf('/Users/me/Library/Application Support/slurm-ml', '', asIs), { type: 'unknown', mountPoint: null, network: false });
});
