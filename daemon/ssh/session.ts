// One SSH connection per cluster, shared by every command and file transfer
// the daemon makes there: connecting costs ~100 ms and a login node may rate
// limit new connections (sshd MaxStartups), while channels on an open
// connection cost a few ms.
import { readFile } from 'node:fs/promises';
import type { Duplex } from 'node:stream';
import { Client, utils } from 'ssh2';
import type { AuthenticationType, AuthHandlerMiddleware, ClientChannel, ConnectConfig, ParsedKey, ServerHostKeyAlgorithm, SFTPWrapper, Stats } from 'ssh2';
import type { z } from 'zod';
import { hostPlatform } from '../platform';
import type { SshPrompt } from '../protocol';
import {
  appendKnownHost,
  checkHostKey,
  fingerprintSha256,
  keyTypeOfBlob,
  knownHostsLookupName,
  knownKeyTypesForHost,
  readKnownHostsFile,
} from './knownHosts';
import type { KnownHostEntry } from './knownHosts';
import { shellCommand, shellCommandInDir, shellQuote } from './quote';
import { expandTilde } from './sshConfig';

/** How to log in to one host: the cluster's login node, or a jump host on the way. */
export interface SshHostAuth {
  /**
   * Private key files tried after `identityFile`: from the ssh config or
   * OpenSSH's default names. Missing or unreadable ones are skipped, as ssh does.
   */
  identityFiles?: string[];
  /**
   * SSH agents to ask, in order (ssh2 `agent`: a socket path, a Windows
   * named pipe, or `pageant`); absent or empty: none. One that cannot be
   * reached is skipped, as ssh does.
   */
  agents?: string[];
  /** IdentitiesOnly: do not offer the agent's keys. */
  identitiesOnly?: boolean;
  /** Offer keyboard-interactive / password when the server allows them (default true; needs a prompt). */
  kbdInteractiveAuth?: boolean;
  passwordAuth?: boolean;
  /** Write accepted host keys hashed (HashKnownHosts). */
  hashKnownHosts?: boolean;
}

/** A jump host (ProxyJump hop). */
export interface SshJumpHost extends SshHostAuth {
  /** The name it was given (alias or host), for messages. */
  label: string;
  host: string;
  port: number;
  user: string;
  knownHostsFile: string;
}

export interface SshClusterConfig extends SshHostAuth {
  /** Cluster name, used in messages and logs. */
  name: string;
  host: string;
  port: number;
  user: string;
  /**
   * Private key file given explicitly: it must be readable. A leading `~/`
   * is the local home. null: only identityFiles, the agent, and prompts.
   */
  identityFile: string | null;
  /** OpenSSH known_hosts file. A leading `~/` is the local home. */
  knownHostsFile: string;
  /** ProxyJump hops, the first one reached directly. */
  jumps?: SshJumpHost[];
  /** Per-cluster overrides of the session options (ServerAliveInterval, ConnectTimeout). */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  readyTimeoutMs?: number;
}

/** An `ssh/prompt` request as the SSH layer asks it (the connection layer adds the cluster). */
export type SshPromptRequest = Omit<z.input<(typeof SshPrompt)['params']>, 'cluster'>;
export type SshPromptAnswer = z.output<(typeof SshPrompt)['result']>;
/**
 * Asks a person. Rejects (with a message saying why) when nobody can answer:
 * no client able to prompt, or no answer in time.
 */
export type SshPromptFn = (request: SshPromptRequest) => Promise<SshPromptAnswer>;

export interface SshLogger {
  debug(msg: string, fields?: Record<string, unknown>): void;
  info(msg: string, fields?: Record<string, unknown>): void;
  warn(msg: string, fields?: Record<string, unknown>): void;
  error(msg: string, fields?: Record<string, unknown>): void;
}

export interface SshSessionOptions {
  /** TCP connect + key exchange + authentication. Default 20 s. */
  readyTimeoutMs?: number;
  /** Default 15 s; with keepaliveCountMax 3 a dead server is noticed in about a minute. */
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
  /**
   * Exec channels open at once; more wait their turn. OpenSSH's default
   * MaxSessions is 10 per connection and the SFTP channel takes one, so the
   * default is 8.
   */
  maxConcurrentExecs?: number;
  logger?: SshLogger;
  /**
   * Asks a person for what the login needs (an unknown host key, a password,
   * keyboard-interactive answers, a key passphrase). Without it such logins
   * fail with a message saying what was needed.
   */
  prompt?: SshPromptFn;
  /**
   * Runs before every connection attempt, including the lazy reconnects of
   * exec and SFTP calls: returns the configuration to use (resolved afresh)
   * or throws to refuse the attempt (the state is left as it is).
   */
  prepare?: () => Promise<SshClusterConfig>;
}

export type SshState = 'disconnected' | 'connecting' | 'ready' | 'failed';

export type SshErrorKind =
  | 'host-key-unknown'
  | 'host-key-changed'
  | 'host-key-revoked'
  /** Identity file unreadable, not a private key, or passphrase-protected. */
  | 'identity'
  /** TCP/DNS failure or the server dropped us during the handshake. */
  | 'connect'
  | 'auth'
  /** Handshake, keepalive, or exec timeout. */
  | 'timeout'
  /**
   * The connection or channel went away (or the session was closed). For an
   * exec this means the command may or may not have run.
   */
  | 'closed'
  /** The server refused to open a channel or run the command (e.g. MaxSessions). */
  | 'channel'
  /** An SFTP operation failed; see sftpCode. */
  | 'sftp'
  /** The attempt was not started: backoff or the per-minute connection cap (set by the connection layer). */
  | 'throttled';

/** SFTP status codes (draft-ietf-secsh-filexfer-02) worth naming. */
export const SFTP_NO_SUCH_FILE = 2;
export const SFTP_PERMISSION_DENIED = 3;

export class SshError extends Error {
  override readonly name = 'SshError';
  readonly kind: SshErrorKind;
  /** Host key errors: fingerprint of the key the server offered. */
  readonly fingerprint: string | undefined;
  /** SFTP errors: the server's status code (SFTP_NO_SUCH_FILE, ...). */
  readonly sftpCode: number | undefined;
  /** The login needed a person (a prompt) and none could answer. */
  readonly needsUser: boolean;

  constructor(
    kind: SshErrorKind,
    message: string,
    extra: { cause?: unknown; fingerprint?: string; sftpCode?: number; needsUser?: boolean } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.kind = kind;
    this.fingerprint = extra.fingerprint;
    this.sftpCode = extra.sftpCode;
    this.needsUser = extra.needsUser ?? false;
  }
}

export function isNoSuchFile(err: unknown): boolean {
  return err instanceof SshError && err.kind === 'sftp' && err.sftpCode === SFTP_NO_SUCH_FILE;
}

