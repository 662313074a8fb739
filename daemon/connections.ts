// One SSH session per cluster (a local cluster: commands on this machine,
// local/session.ts), kept and shared by every request and the
// poller. Each connect resolves the cluster's ssh config afresh, asks a
// person (through a client) for what a login needs, and is rationed: failed
// attempts back off exponentially with full jitter, new connections are
// capped per cluster per rolling minute, and logins that need a person are
// never retried by the daemon on its own. State changes are pushed to
// clients as notifications.
import type { z } from 'zod';
import { ErrorCode, type ConnectionState, type SshPrompt } from './protocol';
import { RpcError } from './rpc/connection';
import { SshError, SshSession, type SshClusterConfig, type SshPromptAnswer, type SshPromptRequest } from './ssh/session';
import {
  SshConfigError,
  defaultIdentityFiles,
  defaultResolveContext,
  loadSshConfig,
  resolveChain,
  systemSshConfigFile,
  userSshFile,
  type ResolveContext,
  type SshConfigFile,
} from './ssh/sshConfig';
import type { ClusterRecord } from './db/registry';
import { LocalSession } from './local/session';
import type { ClientSession } from './server';
import type { Logger } from './log';
import { parseSlurmVersion, slurmSupport, slurmVersionCommand, type SlurmVersion } from './slurm/version';

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
  /** Up to length bytes from offset; empty at or past the end. */
  readRange(remotePath: string, offset: number, length: number): Promise<Buffer>;
  stat(remotePath: string): Promise<{ size: number; mtime: number }>;
  /**
   * The cluster's SLURM release, read once per connection (`sinfo --version`);
   * null when it could not be read. Absent where no connection read it
   * (test doubles): command builders then use what every checked release has.
   */
  readonly slurmVersion?: SlurmVersion | null;
}

export interface SessionOptions {
  readyTimeoutMs?: number;
  keepaliveIntervalMs?: number;
  keepaliveCountMax?: number;
}

export type SshPromptParams = z.input<(typeof SshPrompt)['params']>;

/** Finds a person to answer an `ssh/prompt` (implemented over the daemon's clients in prompter.ts). */
export interface Prompter {
  /**
   * Asks `preferred` if it can answer prompts, else any client that can.
   * Resolves null when no connected client can; rejects when the client
   * asked did not answer (timeout, disconnect).
   */
  prompt(request: SshPromptParams, preferred?: ClientSession): Promise<SshPromptAnswer | null>;
  /** Whether some connected client could answer a prompt now. */
  canPrompt(preferred?: ClientSession): boolean;
}

export interface ConnectionsOptions extends SessionOptions {
  /** New SSH connections per cluster in any rolling 60 s. Default 2. */
  connectionsPerMinute?: number;
  prompter?: Prompter;
  /** First backoff ceiling after a failed attempt; doubles per consecutive failure. Default 2 s. */
  backoffBaseMs?: number;
  /** Backoff ceiling. Default 5 min. */
  backoffMaxMs?: number;
  /** For records without their own: default ~/.ssh/config (plus /etc/ssh/ssh_config, as ssh reads it). */
  sshConfigFile?: string;
  /** Home, local user and environment for ssh config resolution (tests). */
  resolveContext?: ResolveContext;
  /** Random number in [0, 1) for the jitter (tests). */
  random?: () => number;
  /** Told of every command run and every new connection attempt (the metrics). */
  observer?: { command(cluster: string): void; connectionAttempt(cluster: string): void };
}

/** Who asks for a session. */
export interface SessionRequest {
  /** The client whose request needs the connection: asked first when a login needs a person. */
  promptVia?: ClientSession;
  /**
   * Set by the poller and other work nobody is waiting for: such calls do
   * not retry a login that failed for want of a person (wrong password,
   * rejected host key) — only a person's next request does.
   */
  background?: boolean;
}

