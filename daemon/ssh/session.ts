// One SSH connection per cluster, shared by every command and file transfer
// the daemon makes there: connecting costs ~100 ms and a login node may rate
// limit new connections (sshd MaxStartups), while channels on an open
// connection cost a few ms.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { Client, utils } from 'ssh2';
import type { ClientChannel, ConnectConfig, ParsedKey, ServerHostKeyAlgorithm, SFTPWrapper, Stats } from 'ssh2';
import {
  checkHostKey,
  fingerprintSha256,
  keyTypeOfBlob,
  knownHostsLookupName,
  knownKeyTypesForHost,
  readKnownHostsFile,
} from './knownHosts';
import type { KnownHostEntry } from './knownHosts';
import { shellCommand, shellCommandInDir, shellQuote } from './quote';

export interface SshClusterConfig {
  /** Cluster name, used in messages and logs. */
  name: string;
  host: string;
  port: number;
  user: string;
  /** Private key file (unencrypted for now). A leading `~/` is the local home. */
  identityFile: string;
  /** OpenSSH known_hosts file. A leading `~/` is the local home. */
  knownHostsFile: string;
}

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
  | 'sftp';

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

  constructor(
    kind: SshErrorKind,
    message: string,
    extra: { cause?: unknown; fingerprint?: string; sftpCode?: number } = {},
  ) {
    super(message, extra.cause === undefined ? undefined : { cause: extra.cause });
    this.kind = kind;
    this.fingerprint = extra.fingerprint;
    this.sftpCode = extra.sftpCode;
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

/** One live ssh2 connection and what hangs off it. */
interface Connection {
  client: Client;
  sftp: Promise<SFTPWrapper> | undefined;
  /** Set once end/close was seen or we dropped it. */
  gone: boolean;
  /** Error reported after ready (e.g. keepalive timeout), for lastError. */
  error: string | undefined;
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
  readonly config: Readonly<SshClusterConfig>;
  private readonly opts: Required<Omit<SshSessionOptions, 'logger'>>;
  private readonly log: SshLogger;

  private _state: SshState = 'disconnected';
  private _lastError: string | undefined;
  private _hostKeyFingerprint: string | undefined;
  private readonly listeners = new Set<SshStateListener>();

  private conn: Connection | undefined;
  /** The attempt in flight; every caller of connect() shares it. */
  private connecting: Promise<void> | undefined;
  /** The client of the attempt in flight, so close() can abort it. */
  private pendingClient: Client | undefined;
  private closed = false;
  private readonly slots: Slots;
  private home: string | undefined;

  constructor(config: SshClusterConfig, options: SshSessionOptions = {}) {
    this.config = { ...config };
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
    this.pendingClient?.destroy();
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
    }
    await this.connecting?.catch(() => undefined);
    this.conn = undefined;
    this.setState('disconnected', undefined);
  }

  // ---------------------------------------------------------------- connecting

  private async openConnection(): Promise<void> {
    const started = Date.now();
    this.setState('connecting', this._lastError);
    try {
      const [privateKey, knownHosts] = await Promise.all([this.loadIdentity(), this.loadKnownHosts()]);
      if (this.closed) throw this.closedError();
      await this.handshake(privateKey, knownHosts);
      this.log.info('ssh connected', {
        cluster: this.config.name,
        host: this.config.host,
        port: this.config.port,
        ms: Date.now() - started,
        hostKey: this._hostKeyFingerprint,
      });
    } catch (err) {
      const e = toSshError(err, this.config.name);
      const kind = e instanceof SshError ? e.kind : e.name;
      this.log.warn('ssh connect failed', { cluster: this.config.name, kind, error: e.message });
      this.setState(this.closed ? 'disconnected' : 'failed', e.message);
      throw e;
    }
  }

  private handshake(privateKey: Buffer, knownHosts: KnownHostEntry[]): Promise<void> {
    const { host, port, user } = this.config;
    return new Promise<void>((resolve, reject) => {
      const client = new Client();
      this.pendingClient = client;
      let settled = false;
      let hostKeyError: SshError | undefined;
      let offered: string | undefined;
      let conn: Connection | undefined;

      const fail = (e: SshError) => {
        if (settled) return;
        settled = true;
        if (this.pendingClient === client) this.pendingClient = undefined;
        client.end();
        client.destroy();
        reject(e);
      };

      // Permanent: ssh2 can emit a second error after the first (handshake
      // timeout, then "Connection lost before handshake"); with no listener
      // an 'error' event would crash the daemon.
      client.on('error', (err: Error & { level?: string }) => {
        if (!settled) {
          fail(hostKeyError ?? (this.closed ? this.closedError() : this.connectError(err)));
          return;
        }
        if (conn && this.conn === conn) {
          conn.error = err.message;
          this.log.warn('ssh connection error', { cluster: this.config.name, error: err.message, level: err.level });
        } else {
          this.log.debug('ssh error on a discarded connection', { cluster: this.config.name, error: err.message });
        }
      });

      client.on('ready', () => {
        if (settled || this.closed) {
          fail(this.closedError());
          return;
        }
        settled = true;
        this.pendingClient = undefined;
        // Nagle + delayed ACK costs ~40 ms per command and per SFTP op.
        client.setNoDelay(true);
        conn = { client, sftp: undefined, gone: false, error: undefined };
        this.conn = conn;
        this._hostKeyFingerprint = offered;
        this.setState('ready', undefined);
        resolve();
      });

      const onGone = () => {
        if (!settled) {
          fail(
            hostKeyError ??
              (this.closed ? this.closedError() : undefined) ??
              new SshError(
                'connect',
                `Connection to cluster "${this.config.name}" (${host}:${port}) was closed by the server during login.`,
              ),
          );
          return;
        }
        if (conn && !conn.gone) this.connectionLost(conn);
      };
      client.on('end', onGone);
      client.on('close', onGone);

      const algorithms = hostKeyAlgorithms(knownKeyTypesForHost(knownHosts, host, port));
      const cfg: ConnectConfig = {
        host,
        port,
        username: user,
        privateKey,
        readyTimeout: this.opts.readyTimeoutMs,
        keepaliveInterval: this.opts.keepaliveIntervalMs,
        keepaliveCountMax: this.opts.keepaliveCountMax,
        // Never fall back to an agent or to keyboard-interactive prompts.
        tryKeyboard: false,
        hostVerifier: (key: Buffer): boolean => {
          const fp = fingerprintSha256(key);
          offered = fp;
          const err = this.checkHostKey(knownHosts, key, fp);
          if (err) hostKeyError = err;
          return err === undefined;
        },
      };
      if (algorithms) cfg.algorithms = { serverHostKey: algorithms };
      this.log.debug('ssh connecting', { cluster: this.config.name, host, port, user });
      try {
        client.connect(cfg);
      } catch (err) {
        // ssh2 parses the key synchronously here.
        fail(new SshError('identity', `Cannot use identity file ${this.identityPath()}: ${errorMessage(err)}`, { cause: err }));
      }
    });
  }

  /** undefined when the key is trusted; otherwise the error to report. */
  private checkHostKey(entries: KnownHostEntry[], key: Buffer, fp: string): SshError | undefined {
    const { name, host, port } = this.config;
    const file = this.knownHostsPath();
    const keyType = keyTypeOfBlob(key) ?? 'unknown-type';
    const where = `cluster "${name}" (${host}:${port})`;
    const lookup = shellQuote(knownHostsLookupName(host, port));
    const scan = `ssh-keyscan -p ${port} ${shellQuote(host)}`;
    const result = checkHostKey(entries, host, port, keyType, key);
    switch (result.status) {
      case 'match':
        return undefined;
      case 'unknown': {
        const other =
          result.otherKeyTypes.length > 0
            ? ` Keys of other types (${result.otherKeyTypes.join(', ')}) are known for this host, so a server offering a new type is suspicious.`
            : '';
        return new SshError(
          'host-key-unknown',
          `Host key for ${where} is not known: the server offered ${keyType} key ${fp}, and ${file} has no ${keyType} entry for ${lookup}.${other} ` +
            `Confirm the fingerprint with the cluster's admins, then add it, e.g. \`${scan} >> ${shellQuote(file)}\` ` +
            `(check what was added with \`ssh-keygen -lf ${shellQuote(file)}\`), or connect once with \`ssh -p ${port} ${sshTarget(this.config)}\` and accept the key.`,
          { fingerprint: fp },
        );
      }
      case 'changed':
        return new SshError(
          'host-key-changed',
          `HOST KEY CHANGED for ${where}: the server offered ${keyType} key ${fp}, but ${file} lists ${result.knownFingerprints.join(', ')} for ${lookup}. ` +
            `Someone may be intercepting the connection, or the server was reinstalled. Refusing to connect. ` +
            `If the cluster's admins confirm the new key, remove the old one with \`ssh-keygen -R ${lookup} -f ${shellQuote(file)}\` ` +
            `and add the new one (\`${scan} >> ${shellQuote(file)}\`).`,
          { fingerprint: fp },
        );
      case 'revoked':
        return new SshError(
          'host-key-revoked',
          `Host key for ${where} is REVOKED: the server offered ${keyType} key ${fp}, which ${file} marks @revoked. Refusing to connect; contact the cluster's admins.`,
          { fingerprint: fp },
        );
    }
  }

  private connectError(err: Error & { level?: string; code?: string }): SshError {
    const { name, host, port, user } = this.config;
    const where = `cluster "${name}" (${host}:${port})`;
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
          `Authentication as ${user} on ${where} failed with identity file ${this.identityPath()}: the server did not accept the key. ` +
            `Check the user name, and that ${this.identityPath()}.pub is in ~/.ssh/authorized_keys on the cluster.`,
          { cause: err },
        );
      default:
        return new SshError('connect', `SSH connection to ${where} failed: ${err.message}`, { cause: err });
    }
  }

  private async loadIdentity(): Promise<Buffer> {
    const path = this.identityPath();
    let data: Buffer;
    try {
      data = await readFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new SshError('identity', `Cannot read identity file ${path} for cluster "${this.config.name}": ${code}.`, { cause: err });
    }
    const parsed = utils.parseKey(data) as ParsedKey | ParsedKey[] | Error;
    if (parsed instanceof Error) {
      if (/passphrase|encrypted/i.test(parsed.message)) {
        throw new SshError(
          'identity',
          `Identity file ${path} for cluster "${this.config.name}" is protected by a passphrase, which slurm-ml cannot use yet. ` +
            `Use a key without a passphrase for this cluster.`,
          { cause: parsed },
        );
      }
      throw new SshError('identity', `Identity file ${path} is not a private key ssh2 can read: ${parsed.message}`, { cause: parsed });
    }
    const key = Array.isArray(parsed) ? parsed[0] : parsed;
    if (!key || !key.isPrivateKey()) {
      throw new SshError('identity', `Identity file ${path} holds a public key; point it at the private key (the file without .pub).`);
    }
    return data;
  }

  private async loadKnownHosts(): Promise<KnownHostEntry[]> {
    const path = this.knownHostsPath();
    try {
      return await readKnownHostsFile(path);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? errorMessage(err);
      throw new SshError(
        'host-key-unknown',
        `Cannot read known_hosts file ${path} for cluster "${this.config.name}" (${code}), so the server's host key cannot be checked.`,
        { cause: err },
      );
    }
  }

  private connectionLost(conn: Connection): void {
    conn.gone = true;
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
    return new Promise<T>((resolve, reject) => {
      call((err, value) => {
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

  private identityPath(): string {
    return expandLocalHome(this.config.identityFile);
  }

  private knownHostsPath(): string {
    return expandLocalHome(this.config.knownHostsFile);
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

function sshTarget(cfg: SshClusterConfig): string {
  return shellQuote(`${cfg.user}@${cfg.host}`);
}

function expandLocalHome(p: string): string {
  if (p === '~') return homedir();
  if (p.startsWith('~/')) return homedir() + p.slice(1);
  return p;
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
