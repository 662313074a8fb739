// One SSH session per cluster, kept and shared by every request and the
// poller. Connection state changes are pushed to clients as notifications.
import { ErrorCode, type ConnectionState } from './protocol';
import { RpcError } from './rpc/connection';
import { SshError, SshSession } from './ssh/session';
import type { ClusterRecord } from './db/registry';
import type { Logger } from './log';

export interface ExecResult {
  code: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** What the SLURM side needs of a cluster connection. */
export interface RemoteSession {
  exec(argv: string[], opts?: { cwd?: string; stdin?: string; timeoutMs?: number }): Promise<ExecResult>;
  writeFile(remotePath: string, data: string | Buffer, mode?: number): Promise<void>;
  mkdirp(remotePath: string): Promise<void>;
  homeDir(): Promise<string>;
}

export interface SessionOptions {
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

const sshErrorCodes: Record<string, number> = {
  'host-key-unknown': ErrorCode.HostKeyUnknown,
  'host-key-changed': ErrorCode.HostKeyChanged,
  'host-key-revoked': ErrorCode.HostKeyChanged,
  auth: ErrorCode.SshAuthFailed,
  identity: ErrorCode.SshAuthFailed,
  timeout: ErrorCode.SshTimeout,
  connect: ErrorCode.SshConnectFailed,
  closed: ErrorCode.SshConnectFailed,
  channel: ErrorCode.SshConnectFailed,
  sftp: ErrorCode.RemoteFileFailed,
};

/** Turns an SSH failure into the protocol error a client shows; names the cluster. */
export function toRpcError(cluster: string, err: unknown): RpcError {
  if (err instanceof RpcError) return err;
  if (err instanceof SshError) {
    const code = sshErrorCodes[err.kind] ?? ErrorCode.SshConnectFailed;
    const fingerprint = err.fingerprint;
    const message = err.message.includes(cluster) ? err.message : `cluster ${cluster}: ${err.message}`;
    return new RpcError(code, message, fingerprint ? { fingerprint } : undefined);
  }
  return new RpcError(ErrorCode.InternalError, `cluster ${cluster}: ${(err as Error)?.message ?? String(err)}`);
}

class Entry {
  state: ConnectionState = { status: 'disconnected', message: null, since: new Date().toISOString() };
  constructor(
    readonly cluster: ClusterRecord,
    readonly session: SshSession,
  ) {}
}

export class ClusterConnections {
  private readonly entries = new Map<string, Entry>();
  private readonly listeners = new Set<(name: string, state: ConnectionState) => void>();

  constructor(
    private readonly log: Logger,
    private readonly options: SessionOptions = {},
  ) {}

  onStateChange(listener: (name: string, state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(name: string): ConnectionState {
    return this.entries.get(name)?.state ?? { status: 'disconnected', message: null, since: new Date(0).toISOString() };
  }

  private entry(cluster: ClusterRecord): Entry {
    let e = this.entries.get(cluster.name);
    if (e && e.cluster.id !== cluster.id) {
      // The cluster was removed and added again with other settings.
      void e.session.close();
      this.entries.delete(cluster.name);
      e = undefined;
    }
    if (!e) {
      const log = this.log.child({ cluster: cluster.name });
      const session = new SshSession(
        {
          name: cluster.name,
          host: cluster.host,
          port: cluster.port,
          user: cluster.user,
          identityFile: cluster.identityFile,
          knownHostsFile: cluster.knownHostsFile,
        },
        { ...this.options, logger: log },
      );
      const created = new Entry(cluster, session);
      session.onStateChange((status) => {
        const message = status === 'failed' ? (session.lastError ?? null) : null;
        created.state = { status, message, since: new Date().toISOString() };
        log.info('ssh state', { status, message });
        for (const l of this.listeners) l(cluster.name, created.state);
      });
      this.entries.set(cluster.name, created);
      e = created;
    }
    return e;
  }

  /** The cluster's session, connected. Errors are RpcErrors naming the cluster. */
  async session(cluster: ClusterRecord): Promise<RemoteSession & { hostKeyFingerprint: string | undefined }> {
    const e = this.entry(cluster);
    try {
      await e.session.connect();
    } catch (err) {
      throw toRpcError(cluster.name, err);
    }
    const s = e.session;
    const wrap = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      try {
        return await f.apply(s, a);
      } catch (err) {
        throw toRpcError(cluster.name, err);
      }
    };
    return {
      exec: wrap(s.exec),
      writeFile: wrap(s.writeFile),
      mkdirp: wrap(s.mkdirp),
      homeDir: wrap(s.homeDir),
      get hostKeyFingerprint() {
        return s.hostKeyFingerprint;
      },
    };
  }

  async disconnect(name: string): Promise<void> {
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    await e.session.close();
  }

  async closeAll(): Promise<void> {
    const all = [...this.entries.keys()];
    await Promise.all(all.map((n) => this.disconnect(n)));
  }
}