export interface ConnectionBudget {
  commandsLastMinute: number;
  connectionsLastMinute: number;
  connectionsPerMinuteCap: number;
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
  throttled: ErrorCode.SshConnectFailed,
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
  if (err instanceof SshConfigError) return new RpcError(ErrorCode.SshConnectFailed, `cluster ${cluster}: ${err.message}`);
  return new RpcError(ErrorCode.InternalError, `cluster ${cluster}: ${(err as Error)?.message ?? String(err)}`);
}

/** Failures a retry cannot fix without a person. */
const PERSON_KINDS = new Set(['host-key-unknown', 'host-key-changed', 'host-key-revoked', 'auth', 'identity']);
const MINUTE = 60_000;

class Entry {
  state: ConnectionState = { status: 'disconnected', message: null, since: new Date().toISOString(), retryAt: null };
  /** Consecutive failed attempts that backoff applies to. */
  failures = 0;
  /** Callers waiting in session(), newest last. */
  readonly waiters: SessionRequest[] = [];
  session!: SshSession;
  /** The SLURM version of the current connection: read at its first use, forgotten when a new connection is made. */
  slurm: Promise<SlurmVersion | null | undefined> | undefined;
  closing = false;
  constructor(public cluster: ClusterRecord) {}
}

export class ClusterConnections {
  private readonly entries = new Map<string, Entry>();
  /** Local clusters' sessions (no connection to keep: "ready" from first use) and states, by name. */
  private readonly locals = new Map<string, { id: string; session: LocalSession; slurm?: Promise<SlurmVersion | null | undefined> }>();
  private readonly localStates = new Map<string, ConnectionState>();
  private readonly listeners = new Set<(name: string, state: ConnectionState) => void>();
  /** Start times of connection attempts and of commands, per cluster name (kept across remove/add). */
  private readonly attempts = new Map<string, number[]>();
  private readonly commands = new Map<string, number[]>();
  private readonly cap: number;
  private readonly ctx: ResolveContext;
  private readonly random: () => number;

  constructor(
    private readonly log: Logger,
    private readonly options: ConnectionsOptions = {},
  ) {
    this.cap = options.connectionsPerMinute ?? 2;
    if (!(this.cap >= 1)) throw new TypeError('connectionsPerMinute must be at least 1');
    this.ctx = options.resolveContext ?? defaultResolveContext();
    this.random = options.random ?? Math.random;
  }