export interface ExecOptions {
  /** Remote working directory; `~` and `~/...` are the remote home. */
  cwd?: string;
  /** Written to the command's stdin, then EOF. Without it stdin is at EOF at once. */
  stdin?: string | Buffer;
  /** Whole-call budget (connect, waiting for a channel, running). None by default. */
  timeoutMs?: number;
}

export interface ExecResult {
  /** null when the command was killed by a signal. */
  code: number | null;
  /** e.g. 'SIGKILL', or null. */
  signal: string | null;
  stdout: string;
  stderr: string;
}

export interface RemoteStat {
  size: number;
  mode: number;
  uid: number;
  gid: number;
  /** Seconds since the epoch (SFTP v3 has whole seconds only). */
  atime: number;
  mtime: number;
  isFile: boolean;
  isDirectory: boolean;
  isSymbolicLink: boolean;
}

export type SshStateListener = (state: SshState, lastError: string | undefined) => void;

/** One host to log in to, with everything resolved. */
interface Endpoint {
  role: 'jump' | 'target';
  /** `cluster "x" (host:port)` or `jump host "j" (host:port) of cluster "x"`, for messages. */
  where: string;
  host: string;
  port: number;
  user: string;
  identities: { path: string; required: boolean }[];
  agents: string[];
  knownHostsFile: string;
  hashKnownHosts: boolean;
  kbdInteractiveAuth: boolean;
  passwordAuth: boolean;
}

interface LoadedKey {
  path: string;
  data: Buffer;
  /** undefined: encrypted, needs a passphrase. */
  parsed: ParsedKey | undefined;
}

interface LoadedEndpoint {
  keys: LoadedKey[];
  knownHosts: KnownHostEntry[];
}

/** One live ssh2 connection and what hangs off it. */
interface Connection {
  client: Client;
  /** Jump host connections the client's socket runs through, first first. */
  hops: Client[];
  sftp: Promise<SFTPWrapper> | undefined;
  /** Set once end/close was seen or we dropped it. */
  gone: boolean;
  /** Error reported after ready (e.g. keepalive timeout), for lastError. */
  error: string | undefined;
  /**
   * Fails the SFTP operations under way: ssh2 never calls back an operation
   * whose connection died (a write cut off by a killed sshd waited forever).
   */
  sftpPending: Set<(err: SshError) => void>;
}

const DEFAULTS = {
  readyTimeoutMs: 20_000,
  keepaliveIntervalMs: 15_000,
  keepaliveCountMax: 3,
  maxConcurrentExecs: 8,
};

// ssh2's default host key algorithms, in its order. Listed here because ssh2
// does not export them and we reorder them (see hostKeyAlgorithms).
const HOST_KEY_ALGORITHMS: ServerHostKeyAlgorithm[] = [
  'ssh-ed25519',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'rsa-sha2-512',
  'rsa-sha2-256',
  'ssh-rsa',
];

const NOOP_LOGGER: SshLogger = { debug() {}, info() {}, warn() {}, error() {} };

export class SshSession {
  private _config: Readonly<SshClusterConfig>;
  private readonly opts: Required<Omit<SshSessionOptions, 'logger' | 'prompt' | 'prepare'>>;
  private readonly log: SshLogger;
  private readonly promptFn: SshPromptFn | undefined;
  private readonly prepare: (() => Promise<SshClusterConfig>) | undefined;
  private _lastFailure: SshError | undefined;

  private _state: SshState = 'disconnected';
  private _lastError: string | undefined;
  private _hostKeyFingerprint: string | undefined;
  private readonly listeners = new Set<SshStateListener>();

  private conn: Connection | undefined;
  /** The attempt in flight; every caller of connect() shares it. */
  private connecting: Promise<void> | undefined;
  /** The clients of the attempt in flight, so close() can abort it. */
  private readonly pendingClients = new Set<Client>();
  private closed = false;
  private readonly slots: Slots;
  private home: string | undefined;

  constructor(config: SshClusterConfig, options: SshSessionOptions = {}) {
    this._config = { ...config };
    this.promptFn = options.prompt;
    this.prepare = options.prepare;
    this.opts = {
      readyTimeoutMs: options.readyTimeoutMs ?? DEFAULTS.readyTimeoutMs,
      keepaliveIntervalMs: options.keepaliveIntervalMs ?? DEFAULTS.keepaliveIntervalMs,
      keepaliveCountMax: options.keepaliveCountMax ?? DEFAULTS.keepaliveCountMax,
      maxConcurrentExecs: options.maxConcurrentExecs ?? DEFAULTS.maxConcurrentExecs,
    };
    if (!(this.opts.maxConcurrentExecs >= 1)) throw new TypeError('maxConcurrentExecs must be at least 1');
    this.log = options.logger ?? NOOP_LOGGER;
    this.slots = new Slots(this.opts.maxConcurrentExecs);
  }

  get state(): SshState {
    return this._state;
  }

  get lastError(): string | undefined {
    return this._lastError;
  }

  /** The configuration of the last attempt (prepare() may replace it at each connect). */
  get config(): Readonly<SshClusterConfig> {
    return this._config;
  }

  /** Why the last connection attempt failed; cleared on success. */
  get lastFailure(): SshError | undefined {
    return this._lastFailure;
  }

  /** SHA256 fingerprint of the host key verified on the last successful connect. */
  get hostKeyFingerprint(): string | undefined {
    return this._hostKeyFingerprint;
  }

  /** Returns a disposer. Listeners run synchronously; their exceptions are logged, not thrown. */
  onStateChange(cb: SshStateListener): () => void {
    this.listeners.add(cb);
    return () => {
      this.listeners.delete(cb);
    };
  }

  /** Idempotent; concurrent callers share one attempt. After close() it rejects. */
  connect(): Promise<void> {
    if (this.closed) return Promise.reject(this.closedError());
    if (this.conn && !this.conn.gone) return Promise.resolve();
    if (!this.connecting) {
      this.connecting = this.openConnection().finally(() => {
        this.connecting = undefined;
      });
    }
    return this.connecting;
  }

