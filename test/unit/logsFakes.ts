// Test doubles for the log and progress tests: files on a pretend cluster
// (RemoteSession's stat and readRange over a Map, recording every access),
// and a registry on real in-memory SQLite with one cluster.
import { ErrorCode } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import type { ExecResult, RemoteSession } from '../../daemon/connections';
import { openDatabase, type Db } from '../../daemon/db/database';
import { ClusterStore, JobStore, type ClusterRecord, type JobPatch } from '../../daemon/db/registry';
import type { JobInfo } from '../../daemon/protocol';

export class FakeRemote implements RemoteSession {
  readonly files = new Map<string, Buffer>();
  readonly ops: { op: 'stat' | 'read'; path: string; offset?: number; length?: number }[] = [];
  failNext: Error | undefined;

  append(path: string, data: string | Buffer): void {
    const add = typeof data === 'string' ? Buffer.from(data) : data;
    this.files.set(path, Buffer.concat([this.files.get(path) ?? Buffer.alloc(0), add]));
  }

  private check(path: string): Buffer {
    if (this.failNext) {
      const e = this.failNext;
      this.failNext = undefined;
      throw e;
    }
    const f = this.files.get(path);
    // What ClusterConnections makes of SFTP's "No such file".
    if (!f) throw new RpcError(ErrorCode.RemoteFileFailed, `SFTP stat ${path} on cluster "c" failed: No such file`);
    return f;
  }

  async stat(path: string): Promise<{ size: number; mtime: number }> {
    this.ops.push({ op: 'stat', path });
    return { size: this.check(path).length, mtime: 0 };
  }

  async readRange(path: string, offset: number, length: number): Promise<Buffer> {
    this.ops.push({ op: 'read', path, offset, length });
    const f = this.check(path);
    return Buffer.from(f.subarray(offset, offset + length));
  }

  reads(): number {
    return this.ops.filter((o) => o.op === 'read').length;
  }

  async exec(): Promise<ExecResult> {
    throw new Error('no commands in log tests');
  }
  async writeFile(): Promise<void> {
    throw new Error('read only');
  }
  async mkdirp(): Promise<void> {
    throw new Error('read only');
  }
  async homeDir(): Promise<string> {
    return '/home/u';
  }
}

export interface Registry {
  db: Db;
  clusters: ClusterStore;
  jobs: JobStore;
  cluster: ClusterRecord;
  /** A submitted job in the given state, its output files in /runs/<n>/. */
  job(patch?: JobPatch): JobInfo;
}

export function registry(): Registry {
  const db = openDatabase(':memory:');
  const clusters = new ClusterStore(db);
  const jobs = new JobStore(db);
  const cluster = clusters.add({ name: 'c', host: 'h', port: 22, user: 'u', identityFile: '/k', knownHostsFile: '/kh' });
  let n = 0;
  return {
    db,
    clusters,
    jobs,
    cluster,
    job(patch = {}) {
      n++;
      const created = jobs.create({ clusterId: cluster.id, name: `job${n}`, script: '#!/bin/sh\n', scriptPath: `/runs/${n}/job.sh`, runDir: `/runs/${n}`, sbatchArgs: [] });
      jobs.update(created.id, { slurmJobId: String(100 + n), state: 'RUNNING', startTime: new Date().toISOString(), stdoutPath: `/runs/${n}/slurm-${100 + n}.out`, stderrPath: `/runs/${n}/slurm-${100 + n}.out`, ...patch });
      return jobs.get(created.id);
    },
  };
}