  onStateChange(listener: (name: string, state: ConnectionState) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  state(name: string): ConnectionState {
    const local = this.localStates.get(name);
    if (local) return local;
    return this.entries.get(name)?.state ?? { status: 'disconnected', message: null, since: new Date(0).toISOString(), retryAt: null };
  }

  /** How hard the daemon is using this cluster's SSH server. */
  budget(name: string): ConnectionBudget {
    return {
      commandsLastMinute: recent(this.commands, name, Date.now()).length,
      connectionsLastMinute: recent(this.attempts, name, Date.now()).length,
      connectionsPerMinuteCap: this.cap,
    };
  }

  /**
   * The cluster's session, connected. Errors are RpcErrors naming the
   * cluster. While the cluster is in backoff or over the per-minute cap it
   * rejects at once (SshConnectFailed) saying when the next attempt may start.
   */
  async session(cluster: ClusterRecord, req: SessionRequest = {}): Promise<RemoteSession & { hostKeyFingerprint: string | undefined }> {
    if (cluster.kind === 'local') return this.localSession(cluster);
    const e = this.entry(cluster);
    e.waiters.push(req);
    try {
      await e.session.connect();
    } catch (err) {
      if (err instanceof SshError && err.kind === 'throttled') {
        // No attempt was made; a person asked and was refused, which is worth a warning.
        const fields = { cluster: cluster.name, reason: err.message };
        if (req.background) this.log.debug('ssh connect refused', fields);
        else this.log.warn('ssh connect refused', fields);
      }
      throw toRpcError(cluster.name, err);
    } finally {
      e.waiters.splice(e.waiters.indexOf(req), 1);
    }
    const s = e.session;
    const name = cluster.name;
    const wrap = <A extends unknown[], R>(f: (...a: A) => Promise<R>) => async (...a: A): Promise<R> => {
      try {
        return await f.apply(s, a);
      } catch (err) {
        throw toRpcError(name, err);
      }
    };
    const counted = this.counted(name, wrap(s.exec));
    const slurmVersion = await this.slurmVersionOnce(e, name, counted);
    return {
      exec: counted,
      slurmVersion,
      writeFile: wrap(s.writeFile),
      mkdirp: wrap(s.mkdirp),
      homeDir: wrap(s.homeDir),
      readRange: wrap(s.readRange),
      stat: wrap(s.stat),
      get hostKeyFingerprint() {
        return s.hostKeyFingerprint;
      },
    };
  }

  /** exec, counted in the cluster's budget and the metrics: the one way commands reach a cluster. */
  private counted(name: string, exec: RemoteSession['exec']): RemoteSession['exec'] {
    return (argv, opts) => {
      stamp(this.commands, name, Date.now());
      this.options.observer?.command(name);
      return exec(argv, opts);
    };
  }

  /** The version `holder` read (an SSH connection, a local session), read on its first use; read again after a failure to run. */
  private async slurmVersionOnce(holder: { slurm?: Promise<SlurmVersion | null | undefined> }, name: string, exec: RemoteSession['exec']): Promise<SlurmVersion | null> {
    if (holder.slurm === undefined) {
      const reading = this.readSlurmVersion(name, exec);
      holder.slurm = reading;
      // Not read because the command could not run (the connection failed): the next use tries again.
      void reading.then((v) => {
        if (v === undefined && holder.slurm === reading) holder.slurm = undefined;
      });
    }
    return (await holder.slurm) ?? null;
  }

  /**
   * `sinfo --version` once per connection: the version, null when SLURM
   * answered something else (not fatal: the commands that need SLURM report
   * their own errors), undefined when the command could not run at all.
   */
  private async readSlurmVersion(cluster: string, exec: RemoteSession['exec']): Promise<SlurmVersion | null | undefined> {
    try {
      const r = await exec(slurmVersionCommand(), { timeoutMs: 30_000 });
      const v = r.code === 0 ? parseSlurmVersion(r.stdout) : null;
      if (!v?.ok) {
        this.log.warn('slurm version unknown', { cluster, output: (r.stdout || r.stderr).trim().split('\n')[0]?.slice(0, 200) ?? '', code: r.code });
        return null;
      }
      const support = slurmSupport(v.value);
      this.log.info('slurm version', { cluster, version: v.value.text, distribution: v.value.distribution });
      if (support.note) this.log.warn('slurm version not checked', { cluster, version: v.value.text, note: support.note });
      return v.value;
    } catch (err) {
      this.log.warn('slurm version unknown', { cluster, error: (err as Error).message });
      return undefined;
    }
  }

  async disconnect(name: string): Promise<void> {
    if (this.locals.delete(name)) {
      this.setLocalState(name, 'disconnected');
      return;
    }
    const e = this.entries.get(name);
    if (!e) return;
    this.entries.delete(name);
    e.closing = true;
    await e.session.close();
  }

  async closeAll(): Promise<void> {
    this.locals.clear();
    const all = [...this.entries.keys()];
    await Promise.all(all.map((n) => this.disconnect(n)));
  }

  // ------------------------------------------------------------ internals

  /** A local cluster's session: SLURM's commands on this machine, counted in the budget like SSH commands. */
  private async localSession(cluster: ClusterRecord): Promise<RemoteSession & { hostKeyFingerprint: undefined }> {
    const name = cluster.name;
    let l = this.locals.get(name);
    if (!l || l.id !== cluster.id) {
      l = { id: cluster.id, session: new LocalSession(name, this.log.child({ cluster: name })) };
      this.locals.set(name, l);
    }
    if (this.localStates.get(name)?.status !== 'ready') this.setLocalState(name, 'ready');
    const s = l.session;
    const exec = this.counted(name, (argv, opts) => s.exec(argv, opts));
    // Read once per session, as once per SSH connection.
    const slurmVersion = await this.slurmVersionOnce(l, name, exec);
    return {
      exec,
      slurmVersion,
      writeFile: (p, data, mode) => s.writeFile(p, data, mode),
      mkdirp: (p) => s.mkdirp(p),
      homeDir: () => s.homeDir(),
      readRange: (p, offset, length) => s.readRange(p, offset, length),
      stat: (p) => s.stat(p),
      hostKeyFingerprint: undefined,
    };
  }

  /** A local cluster has no connection: ready from its first use until disconnected. */
  private setLocalState(name: string, status: 'ready' | 'disconnected'): void {
    const state: ConnectionState = { status, message: null, since: new Date().toISOString(), retryAt: null };
    this.localStates.set(name, state);
    for (const l of this.listeners) l(name, state);
  }

  private entry(cluster: ClusterRecord): Entry {
    let e = this.entries.get(cluster.name);
    if (e && e.cluster.id !== cluster.id) {
      // The cluster was removed and added again with other settings.
      e.closing = true;
      void e.session.close();
      this.entries.delete(cluster.name);
      e = undefined;
    }
    if (e) {
      e.cluster = cluster; // the settings as stored now
      return e;
    }
    const created = new Entry(cluster);
    const log = this.log.child({ cluster: cluster.name });
    created.session = new SshSession(this.placeholderConfig(cluster), {
      readyTimeoutMs: this.options.readyTimeoutMs,
      keepaliveIntervalMs: this.options.keepaliveIntervalMs,
      keepaliveCountMax: this.options.keepaliveCountMax,
      logger: log,
      prompt: (r) => this.prompt(created, r),
      prepare: () => this.prepare(created),
    });
    created.session.onStateChange((status, lastError) => this.sessionState(created, status, lastError));
    this.entries.set(cluster.name, created);
    return created;
  }

  /** Until prepare() resolves the ssh config at the first connect. */
  private placeholderConfig(c: ClusterRecord): SshClusterConfig {
    return {
      name: c.name,
      host: c.host ?? c.sshAlias ?? '',
      port: c.port ?? 22,
      user: c.user ?? this.ctx.localUser,
      identityFile: c.identityFile,
      knownHostsFile: c.knownHostsFile,
    };
  }

  private setState(e: Entry, state: Omit<ConnectionState, 'since'>): void {
    if (e.closing && state.status !== 'disconnected') return;
    const prev = e.state;
    if (prev.status === state.status && prev.message === state.message && prev.retryAt === state.retryAt) return;
    e.state = { ...state, since: new Date().toISOString() };
    this.log.info('ssh state', { cluster: e.cluster.name, status: state.status, message: state.message, retryAt: state.retryAt });
    if (this.entries.get(e.cluster.name) !== e) return;
    for (const l of this.listeners) l(e.cluster.name, e.state);
  }

  private sessionState(e: Entry, status: string, lastError: string | undefined): void {
    switch (status) {
      case 'connecting':
        this.setState(e, { status: 'connecting', message: null, retryAt: null });
        return;
      case 'ready':
        e.failures = 0;
        // A new connection (perhaps after the cluster was upgraded): its version is read again.
        e.slurm = undefined;
        this.setState(e, { status: 'ready', message: null, retryAt: null });
        return;
      case 'disconnected':
        // A drop (or a close): the next use reconnects, within the cap.
        this.setState(e, { status: 'disconnected', message: lastError ?? null, retryAt: null });
        return;
      case 'failed': {
        const f = e.session.lastFailure;
        const message = lastError ?? f?.message ?? 'connection failed';
        if (f && PERSON_KINDS.has(f.kind)) {
          // Not retried by backoff: a person's next request retries.
          this.setState(e, { status: f.needsUser ? 'waiting-for-user' : 'failed', message, retryAt: null });
          return;
        }
        e.failures++;
        const ceiling = Math.min(this.options.backoffMaxMs ?? 5 * MINUTE, (this.options.backoffBaseMs ?? 2000) * 2 ** (e.failures - 1));
        const retryAt = new Date(Date.now() + Math.round(this.random() * ceiling)).toISOString();
        this.setState(e, { status: 'backoff', message, retryAt });
        return;
      }
    }
  }

  private throttled(e: Entry, message: string): SshError {
    return new SshError('throttled', `cluster ${e.cluster.name}: ${message}`);
  }

  /** The gate before every connection attempt, then the ssh config resolved afresh. */
  private async prepare(e: Entry): Promise<SshClusterConfig> {
    const now = Date.now();
    const st = e.state;
    const byPerson = e.waiters.some((w) => !w.background);
    if (st.status === 'backoff' && st.retryAt !== null && Date.parse(st.retryAt) > now) {
      throw this.throttled(e, `not connecting yet: ${st.message ?? 'the last attempt failed'}; next attempt allowed at ${st.retryAt} (in ${secondsUntil(st.retryAt, now)} s)`);
    }
    if (!byPerson && st.status === 'failed') {
      throw this.throttled(e, `${st.message ?? 'the last login failed'} (not retried automatically; a request of yours, e.g. \`slurm-ml cluster test ${e.cluster.name}\`, retries)`);
    }
    if (!byPerson && st.status === 'waiting-for-user' && !this.options.prompter?.canPrompt()) {
      throw this.throttled(e, `${st.message ?? 'the login needs you'} (waiting for a client that can ask you: VS Code, or the CLI in a terminal)`);
    }
    const recentAttempts = recent(this.attempts, e.cluster.name, now);
    if (recentAttempts.length >= this.cap) {
      const retryAt = new Date((recentAttempts[0] as number) + MINUTE).toISOString();
      const message = `${recentAttempts.length} new SSH connections in the last minute, the most allowed (connectionsPerMinute ${this.cap})`;
      this.setState(e, { status: 'backoff', message, retryAt });
      throw this.throttled(e, `not connecting: ${message}; next attempt allowed at ${retryAt} (in ${secondsUntil(retryAt, now)} s)`);
    }
    let config: SshClusterConfig;
    try {
      config = this.resolve(e.cluster);
    } catch (err) {
      const message = `cluster ${e.cluster.name}: ${(err as Error).message}`;
      this.setState(e, { status: 'failed', message, retryAt: null });
      throw err instanceof SshConfigError ? new SshError('connect', message, { cause: err }) : err;
    }
    stamp(this.attempts, e.cluster.name, now);
    this.options.observer?.connectionAttempt(e.cluster.name);
    return config;
  }

  /** The user's known_hosts (~/.ssh/known_hosts, %USERPROFILE%\.ssh\known_hosts on Windows): a new cluster's default. */
  defaultKnownHostsFile(): string {
    return userSshFile(this.ctx, 'known_hosts');
  }

  /** The cluster's record resolved through its ssh config the way `ssh ALIAS` would; explicit settings win. */
  resolve(c: ClusterRecord): SshClusterConfig {
    const ctx = this.ctx;
    const file = c.sshConfigFile ?? this.options.sshConfigFile ?? userSshFile(ctx, 'config');
    const config: SshConfigFile = loadSshConfig(file, ctx);
    if (c.sshConfigFile === null && this.options.sshConfigFile === undefined) {
      // ssh reads the system-wide file after the user's.
      const system = loadSshConfig(systemSshConfigFile(ctx), ctx);
      config.entries.push(...system.entries);
      config.warnings.push(...system.warnings);
    }
    for (const w of config.warnings) this.log.debug('ssh config', { cluster: c.name, warning: w });
    const name = c.sshAlias ?? c.host;
    if (!name) throw new SshConfigError('the cluster has neither an ssh alias nor a host');
    const chain = resolveChain(config, name, ctx, {
      user: c.user ?? undefined,
      port: c.port ?? undefined,
      hostName: c.sshAlias !== null && c.host !== null ? c.host : undefined,
    });
    const t = chain.target;
    const defaultKnownHosts = userSshFile(ctx, 'known_hosts');
    // knownHostsFile is always stored (it defaults to ~/.ssh/known_hosts); only a
    // file other than the default overrides the config's UserKnownHostsFile.
    const knownHostsFile = c.knownHostsFile !== defaultKnownHosts ? c.knownHostsFile : (t.knownHostsFiles?.[0] ?? c.knownHostsFile);
    // ssh tries its default key names only when no identity is configured at all.
    const targetIdentities = t.identityFiles.length > 0 ? t.identityFiles : c.identityFile ? [] : defaultIdentityFiles(ctx.home, ctx.platform);
    const ms = (s: number | null) => (s !== null && s > 0 ? s * 1000 : undefined);
    return {
      name: c.name,
      host: t.hostName,
      port: t.port,
      user: t.user,
      identityFile: c.identityFile,
      identityFiles: targetIdentities,
      agents: t.agents,
      identitiesOnly: t.identitiesOnly,
      kbdInteractiveAuth: t.kbdInteractiveAuthentication,
      passwordAuth: t.passwordAuthentication,
      hashKnownHosts: t.hashKnownHosts,
      knownHostsFile,
      keepaliveIntervalMs: ms(t.serverAliveIntervalS),
      keepaliveCountMax: t.serverAliveCountMax ?? undefined,
      readyTimeoutMs: ms(t.connectTimeoutS),
      jumps: chain.jumps.map((h) => ({
        label: h.name,
        host: h.hostName,
        port: h.port,
        user: h.user,
        // The cluster's explicit key is offered to the jump hosts too, after their own.
        identityFiles: [...(h.identityFiles.length > 0 ? h.identityFiles : defaultIdentityFiles(ctx.home, ctx.platform)), ...(c.identityFile ? [c.identityFile] : [])],
        agents: h.agents,
        identitiesOnly: h.identitiesOnly,
        kbdInteractiveAuth: h.kbdInteractiveAuthentication,
        passwordAuth: h.passwordAuthentication,
        hashKnownHosts: h.hashKnownHosts,
        knownHostsFile: h.knownHostsFiles?.[0] ?? knownHostsFile,
      })),
    };
  }

  /** The SSH layer's prompt: routed to the requesting client when it can answer, else to any that can. */
  private async prompt(e: Entry, r: SshPromptRequest): Promise<SshPromptAnswer> {
    const prompter = this.options.prompter;
    const preferred = [...e.waiters].reverse().find((w) => w.promptVia)?.promptVia;
    if (!prompter || !prompter.canPrompt(preferred)) {
      throw new Error('no connected client can ask you (open VS Code with slurm-ml, or run `slurm-ml cluster test ' + e.cluster.name + '` in a terminal)');
    }
    const previous = e.state;
    this.setState(e, { status: 'waiting-for-user', message: `waiting for your answer: ${r.title}`, retryAt: null });
    try {
      const answer = await prompter.prompt({ cluster: e.cluster.name, ...r }, preferred);
      if (answer === null) throw new Error('no connected client can ask you');
      return answer;
    } finally {
      if (e.state.status === 'waiting-for-user') this.setState(e, { status: previous.status === 'waiting-for-user' ? 'connecting' : previous.status, message: null, retryAt: null });
    }
  }
}

function recent(map: Map<string, number[]>, name: string, now: number): number[] {
  const list = map.get(name);
  if (!list) return [];
  while (list.length > 0 && (list[0] as number) <= now - MINUTE) list.shift();
  return list;
}

function stamp(map: Map<string, number[]>, name: string, now: number): void {
  const list = map.get(name);
  if (list) {
    recent(map, name, now);
    list.push(now);
  } else {
    map.set(name, [now]);
  }
}

function secondsUntil(iso: string, now: number): number {
  return Math.max(0, Math.ceil((Date.parse(iso) - now) / 1000));
}