  /**
   * Runs argv on the cluster through the login shell, every argument quoted,
   * so nothing in argv is ever interpreted by the shell. Resolves with the exit
   * code whatever it is; rejects only when the command's outcome is unknown.
   */
  exec(argv: readonly string[], opts: ExecOptions = {}): Promise<ExecResult> {
    let command: string;
    try {
      command = opts.cwd !== undefined ? shellCommandInDir(opts.cwd, argv) : shellCommand(argv);
      if (opts.timeoutMs !== undefined && !(opts.timeoutMs > 0)) throw new TypeError('timeoutMs must be > 0');
    } catch (err) {
      return Promise.reject(err);
    }
    const started = Date.now();
    return new Promise<ExecResult>((resolve, reject) => {
      let done = false;
      let channel: ClientChannel | undefined;
      const finish = (err: Error | undefined, result?: ExecResult) => {
        if (done) return;
        done = true;
        if (timer) clearTimeout(timer);
        const ms = Date.now() - started;
        if (err) {
          const kind = err instanceof SshError ? err.kind : err.name;
          this.log.debug('ssh exec failed', { cluster: this.config.name, command, ms, kind, error: err.message });
          reject(err);
        } else if (result) {
          this.log.debug('ssh exec', { cluster: this.config.name, command, ms, code: result.code, signal: result.signal });
          resolve(result);
        }
      };
      const timer =
        opts.timeoutMs === undefined
          ? undefined
          : setTimeout(() => {
              finish(
                new SshError(
                  'timeout',
                  `Command on cluster "${this.config.name}" timed out after ${opts.timeoutMs} ms: ${command}`,
                ),
              );
              if (channel) killChannel(channel);
            }, opts.timeoutMs);

      const run = async (retried: boolean): Promise<void> => {
        await this.connect();
        if (done) return;
        const release = await this.slots.acquire();
        if (done) {
          release();
          return;
        }
        const conn = this.conn;
        if (!conn || conn.gone) {
          // Dropped while we queued: reconnect rather than fail.
          release();
          return run(retried);
        }
        try {
          conn.client.exec(command, (err, stream) => {
            if (err) {
              release();
              finish(this.channelError(err, command));
              return;
            }
            channel = stream;
            if (done) {
              // Timed out while the channel was opening.
              stream.on('close', release);
              killChannel(stream);
              return;
            }
            this.collect(stream, opts.stdin, release, command, finish);
          });
        } catch (err) {
          // ssh2 throws "Not connected" when the socket died before we saw its
          // close event; nothing was sent, so one retry on a new connection is safe.
          release();
          this.dropConnection(conn, errorMessage(err));
          if (retried) throw this.channelError(err, command);
          return run(true);
        }
      };
      run(false).catch((err: unknown) => finish(toSshError(err, this.config.name)));
    });
  }

  /** Writes (creating or truncating) a remote file; mode is applied even if the file existed. */
  async writeFile(remotePath: string, data: string | Buffer, mode?: number): Promise<void> {
    const path = await this.resolvePath(remotePath);
    const sftp = await this.sftp();
    await this.sftpOp('write', path, (cb) =>
      mode === undefined ? sftp.writeFile(path, data, cb) : sftp.writeFile(path, data, { mode }, cb),
    );
    // The open's mode only applies when the file is created.
    if (mode !== undefined) await this.sftpOp('chmod', path, (cb) => sftp.chmod(path, mode, cb));
  }

  async readFile(remotePath: string): Promise<Buffer> {
    const path = await this.resolvePath(remotePath);
    const sftp = await this.sftp();
    return this.sftpOp<Buffer>('read', path, (cb) => sftp.readFile(path, cb));
  }

  /**
   * Up to `length` bytes from `offset` (fewer at the end of the file; none
   * past it): how a growing log is followed without reading it again.
   */
  async readRange(remotePath: string, offset: number, length: number): Promise<Buffer> {
    const path = await this.resolvePath(remotePath);
    const sftp = await this.sftp();
    const handle = await this.sftpOp<Buffer>('open', path, (cb) => sftp.open(path, 'r', cb));
    try {
      const chunks: Buffer[] = [];
      let got = 0;
      while (got < length) {
        const want = Math.min(length - got, 32 * 1024);
        const buf = Buffer.alloc(want);
        const n = await this.sftpOp<number>('read', path, (cb) =>
          sftp.read(handle, buf, 0, want, offset + got, (err, bytesRead) => cb(err ?? undefined, bytesRead)),
        ).catch((err: unknown) => {
          // SFTP reports reading at or past the end as an EOF status, not as 0 bytes.
          if (err instanceof SshError && err.sftpCode === 1) return 0;
          throw err;
        });
        if (n <= 0) break;
        chunks.push(buf.subarray(0, n));
        got += n;
      }
      return Buffer.concat(chunks);
    } finally {
      await new Promise<void>((resolve) => sftp.close(handle, () => resolve()));
    }
  }

  /** Rejects with an SshError kind 'sftp' (isNoSuchFile) when the path does not exist. */
  async stat(remotePath: string): Promise<RemoteStat> {
    const path = await this.resolvePath(remotePath);
    const sftp = await this.sftp();
    const st = await this.sftpOp<Stats>('stat', path, (cb) => sftp.stat(path, cb));
    return {
      size: st.size,
      mode: st.mode,
      uid: st.uid,
      gid: st.gid,
      atime: st.atime,
      mtime: st.mtime,
      isFile: st.isFile(),
      isDirectory: st.isDirectory(),
      isSymbolicLink: st.isSymbolicLink(),
    };
  }

  /** `mkdir -p`: creates missing parents; an existing directory is fine. */
  async mkdirp(remotePath: string): Promise<void> {
    const path = await this.resolvePath(remotePath);
    const sftp = await this.sftp();
    const absolute = path.startsWith('/');
    const parts = path.split('/').filter((p) => p !== '' && p !== '.');
    const prefix = (n: number) => (absolute ? '/' : '') + parts.slice(0, n).join('/');
    // Walk up to the deepest existing ancestor (usually the path itself, one
    // round trip), then create downwards.
    let existing = parts.length;
    for (; existing > 0; existing--) {
      try {
        const st = await this.stat(prefix(existing));
        if (!st.isDirectory) {
          throw new SshError('sftp', `Cannot create directory ${path} on cluster "${this.config.name}": ${prefix(existing)} is not a directory`);
        }
        break;
      } catch (err) {
        if (!isNoSuchFile(err)) throw err;
      }
    }
    for (let n = existing + 1; n <= parts.length; n++) {
      const dir = prefix(n);
      try {
        await this.sftpOp('mkdir', dir, (cb) => sftp.mkdir(dir, cb));
      } catch (err) {
        // Another writer may have created it in the meantime.
        const st = await this.stat(dir).catch(() => undefined);
        if (!st?.isDirectory) throw err;
      }
    }
  }

  /** The remote home directory (SFTP starts there; it does not expand `~`). */
  async homeDir(): Promise<string> {
    if (this.home === undefined) {
      const sftp = await this.sftp();
      this.home = await this.sftpOp<string>('realpath', '.', (cb) => sftp.realpath('.', cb));
    }
    return this.home;
  }

  /** Ends the connection. The session is finished: later calls reject with kind 'closed'. */
  async close(): Promise<void> {
    this.closed = true;
    // Abort an attempt in flight; its handshake promise then rejects 'closed'.
    for (const c of this.pendingClients) c.destroy();
    const conn = this.conn;
    if (conn && !conn.gone) {
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          conn.client.destroy();
          resolve();
        }, 2000);
        conn.client.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        conn.client.end();
      });
      for (const hop of [...conn.hops].reverse()) hop.end();
    }
    await this.connecting?.catch(() => undefined);
    this.conn = undefined;
    this.setState('disconnected', undefined);
  }

  // ---------------------------------------------------------------- connecting

  private async openConnection(): Promise<void> {
    // May refuse (backoff, connection cap) before anything is attempted.
    if (this.prepare) this._config = { ...(await this.prepare()) };
    if (this.closed) throw this.closedError();
    const started = Date.now();
    this.setState('connecting', this._lastError);
    const clients: Client[] = [];
    try {
      const endpoints = this.endpoints();
      const loaded = await Promise.all(endpoints.map((ep) => this.loadEndpoint(ep)));
      if (this.closed) throw this.closedError();
      let sock: Duplex | undefined;
      let conn: Connection | undefined;
      const lost = () => {
        if (conn && !conn.gone) this.connectionLost(conn);
      };
      for (let i = 0; i < endpoints.length; i++) {
        const ep = endpoints[i] as Endpoint;
        const client = await this.handshake(ep, loaded[i] as LoadedEndpoint, sock, lost);
        clients.push(client);
        const next = endpoints[i + 1];
        if (next) sock = await this.forward(client, ep, next);
      }
      if (this.closed) throw this.closedError();
      const client = clients[clients.length - 1] as Client;
      // Nagle + delayed ACK costs ~40 ms per command and per SFTP op. Through
      // jump hosts only the first client has a TCP socket; the others ignore it.
      for (const c of clients) c.setNoDelay(true);
      conn = { client, hops: clients.slice(0, -1), sftp: undefined, gone: false, error: undefined, sftpPending: new Set() };
      this.conn = conn;
      this._lastFailure = undefined;
      this.setState('ready', undefined);
      this.log.info('ssh connected', {
        cluster: this._config.name,
        host: this._config.host,
        port: this._config.port,
        via: endpoints.slice(0, -1).map((e) => `${e.host}:${e.port}`),
        ms: Date.now() - started,
        hostKey: this._hostKeyFingerprint,
      });
    } catch (err) {
      for (const c of clients.reverse()) c.destroy();
      const e = toSshError(err, this._config.name);
      const kind = e instanceof SshError ? e.kind : e.name;
      this.log.warn('ssh connect failed', { cluster: this._config.name, kind, error: e.message });
      if (e instanceof SshError) this._lastFailure = e;
      this.setState(this.closed ? 'disconnected' : 'failed', e.message);
      throw e;
    }
  }

  /** The hosts to log in to, in order: jump hosts, then the cluster. */
  private endpoints(): Endpoint[] {
    const c = this._config;
    const jumps = (c.jumps ?? []).map<Endpoint>((j) => ({
      role: 'jump',
      where: `jump host "${j.label}" (${j.host}:${j.port}) of cluster "${c.name}"`,
      host: j.host,
      port: j.port,
      user: j.user,
      identities: (j.identityFiles ?? []).map((path) => ({ path: expandLocalHome(path), required: false })),
      agents: j.identitiesOnly ? [] : (j.agents ?? []),
      knownHostsFile: expandLocalHome(j.knownHostsFile),
      hashKnownHosts: j.hashKnownHosts ?? false,
      kbdInteractiveAuth: j.kbdInteractiveAuth ?? true,
      passwordAuth: j.passwordAuth ?? true,
    }));
    const identities: Endpoint['identities'] = [];
    if (c.identityFile) identities.push({ path: expandLocalHome(c.identityFile), required: true });
    for (const path of c.identityFiles ?? []) {
      const p = expandLocalHome(path);
      if (!identities.some((i) => i.path === p)) identities.push({ path: p, required: false });
    }
    return [
      ...jumps,
      {
        role: 'target',
        where: `cluster "${c.name}" (${c.host}:${c.port})`,
        host: c.host,
        port: c.port,
        user: c.user,
        identities,
        agents: c.identitiesOnly ? [] : (c.agents ?? []),
        knownHostsFile: expandLocalHome(c.knownHostsFile),
        hashKnownHosts: c.hashKnownHosts ?? false,
        kbdInteractiveAuth: c.kbdInteractiveAuth ?? true,
        passwordAuth: c.passwordAuth ?? true,
      },
    ];
  }

  private async loadEndpoint(ep: Endpoint): Promise<LoadedEndpoint> {
    const keys: LoadedKey[] = [];
    for (const id of ep.identities) {
      const key = await this.loadIdentity(id.path, id.required);
      if (key) keys.push(key);
    }
    return { keys, knownHosts: await this.loadKnownHosts(ep.knownHostsFile) };
  }

  /** A channel from `via` to the next host, to carry the next SSH connection. */
  private forward(via: Client, viaEp: Endpoint, next: Endpoint): Promise<Duplex> {
    return new Promise<Duplex>((resolve, reject) => {
      try {
        via.forwardOut('127.0.0.1', 0, next.host, next.port, (err, stream) => {
          if (err) {
            reject(
              new SshError(
                'connect',
                `The ${viaEp.where} could not open a connection to ${next.host}:${next.port}: ${err.message}. ` +
                  `Check the host name and port, and that the jump host allows TCP forwarding (AllowTcpForwarding).`,
                { cause: err },
              ),
            );
            return;
          }
          resolve(stream);
        });
      } catch (err) {
        reject(new SshError('connect', `The connection to the ${viaEp.where} was lost: ${errorMessage(err)}`, { cause: err }));
      }
    });
  }

  /** Asks through the prompt option; the SshError to fail with when nobody can answer. */
  private async ask(req: SshPromptRequest, unanswerable: (why: string) => SshError): Promise<SshPromptAnswer> {
    if (!this.promptFn) throw unanswerable('no client that can ask you is connected');
    try {
      return await this.promptFn(req);
    } catch (err) {
      throw unanswerable(errorMessage(err));
    }
  }

  /** Logs in to one host; resolves with the client once it is ready. */
  private handshake(ep: Endpoint, loaded: LoadedEndpoint, sock: Duplex | undefined, lost: () => void): Promise<Client> {
    const { host, port, user } = ep;
    const readyTimeoutMs = this._config.readyTimeoutMs ?? this.opts.readyTimeoutMs;
    return new Promise<Client>((resolve, reject) => {
      const client = new Client();
      this.pendingClients.add(client);
      let settled = false;
      let hostKeyError: SshError | undefined;
      let authError: SshError | undefined;
      let offered: string | undefined;
      let ready = false;
      let timer: NodeJS.Timeout | undefined;
      // Our own handshake timer rather than ssh2's readyTimeout: it must
      // stop while a person is answering a prompt.
      const arm = () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          fail(new SshError('timeout', `Connecting to ${ep.where} timed out (no login within ${Math.round(readyTimeoutMs / 100) / 10} s).`));
        }, readyTimeoutMs);
      };
      const pause = () => clearTimeout(timer);

      const fail = (e: SshError) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        this.pendingClients.delete(client);
        client.end();
        client.destroy();
        reject(e);
      };

      // Permanent: ssh2 can emit a second error after the first (handshake
      // timeout, then "Connection lost before handshake"); with no listener
      // an 'error' event would crash the daemon.
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled && err.level === 'agent') {
          // ssh2 goes on to the next method by itself; ssh too just warns when an agent cannot be reached
          // (a stale SSH_AUTH_SOCK, the Windows OpenSSH agent's service stopped, Pageant not started).
          this.log.info('ssh agent not usable; trying the next method', { cluster: this._config.name, host, port, error: err.message });
          return;
        }
        if (!settled) {
          fail(hostKeyError ?? authError ?? (this.closed ? this.closedError() : this.connectError(ep, err, auth.tried)));
          return;
        }
        const conn = this.conn;
        if (ready && conn && (conn.client === client || conn.hops.includes(client))) {
          conn.error = ep.role === 'jump' ? `${ep.where}: ${err.message}` : err.message;
          this.log.warn('ssh connection error', { cluster: this._config.name, host, port, error: err.message, level: err.level });
        } else {
          this.log.debug('ssh error on a discarded connection', { cluster: this._config.name, error: err.message });
        }
      });

      client.on('ready', () => {
        if (settled || this.closed) {
          fail(this.closedError());
          return;
        }
        settled = true;
        ready = true;
        clearTimeout(timer);
        this.pendingClients.delete(client);
        if (ep.role === 'target') this._hostKeyFingerprint = offered;
        resolve(client);
      });

      const onGone = () => {
        if (!settled) {
          fail(
            hostKeyError ??
              authError ??
              (this.closed ? this.closedError() : undefined) ??
              new SshError('connect', `Connection to ${ep.where} was closed by the server during login.`),
          );
          return;
        }
        if (ready) lost();
      };
      client.on('end', onGone);
      client.on('close', onGone);

      const auth = this.authHandler(ep, loaded, { pause, arm, fail: (e) => fail(e), setError: (e) => (authError = e) });
      const algorithms = hostKeyAlgorithms(knownKeyTypesForHost(loaded.knownHosts, host, port));
      const cfg: ConnectConfig = {
        host,
        port,
        username: user,
        readyTimeout: 0,
        keepaliveInterval: this._config.keepaliveIntervalMs ?? this.opts.keepaliveIntervalMs,
        keepaliveCountMax: this._config.keepaliveCountMax ?? this.opts.keepaliveCountMax,
        // ssh2 accepts `false` from an async handler to give up; its types do not say so.
        authHandler: auth.handler as unknown as AuthHandlerMiddleware,
        hostVerifier: (key: Buffer, verify: (ok: boolean) => void): void => {
          const fp = fingerprintSha256(key);
          offered = fp;
          const check = this.checkHostKey(ep, loaded.knownHosts, key, fp);
          if (check.error === undefined) return verify(true);
          if (check.status !== 'unknown') {
            // A changed or revoked key is refused without asking.
            hostKeyError = check.error;
            return verify(false);
          }
          const keyType = keyTypeOfBlob(key) ?? 'unknown-type';
          pause();
          this.ask(
            {
              kind: 'host-key',
              title: `Unknown host key for ${ep.where}`,
              instructions:
                `The authenticity of ${host} (port ${port}) can't be established. Its ${keyType} key fingerprint is ${fp}. ` +
                `Trust it only if it matches what the cluster's admins publish; it will be added to ${ep.knownHostsFile}.`,
              prompts: [],
              hostKey: { host, port, keyType, fingerprint: fp },
            },
            (why) => new SshError('host-key-unknown', `${check.error!.message} (Nobody was asked: ${why}.)`, { fingerprint: fp, needsUser: true }),
          ).then(
            async (answer) => {
              if (answer.outcome !== 'accepted') {
                hostKeyError = new SshError(
                  'host-key-unknown',
                  `You did not accept the ${keyType} host key ${fp} of ${ep.where}; not connecting.`,
                  { fingerprint: fp },
                );
                return verify(false);
              }
              try {
                await appendKnownHost(ep.knownHostsFile, host, port, key, { hash: ep.hashKnownHosts });
                this.log.info('host key accepted and added to known_hosts', { cluster: this._config.name, host, port, fingerprint: fp, file: ep.knownHostsFile });
              } catch (err) {
                // Accepted for this connection; say why it will be asked again.
                this.log.warn('could not add the accepted host key to known_hosts', { file: ep.knownHostsFile, error: errorMessage(err) });
              }
              arm();
              verify(true);
            },
            (err: unknown) => {
              hostKeyError = err instanceof SshError ? err : new SshError('host-key-unknown', errorMessage(err), { fingerprint: fp, needsUser: true });
              verify(false);
            },
          );
        },
      };
      if (algorithms) cfg.algorithms = { serverHostKey: algorithms };
      if (sock) cfg.sock = sock;
      this.log.debug('ssh connecting', { cluster: this._config.name, host, port, user, via: sock ? 'jump' : 'direct' });
      arm();
      try {
        client.connect(cfg);
      } catch (err) {
        fail(new SshError('connect', `Cannot connect to ${ep.where}: ${errorMessage(err)}`, { cause: err }));
      }
    });
  }

  /**
   * The order OpenSSH uses, minus what a daemon cannot do: "none" (to learn
   * the methods the server allows), keys without a passphrase, the agent's
   * keys, keys with a passphrase (asked), keyboard-interactive (asked), then
   * password (asked). A rejected answer ends the attempt: a person retries,
   * never a loop, so a typo cannot lock an account.
   */
  private authHandler(
    ep: Endpoint,
    loaded: LoadedEndpoint,
    h: { pause: () => void; arm: () => void; fail: (e: SshError) => void; setError: (e: SshError) => void },
  ): { handler: (methodsLeft: AuthenticationType[] | null, partial: boolean | null, next: (auth: unknown) => void) => void; tried: string[] } {
    const { user } = ep;
    const tried: string[] = [];
    const plain = loaded.keys.filter((k) => k.parsed !== undefined);
    const encrypted = loaded.keys.filter((k) => k.parsed === undefined);
    type Step = { method: AuthenticationType; run: (next: (auth: unknown) => void) => void };
    const steps: Step[] = [];
    let answered: 'keyboard-interactive' | 'password' | undefined;
    let wrongPassphrase: string | undefined;
    const needsUser = (why: string, what: string, kind: SshErrorKind = 'auth') =>
      new SshError(kind, `Logging in to ${ep.where} needs ${what}, but nobody was asked: ${why}.`, { needsUser: true });
    const cancelled = (what: string) => new SshError('auth', `Login to ${ep.where} cancelled: you did not answer the ${what} prompt.`);

    for (const k of plain) {
      steps.push({
        method: 'publickey',
        run: (next) => {
          tried.push(`key ${k.path}`);
          next({ type: 'publickey', username: user, key: k.parsed });
        },
      });
    }
    for (const agent of ep.agents) {
      steps.push({
        method: 'publickey',
        run: (next) => {
          tried.push(`agent ${agent}`);
          next({ type: 'agent', username: user, agent });
        },
      });
    }
    for (const k of encrypted) {
      steps.push({
        method: 'publickey',
        run: (next) => {
          h.pause();
          const attempt = (n: number): void => {
            this.ask(
              {
                kind: 'passphrase',
                title: `Passphrase for ${k.path}`,
                instructions: n > 1 ? `Wrong passphrase; try again (attempt ${n} of 3).` : `To log in to ${ep.where} as ${user}.`,
                prompts: [{ prompt: `Enter passphrase for key ${k.path}: `, echo: false }],
                hostKey: null,
              },
              (why) => needsUser(why, `the passphrase of ${k.path}`, 'identity'),
            ).then(
              (answer) => {
                if (answer.outcome !== 'answered' || answer.answers[0] === undefined) return h.fail(cancelled('passphrase'));
                const parsed = utils.parseKey(k.data, answer.answers[0]) as ParsedKey | ParsedKey[] | Error;
                if (parsed instanceof Error) {
                  if (n < 3) return attempt(n + 1);
                  wrongPassphrase = k.path;
                  tried.push(`key ${k.path} (wrong passphrase 3 times)`);
                  h.arm();
                  return next(undefined);
                }
                tried.push(`key ${k.path}`);
                h.arm();
                next({ type: 'publickey', username: user, key: Array.isArray(parsed) ? parsed[0] : parsed });
              },
              (err: SshError) => h.fail(err),
            );
          };
          attempt(1);
        },
      });
    }
    if (ep.kbdInteractiveAuth && this.promptFn) {
      steps.push({
        method: 'keyboard-interactive',
        run: (next) => {
          tried.push('keyboard-interactive');
          next({
            type: 'keyboard-interactive',
            username: user,
            prompt: (name: string, instructions: string, _lang: string, prompts: { prompt: string; echo?: boolean }[], finish: (answers: string[]) => void) => {
              h.pause();
              this.ask(
                {
                  kind: 'keyboard-interactive',
                  title: name ? `${name} (${user}@${ep.host})` : `Login to ${user}@${ep.host}${ep.role === 'jump' ? ' (jump host)' : ''}`,
                  instructions: instructions || null,
                  prompts: prompts.map((p) => ({ prompt: p.prompt, echo: p.echo ?? false })),
                  hostKey: null,
                },
                (why) => needsUser(why, 'answers to keyboard-interactive prompts'),
              ).then(
                (answer) => {
                  if (answer.outcome !== 'answered') return h.fail(cancelled('keyboard-interactive'));
                  answered = 'keyboard-interactive';
                  h.arm();
                  finish(prompts.map((_p, i) => answer.answers[i] ?? ''));
                },
                (err: SshError) => h.fail(err),
              );
            },
          });
        },
      });
    }
    if (ep.passwordAuth && this.promptFn) {
      steps.push({
        method: 'password',
        run: (next) => {
          h.pause();
          this.ask(
            {
              kind: 'password',
              title: `Password for ${user}@${ep.host}${ep.role === 'jump' ? ' (jump host)' : ''}`,
              instructions: `To log in to ${ep.where}.`,
              prompts: [{ prompt: `${user}@${ep.host}'s password: `, echo: false }],
              hostKey: null,
            },
            (why) => needsUser(why, 'a password'),
          ).then(
            (answer) => {
              if (answer.outcome !== 'answered' || answer.answers[0] === undefined) return h.fail(cancelled('password'));
              tried.push('password');
              answered = 'password';
              h.arm();
              next({ type: 'password', username: user, password: answer.answers[0] });
            },
            (err: SshError) => h.fail(err),
          );
        },
      });
    }

    let sentNone = false;
    let i = 0;
    const handler = (methodsLeft: AuthenticationType[] | null, _partial: boolean | null, next: (auth: unknown) => void): void => {
      if (!sentNone) {
        sentNone = true;
        next({ type: 'none', username: user });
        return;
      }
      if (answered) {
        // The server refused what the person typed: stop here.
        const e = new SshError(
          'auth',
          answered === 'password'
            ? `Authentication as ${user} on ${ep.where} failed: the server did not accept the password.`
            : `Authentication as ${user} on ${ep.where} failed: the server did not accept the answers to its keyboard-interactive prompts.`,
        );
        h.setError(e);
        next(false);
        return;
      }
      const advance = (auth: unknown): void => {
        if (auth !== undefined) return next(auth);
        handler(methodsLeft, _partial, next);
      };
      while (i < steps.length) {
        const step = steps[i++] as Step;
        if (methodsLeft && !methodsLeft.includes(step.method)) continue;
        step.run(advance);
        return;
      }
      const allowed = methodsLeft ? methodsLeft.join(', ') : 'unknown';
      let e: SshError;
      if (wrongPassphrase && tried.every((t) => t.includes('wrong passphrase'))) {
        e = new SshError('identity', `Wrong passphrase for ${wrongPassphrase} (3 attempts); not logged in to ${ep.where}.`);
      } else if (!this.promptFn && (encrypted.length > 0 || methodsLeft?.some((m) => m === 'password' || m === 'keyboard-interactive'))) {
        const what =
          encrypted.length > 0
            ? `the passphrase of ${encrypted.map((k) => k.path).join(', ')} (the key is protected by a passphrase)`
            : `a password or keyboard-interactive answers (the server allows ${allowed})`;
        e = new SshError(encrypted.length > 0 ? 'identity' : 'auth', `Logging in as ${user} to ${ep.where} needs ${what}, and no client that can ask you is connected.`, {
          needsUser: true,
        });
      } else {
        const keys = ep.identities.map((id) => id.path);
        e = new SshError(
          'auth',
          `Authentication as ${user} on ${ep.where} failed: the server (allowing ${allowed}) accepted none of ${tried.length > 0 ? tried.join(', ') : 'the methods available'}.` +
            (keys.length > 0 ? ` Check the user name, and that the public key of ${keys.join(' or ')} is in ~/.ssh/authorized_keys there.` : ' No identity file is configured for it.'),
        );
      }
      h.setError(e);
      next(false);
    };
    return { handler, tried };
  }

  /** The host key's status, and the error to report unless it is trusted. */
  private checkHostKey(ep: Endpoint, entries: KnownHostEntry[], key: Buffer, fp: string): { status: string; error: SshError | undefined } {
    const { host, port } = ep;
    const file = ep.knownHostsFile;
    const keyType = keyTypeOfBlob(key) ?? 'unknown-type';
    const where = ep.where;
    const lookup = shellQuote(knownHostsLookupName(host, port));
    const scan = `ssh-keyscan -p ${port} ${shellQuote(host)}`;
    const result = checkHostKey(entries, host, port, keyType, key);
    switch (result.status) {
      case 'match':
        return { status: 'match', error: undefined };
      case 'unknown': {
        const other =
          result.otherKeyTypes.length > 0
            ? ` Keys of other types (${result.otherKeyTypes.join(', ')}) are known for this host, so a server offering a new type is suspicious.`
            : '';
        return {
          status: 'unknown',
          error: new SshError(
            'host-key-unknown',
            `Host key for ${where} is not known: the server offered ${keyType} key ${fp}, and ${file} has no ${keyType} entry for ${lookup}.${other} ` +
              `Confirm the fingerprint with the cluster's admins, then add it, e.g. \`${scan} >> ${shellQuote(file)}\` ` +
              `(check what was added with \`ssh-keygen -lf ${shellQuote(file)}\`), or connect once with \`ssh -p ${port} ${shellQuote(`${ep.user}@${host}`)}\` and accept the key.`,
            { fingerprint: fp },
          ),
        };
      }
      case 'changed':
        return {
          status: 'changed',
          error: new SshError(
            'host-key-changed',
            `HOST KEY CHANGED for ${where}: the server offered ${keyType} key ${fp}, but ${file} lists ${result.knownFingerprints.join(', ')} for ${lookup}. ` +
              `Someone may be intercepting the connection, or the server was reinstalled. Refusing to connect. ` +
              `If the cluster's admins confirm the new key, remove the old one with \`ssh-keygen -R ${lookup} -f ${shellQuote(file)}\` ` +
              `and add the new one (\`${scan} >> ${shellQuote(file)}\`).`,
            { fingerprint: fp },
          ),
        };
      case 'revoked':
        return {
          status: 'revoked',
          error: new SshError(
            'host-key-revoked',
            `Host key for ${where} is REVOKED: the server offered ${keyType} key ${fp}, which ${file} marks @revoked. Refusing to connect; contact the cluster's admins.`,
            { fingerprint: fp },
          ),
        };
    }
  }

  private connectError(ep: Endpoint, err: Error & { level?: string; code?: string }, tried: string[]): SshError {
    const where = ep.where;
    switch (err.level) {
      case 'client-socket':
      case 'client-dns':
        return new SshError(
          'connect',
          `Cannot connect to ${where}: ${err.code ?? err.message}. Check the host name and port, and that sshd is running there.`,
          { cause: err },
        );
      case 'client-timeout':
        return new SshError('timeout', `Connecting to ${where} timed out (${err.message}).`, { cause: err });
      case 'client-authentication':
        return new SshError(
          'auth',
          `Authentication as ${ep.user} on ${where} failed${tried.length > 0 ? ` (tried ${tried.join(', ')})` : ''}: ${err.message}.`,
          { cause: err },
        );
      default:
        return new SshError('connect', `SSH connection to ${where} failed: ${err.message}`, { cause: err });
    }
  }

  /** A key to offer; undefined for an optional file that is missing or unusable (ssh skips those too). */
  private async loadIdentity(path: string, required: boolean): Promise<LoadedKey | undefined> {
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      if (!required) return undefined;
      const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new SshError('identity', `Cannot read identity file ${path} for cluster "${this._config.name}": ${code}.`, { cause: err });
    }
    const parsed = utils.parseKey(data) as ParsedKey | ParsedKey[] | Error;
    if (parsed instanceof Error) {
      if (/passphrase|encrypted/i.test(parsed.message)) return { path, data, parsed: undefined };
      if (!required) {
        this.log.debug('ssh identity skipped', { path, error: parsed.message });
        return undefined;
      }
      throw new SshError('identity', `Identity file ${path} is not a private key ssh2 can read: ${parsed.message}`, { cause: parsed });
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || !key.isPrivateKey()) {
      if (!required) return undefined;
      throw new SshError('identity', `Identity file ${path} holds a public key; point it at the private key (the file without .pub).`);
    }
    return { path, data, parsed: key };
  }

  private async loadKnownHosts(path: string): Promise<KnownHostEntry[]> {
    try {
      return await readKnownHostsFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new SshError(
        'host-key-unknown',
        `Cannot read known_hosts file ${path} for cluster "${this._config.name}" (${code}), so the server's host key cannot be checked.`,
        { cause: err },
      );
    }
  }

  private connectionLost(conn: Connection): void {
    conn.gone = true;
    const pending = [...conn.sftpPending];
    conn.sftpPending.clear();
    for (const fail of pending) fail(new SshError('closed', `The connection to cluster "${this.config.name}" was lost during an SFTP operation: ${conn.error ?? 'closed by the server'}`));
    // The jump host connections only carried this one.
    for (const hop of conn.hops) hop.destroy();
    if (this.conn !== conn) return;
    this.conn = undefined;
    if (this.closed) return;
    const why = conn.error ?? 'connection closed by the server';
    this.log.warn('ssh connection lost', { cluster: this.config.name, reason: why });
    this.setState('disconnected', why);
  }

  /** Forget a connection that is unusable even though ssh2 has not said so yet. */
  private dropConnection(conn: Connection, why: string): void {
    if (conn.gone) return;
    conn.error ??= why;
    this.connectionLost(conn);
    conn.client.destroy();
  }

  // ---------------------------------------------------------------- exec

  private collect(
    stream: ClientChannel,
    stdin: string | Buffer | undefined,
    release: () => void,
    command: string,
    finish: (err: Error | undefined, result?: ExecResult) => void,
  ): void {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let exit: { code: number | null; signal: string | null } | undefined;
    let closed = false;
    let stderrEnded = false;
    const maybeDone = () => {
      // 'close' waits for stdout to end but not stderr; wait for both so no
      // stderr is lost.
      if (!closed || !stderrEnded) return;
      if (!exit) {
        finish(
          new SshError(
            'closed',
            `The connection to cluster "${this.config.name}" was lost while running \`${command}\`; it may or may not have completed.`,
          ),
        );
        return;
      }
      finish(undefined, {
        code: exit.code,
        signal: exit.signal,
        stdout: Buffer.concat(out).toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    };
    stream.on('data', (b: Buffer) => out.push(b));
    stream.stderr.on('data', (b: Buffer) => err.push(b));
    stream.on('exit', (code: number | null, signal?: string) => {
      exit = { code: code ?? null, signal: signal ?? null };
    });
    stream.stderr.on('end', () => {
      stderrEnded = true;
      maybeDone();
    });
    stream.on('close', () => {
      closed = true;
      release();
      if (stream.stderr.readableEnded) stderrEnded = true;
      maybeDone();
    });
    // Writing stdin to a command that already exited can fail; the outcome
    // is still decided by exit/close.
    stream.on('error', (e: Error) => this.log.debug('ssh channel error', { cluster: this.config.name, error: e.message }));
    // Always send EOF, so commands that read stdin do not wait forever.
    if (stdin === undefined) stream.end();
    else stream.end(stdin);
  }

  private channelError(err: unknown, what: string): SshError {
    const msg = errorMessage(err);
    if (/No response from server|Not connected/i.test(msg)) {
      return new SshError('closed', `The connection to cluster "${this.config.name}" was lost before \`${what}\` started: ${msg}`, { cause: err });
    }
    return new SshError('channel', `Cluster "${this.config.name}" refused to run \`${what}\`: ${msg}`, { cause: err });
  }

  // ---------------------------------------------------------------- sftp

  private async sftp(): Promise<SFTPWrapper> {
    for (let attempt = 0; ; attempt++) {
      await this.connect();
      const conn = this.conn;
      if (!conn || conn.gone) continue;
      if (!conn.sftp) {
        const opening = new Promise<SFTPWrapper>((resolve, reject) => {
          try {
            conn.client.sftp((err, sftp) => {
              if (err) {
                reject(this.channelError(err, 'sftp'));
                return;
              }
              // Reopen on next use if the server closes the subsystem.
              sftp.on('close', () => {
                if (conn.sftp === opening) conn.sftp = undefined;
              });
              sftp.on('error', (e: Error) => this.log.debug('ssh sftp error', { cluster: this.config.name, error: e.message }));
              resolve(sftp);
            });
          } catch (err) {
            this.dropConnection(conn, errorMessage(err));
            reject(this.channelError(err, 'sftp'));
          }
        });
        conn.sftp = opening;
        opening.catch(() => {
          if (conn.sftp === opening) conn.sftp = undefined;
        });
      }
      try {
        return await conn.sftp;
      } catch (err) {
        if (attempt >= 1 || !(err instanceof SshError) || err.kind !== 'closed') throw err;
      }
    }
  }

  private sftpOp<T = void>(op: string, path: string, call: (cb: (err: Error | null | undefined, value: T) => void) => void): Promise<T> {
    const conn = this.conn;
    return new Promise<T>((resolve, reject) => {
      let settled = false;
      const fail = (err: SshError) => {
        if (settled) return;
        settled = true;
        reject(err);
      };
      if (conn?.gone) {
        fail(new SshError('closed', `The connection to cluster "${this.config.name}" was lost before SFTP ${op} ${path}`));
        return;
      }
      conn?.sftpPending.add(fail);
      call((err, value) => {
        conn?.sftpPending.delete(fail);
        if (settled) return;
        settled = true;
        if (!err) {
          resolve(value);
          return;
        }
        const code = (err as Error & { code?: unknown }).code;
        if (typeof code === 'number') {
          reject(new SshError('sftp', `SFTP ${op} ${path} on cluster "${this.config.name}" failed: ${err.message}`, { cause: err, sftpCode: code }));
        } else {
          reject(this.channelError(err, `sftp ${op} ${path}`));
        }
      });
    });
  }

  /** SFTP paths are literal; expand `~` and `~/` against the remote home. */
  private async resolvePath(remotePath: string): Promise<string> {
    if (remotePath === '~') return this.homeDir();
    if (remotePath.startsWith('~/')) return (await this.homeDir()).replace(/\/$/, '') + remotePath.slice(1);
    return remotePath;
  }

  // ---------------------------------------------------------------- misc

  private setState(state: SshState, lastError: string | undefined): void {
    if (state === this._state && lastError === this._lastError) return;
    this._state = state;
    this._lastError = lastError;
    for (const cb of [...this.listeners]) {
      try {
        cb(state, lastError);
      } catch (err) {
        this.log.error('ssh state listener threw', { cluster: this.config.name, error: errorMessage(err) });
      }
    }
  }

  private closedError(): SshError {
    return new SshError('closed', `The SSH session for cluster "${this.config.name}" was closed.`);
  }
}

/**
 * Host key algorithms with the types already in known_hosts first, as OpenSSH
 * does: otherwise a server with several host keys may pick one we do not know
 * and be refused although the host is known.
 */
function hostKeyAlgorithms(knownTypes: string[]): ServerHostKeyAlgorithm[] | undefined {
  const preferred = new Set<ServerHostKeyAlgorithm>();
  for (const t of knownTypes) {
    if (t === 'ssh-rsa') {
      preferred.add('rsa-sha2-512').add('rsa-sha2-256').add('ssh-rsa');
    } else if ((HOST_KEY_ALGORITHMS as string[]).includes(t)) {
      preferred.add(t as ServerHostKeyAlgorithm);
    }
  }
  if (preferred.size === 0) return undefined;
  return [...preferred, ...HOST_KEY_ALGORITHMS.filter((a) => !preferred.has(a))];
}

/** Ask the remote process to die, then close the channel. */
function killChannel(stream: ClientChannel): void {
  // ssh2's public stream.signal() does nothing once EOF has been sent (it
  // requires a writable stream), and exec always sends EOF at once. So send
  // the "signal" channel request through ssh2's protocol object (ssh2 1.x
  // internals; if they are missing we only close the channel). OpenSSH >= 7.9
  // delivers it to the command's process; without it a command that never
  // writes (e.g. `sleep`) would outlive the closed channel.
  const internals = stream as unknown as {
    _client?: { _protocol?: { signal?: (id: number, signal: string) => void } };
    outgoing?: { id?: unknown; state?: unknown };
  };
  const proto = internals._client?._protocol;
  const out = internals.outgoing;
  if (proto && typeof proto.signal === 'function' && typeof out?.id === 'number' && (out.state === 'open' || out.state === 'eof')) {
    try {
      proto.signal(out.id, 'KILL');
    } catch {
      // The connection may be going away; closing below is all we can do.
    }
  }
  stream.close();
}

/** `~/…` (on Windows `~\…` too) in a local path given by the user: this machine's home. */
function expandLocalHome(p: string): string {
  return expandTilde(p, hostPlatform().home, process.platform);
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

/** Programming errors (TypeError etc.) pass through unchanged. */
function toSshError(err: unknown, cluster: string): Error {
  if (err instanceof SshError) return err;
  if (err instanceof TypeError || err instanceof RangeError) return err;
  return new SshError('connect', `SSH error on cluster "${cluster}": ${errorMessage(err)}`, { cause: err });
}

/** A counting semaphore: at most `max` exec channels open at once, FIFO. */
class Slots {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(private readonly max: number) {}

  acquire(): Promise<() => void> {
    return new Promise((resolve) => {
      const grant = () => {
        this.active++;
        let released = false;
        resolve(() => {
          if (released) return;
          released = true;
          this.active--;
          this.waiting.shift()?.();
        });
      };
      if (this.active < this.max) grant();
      else this.waiting.push(grant);
    });
  }
}
