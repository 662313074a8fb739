// Resolves a host the way `ssh NAME` would from an OpenSSH client config
// (ssh_config(5)): Host and Match blocks, first obtained value wins,
// Include, %-tokens, ~ and ${VAR} in paths, and ProxyJump chains whose hops
// are resolved through the same config.
//
// The file is tokenized by the `ssh-config` package; evaluation is ours:
// its compute() does not follow Include, matches `?` as "zero or one
// character", and runs `Match exec` commands by default, and a daemon must
// never run shell commands from a config file behind the user's back.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { hostname, userInfo } from 'node:os';
import * as nodePath from 'node:path';
import { LineType, parse, type Line } from 'ssh-config';
import { hostPlatform } from '../platform';
import { globMatch } from './knownHosts';

/** One directive, flattened out of its Host/Match block and Include chain. */
export interface ConfigEntry {
  /** Lower-cased keyword, e.g. `hostname`. */
  key: string;
  args: string[];
  /** Every block this entry sits in (an Include inside a block nests); all must match. */
  conditions: Condition[];
  /** `file:line`-ish origin for messages. */
  source: string;
}

type Condition =
  | { kind: 'host'; patterns: string[] }
  | { kind: 'match'; criteria: { name: string; negate: boolean; arg: string | undefined }[] };

export interface SshConfigFile {
  entries: ConfigEntry[];
  /** Problems that did not stop parsing (unreadable Include, unsupported Match criteria). */
  warnings: string[];
}

export interface ResolveContext {
  home: string;
  localUser: string;
  /** Full local host name, for %l and `Match localnetwork`-free tokens. */
  localHost: string;
  uid: number;
  env: Readonly<Record<string, string | undefined>>;
  /**
   * The OS whose OpenSSH rules apply (where its files are, which agent it
   * asks, how paths look); absent: POSIX.
   */
  platform?: NodeJS.Platform;
}

/** The path rules of the context's OS. */
function pathsOf(ctx: Pick<ResolveContext, 'platform'>): nodePath.PlatformPath {
  return ctx.platform === 'win32' ? nodePath.win32 : nodePath.posix;
}

/**
 * The Windows OpenSSH agent (the ssh-agent service of Windows' own OpenSSH)
 * listens on this named pipe; Win32 ssh.exe asks it when SSH_AUTH_SOCK is unset.
 */
export const WINDOWS_OPENSSH_AGENT_PIPE = '\\\\.\\pipe\\openssh-ssh-agent';
/** ssh2's name for PuTTY's agent (Windows only). */
export const PAGEANT = 'pageant';

/** The user's ssh directory: ~/.ssh, on Windows %USERPROFILE%\.ssh (as Win32 OpenSSH has it). */
export function userSshFile(ctx: Pick<ResolveContext, 'home' | 'platform'>, name: 'config' | 'known_hosts'): string {
  return pathsOf(ctx).join(ctx.home, '.ssh', name);
}

/** The system-wide client config: /etc/ssh/ssh_config, on Windows %PROGRAMDATA%\ssh\ssh_config. */
export function systemSshConfigFile(ctx: Pick<ResolveContext, 'env' | 'platform'>): string {
  if (ctx.platform !== 'win32') return '/etc/ssh/ssh_config';
  return nodePath.win32.join(ctx.env.PROGRAMDATA || ctx.env.ALLUSERSPROFILE || 'C:\\ProgramData', 'ssh', 'ssh_config');
}

/**
 * The agents to ask when the config names none, in order. SSH_AUTH_SOCK when
 * set, as everywhere. Otherwise on Windows: first the Windows OpenSSH agent's
 * pipe (what ssh.exe uses, so keys added with `ssh-add` work the same for
 * both), then Pageant (PuTTY users' agent). An agent that is not running is
 * skipped at login, so having either one is enough. Elsewhere: none.
 */
export function defaultAgents(ctx: Pick<ResolveContext, 'env' | 'platform'>): string[] {
  if (ctx.env.SSH_AUTH_SOCK) return [ctx.env.SSH_AUTH_SOCK];
  return ctx.platform === 'win32' ? [WINDOWS_OPENSSH_AGENT_PIPE, PAGEANT] : [];
}

export function defaultResolveContext(): ResolveContext {
  let localUser = process.env.USER ?? 'root';
  let uid = 0;
  try {
    const u = userInfo();
    localUser = u.username;
    uid = u.uid;
  } catch {
    // No passwd entry: keep $USER.
  }
  return { home: hostPlatform().home, localUser, localHost: hostname(), uid, env: process.env, platform: process.platform };
}

// ----------------------------------------------------------------- loading

type FileReader = (path: string) => string | undefined;

const defaultReader: FileReader = (path) => {
  try {
    return readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
};

/**
 * Parses config text. `path` names the file (relative Includes are taken
 * from ~/.ssh, as ssh does for user configs); `read` loads included files.
 */
export function parseSshConfig(
  text: string,
  opts: { path?: string; ctx?: ResolveContext; read?: FileReader; expandGlob?: (pattern: string) => string[] } = {},
): SshConfigFile {
  const ctx = opts.ctx ?? defaultResolveContext();
  const out: SshConfigFile = { entries: [], warnings: [] };
  const read = opts.read ?? defaultReader;
  const paths = pathsOf(ctx);
  const expand = opts.expandGlob ?? ((pattern: string) => expandGlob(pattern, paths));
  const walk = (body: string, source: string, outer: Condition[], depth: number) => {
    let lines: Line[];
    try {
      lines = parse(body);
    } catch (err) {
      throw new Error(`${source}: ${(err as Error).message}`);
    }
    const visit = (ls: Line[], conds: Condition[]) => {
      for (const line of ls) {
        if (line.type !== LineType.DIRECTIVE) continue; // comments, blank lines
        const key = line.param.toLowerCase();
        const args = valueArgs(line.value);
        if ('config' in line && (key === 'host' || key === 'match')) {
          const cond = key === 'host' ? hostCondition(args) : matchCondition(args, source, out.warnings);
          visit(line.config, [...outer, cond]);
          continue;
        }
        if (key === 'include') {
          if (depth >= 16) throw new Error(`${source}: Include nested more than 16 deep`);
          for (const arg of args) {
            let pattern = expandTilde(arg, ctx.home, ctx.platform);
            if (!paths.isAbsolute(pattern)) pattern = paths.join(ctx.home, '.ssh', pattern);
            for (const file of expand(pattern)) {
              const included = read(file);
              if (included === undefined) {
                if (!/[*?[]/.test(pattern)) out.warnings.push(`${source}: Include ${file}: no such file`);
                continue;
              }
              walk(included, file, conds, depth + 1);
            }
          }
          continue;
        }
        out.entries.push({ key, args, conditions: conds, source });
      }
    };
    visit(lines, outer);
  };
  walk(text, opts.path ?? 'ssh config', [], 0);
  return out;
}

/** Reads and parses a config file; a missing file is an empty config. */
export function loadSshConfig(path: string, ctx: ResolveContext = defaultResolveContext()): SshConfigFile {
  const text = defaultReader(path);
  return text === undefined ? { entries: [], warnings: [] } : parseSshConfig(text, { path, ctx });
}

function valueArgs(value: string | { val: string }[]): string[] {
  if (Array.isArray(value)) return value.map((v) => v.val);
  return [value];
}

function hostCondition(args: string[]): Condition {
  // `Host a b,c`: ssh-config splits on spaces; commas are also separators here.
  return { kind: 'host', patterns: args.flatMap((a) => a.split(',')).filter((p) => p !== '') };
}

function matchCondition(args: string[], source: string, warnings: string[]): Condition {
  const criteria: { name: string; negate: boolean; arg: string | undefined }[] = [];
  for (let i = 0; i < args.length; i++) {
    const raw = args[i] as string;
    const negate = raw.startsWith('!');
    const name = (negate ? raw.slice(1) : raw).toLowerCase();
    if (name === 'all' || name === 'canonical' || name === 'final') {
      criteria.push({ name, negate, arg: undefined });
      continue;
    }
    const arg = args[++i];
    if (name === 'exec' || name === 'localnetwork' || name === 'tagged') {
      warnings.push(`${source}: Match ${name} is not evaluated by slurm-ml (treated as not matching)`);
    }
    criteria.push({ name, negate, arg });
  }
  return { kind: 'match', criteria };
}

/** The files a glob names, sorted (ssh uses glob(3), which sorts). Only the last path part may hold wildcards. */
function expandGlob(pattern: string, paths: nodePath.PlatformPath): string[] {
  if (!/[*?[]/.test(pattern)) return [pattern];
  const dir = paths.dirname(pattern);
  const base = pattern.slice(dir.length + 1);
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  return names
    .filter((n) => !n.startsWith('.') && globMatch(n, base))
    .sort()
    .map((n) => paths.join(dir, n));
}

// ----------------------------------------------------------------- matching

/**
 * ssh_config PATTERNS: a list where any matching negated pattern vetoes the
 * list; otherwise one positive match is needed. Host names compare
 * case-insensitively.
 */
export function matchPatternList(name: string, patterns: string[], caseInsensitive = true): boolean {
  const s = caseInsensitive ? name.toLowerCase() : name;
  let positive = false;
  for (const raw of patterns) {
    const negate = raw.startsWith('!');
    const p = caseInsensitive ? raw.slice(negate ? 1 : 0).toLowerCase() : raw.slice(negate ? 1 : 0);
    if (globMatch(s, p)) {
      if (negate) return false;
      positive = true;
    }
  }
  return positive;
}

// ----------------------------------------------------------------- evaluation

/** Options as obtained for one host: first value wins, IdentityFile/CertificateFile accumulate. */
export type HostOptions = Map<string, string[]>;

const ACCUMULATE = new Set(['identityfile', 'certificatefile', 'localforward', 'remoteforward', 'dynamicforward', 'sendenv', 'setenv']);

/**
 * Every option that applies to `host` (the name as given: an alias or a host
 * name), in ssh's order. `preset` are options given "on the command line":
 * they win over the file.
 */
export function computeHostOptions(config: SshConfigFile, host: string, ctx: ResolveContext, preset: HostOptions = new Map()): HostOptions {
  const opts: HostOptions = new Map(preset);
  const state = { final: false, wantFinal: false };
  const currentHostName = () => {
    const hn = opts.get('hostname')?.[0];
    return hn === undefined ? host : expandHostNameTokens(hn, host);
  };
  const matches = (c: Condition): boolean => {
    if (c.kind === 'host') return matchPatternList(host, c.patterns);
    for (const cr of c.criteria) {
      let ok: boolean;
      const list = (cr.arg ?? '').split(',');
      switch (cr.name) {
        case 'all':
          ok = true;
          break;
        case 'canonical':
        case 'final':
          if (!state.final) state.wantFinal = true;
          ok = state.final;
          break;
        case 'host':
          ok = matchPatternList(currentHostName(), list);
          break;
        case 'originalhost':
          ok = matchPatternList(host, list);
          break;
        case 'user':
          ok = matchPatternList(opts.get('user')?.[0] ?? ctx.localUser, list, false);
          break;
        case 'localuser':
          ok = matchPatternList(ctx.localUser, list, false);
          break;
        default:
          // exec, localnetwork, tagged and unknown criteria never match.
          ok = false;
      }
      if (cr.negate) ok = !ok;
      if (!ok) return false;
    }
    return true;
  };
  const pass = () => {
    for (const e of config.entries) {
      if (!e.conditions.every(matches)) continue;
      if (ACCUMULATE.has(e.key)) {
        const prev = opts.get(e.key) ?? [];
        opts.set(e.key, [...prev, ...e.args]);
      } else if (!opts.has(e.key)) {
        opts.set(e.key, e.args);
      }
    }
  };
  pass();
  if (state.wantFinal) {
    // ssh re-reads the config for `Match final`; first-obtained values stay.
    state.final = true;
    const accumulated = new Map([...opts].filter(([k]) => ACCUMULATE.has(k)));
    for (const k of accumulated.keys()) opts.delete(k);
    pass();
    for (const [k, v] of accumulated) opts.set(k, v);
  }
  return opts;
}

// ----------------------------------------------------------------- resolved hosts

export interface JumpSpec {
  user: string | undefined;
  host: string;
  port: number | undefined;
}

export interface ResolvedHost {
  /** The name resolved (alias or host name as given). */
  name: string;
  /** Where to connect (HostName, or the name). */
  hostName: string;
  port: number;
  user: string;
  /** IdentityFile values, expanded; empty when the config names none. */
  identityFiles: string[];
  identitiesOnly: boolean;
  /**
   * Agents to ask, in order: IdentityAgent's, else defaultAgents() (SSH_AUTH_SOCK;
   * on Windows the OpenSSH agent's pipe, then Pageant). Empty: none.
   */
  agents: string[];
  /** UserKnownHostsFile values, expanded; null when not set. */
  knownHostsFiles: string[] | null;
  hashKnownHosts: boolean;
  /** ProxyJump hops as written, first hop first; empty for a direct connection. */
  proxyJump: JumpSpec[];
  serverAliveIntervalS: number | null;
  serverAliveCountMax: number | null;
  connectTimeoutS: number | null;
  passwordAuthentication: boolean;
  kbdInteractiveAuthentication: boolean;
  pubkeyAuthentication: boolean;
}

export interface ResolveOverrides {
  user?: string | undefined;
  port?: number | undefined;
  /** Replaces HostName. */
  hostName?: string | undefined;
}

export class SshConfigError extends Error {
  override readonly name = 'SshConfigError';
}

/** The OpenSSH defaults for IdentityFile, used when none is configured. */
export function defaultIdentityFiles(home: string, platform?: NodeJS.Platform): string[] {
  const paths = pathsOf({ platform });
  return ['id_rsa', 'id_ecdsa', 'id_ecdsa_sk', 'id_ed25519', 'id_ed25519_sk'].map((f) => paths.join(home, '.ssh', f));
}

export function resolveHost(config: SshConfigFile, name: string, ctx: ResolveContext, overrides: ResolveOverrides = {}): ResolvedHost {
  const preset: HostOptions = new Map();
  if (overrides.user !== undefined) preset.set('user', [overrides.user]);
  if (overrides.port !== undefined) preset.set('port', [String(overrides.port)]);
  if (overrides.hostName !== undefined) preset.set('hostname', [overrides.hostName]);
  const o = computeHostOptions(config, name, ctx, preset);
  const first = (k: string) => o.get(k)?.[0];
  const where = (k: string) => `ssh config for "${name}": ${k}`;

  const hostName = expandHostNameTokens(first('hostname') ?? name, name);
  const portText = first('port');
  const port = portText === undefined ? 22 : parsePort(portText, where('Port'));
  const user = first('user') ?? ctx.localUser;
  const tokens: Record<string, string> = {
    '%': '%',
    d: ctx.home,
    h: hostName,
    i: String(ctx.uid),
    L: ctx.localHost.split('.')[0] ?? ctx.localHost,
    l: ctx.localHost,
    n: name,
    p: String(port),
    r: user,
    u: ctx.localUser,
    k: first('hostkeyalias') ?? hostName,
  };
  tokens.C = createHash('sha1').update(`${tokens.l}${hostName}${port}${user}`).digest('hex');
  const path = (v: string, what: string) => expandTilde(expandEnv(expandTokens(v, tokens, where(what)), ctx.env, where(what)), ctx.home, ctx.platform);

  const identityFiles = (o.get('identityfile') ?? []).filter((v) => v.toLowerCase() !== 'none').map((v) => path(v, 'IdentityFile'));

  // `IdentityAgent SSH_AUTH_SOCK` means the default, as not setting it does.
  let agents = defaultAgents(ctx);
  const ia = first('identityagent');
  if (ia !== undefined && ia !== 'SSH_AUTH_SOCK') agents = ia.toLowerCase() === 'none' ? [] : [path(ia, 'IdentityAgent')];

  const ukh = o.get('userknownhostsfile');
  const knownHostsFiles = ukh === undefined ? null : ukh.filter((v) => v.toLowerCase() !== 'none').map((v) => path(v, 'UserKnownHostsFile'));

  // ProxyJump and ProxyCommand are one option to ssh: whichever came first wins.
  let proxyJump: JumpSpec[] = [];
  const pj = first('proxyjump');
  const pc = o.get('proxycommand');
  const pjIndex = indexOfKey(o, 'proxyjump');
  const pcIndex = indexOfKey(o, 'proxycommand');
  if (pc !== undefined && pc.join(' ').toLowerCase() !== 'none' && (pjIndex < 0 || pcIndex < pjIndex)) {
    throw new SshConfigError(
      `${where('ProxyCommand')} is set (${pc.join(' ')}), which slurm-ml does not run; use ProxyJump for jump hosts`,
    );
  }
  if (pj !== undefined && pj.toLowerCase() !== 'none') proxyJump = parseProxyJump(pj, where('ProxyJump'));

  return {
    name,
    hostName,
    port,
    user,
    identityFiles,
    identitiesOnly: yes(first('identitiesonly'), false),
    agents,
    knownHostsFiles,
    hashKnownHosts: yes(first('hashknownhosts'), false),
    proxyJump,
    serverAliveIntervalS: optionalInt(first('serveraliveinterval'), where('ServerAliveInterval')),
    serverAliveCountMax: optionalInt(first('serveralivecountmax'), where('ServerAliveCountMax')),
    connectTimeoutS: optionalInt(first('connecttimeout'), where('ConnectTimeout')),
    passwordAuthentication: yes(first('passwordauthentication'), true),
    kbdInteractiveAuthentication: yes(first('kbdinteractiveauthentication') ?? first('challengeresponseauthentication'), true),
    pubkeyAuthentication: yes(first('pubkeyauthentication'), true),
  };
}

export interface ResolvedChain {
  target: ResolvedHost;
  /** Hosts to pass through, in connection order (first is reached directly). */
  jumps: ResolvedHost[];
}

/**
 * The target and the jump hosts before it, as ssh builds them: for
 * `ProxyJump a,b` the last hop b is reached through a, with b's own
 * ProxyJump ignored; a is resolved with its own ProxyJump.
 */
export function resolveChain(config: SshConfigFile, name: string, ctx: ResolveContext, overrides: ResolveOverrides = {}, depth = 0): ResolvedChain {
  if (depth > 8) throw new SshConfigError(`ProxyJump chain through "${name}" is more than 8 hops deep (a loop?)`);
  const target = resolveHost(config, name, ctx, overrides);
  if (target.proxyJump.length === 0) return { target, jumps: [] };
  const [firstHop, ...rest] = target.proxyJump as [JumpSpec, ...JumpSpec[]];
  const head = resolveChain(config, firstHop.host, ctx, { user: firstHop.user, port: firstHop.port }, depth + 1);
  const jumps = [...head.jumps, head.target];
  for (const hop of rest) {
    const h = resolveHost(config, hop.host, ctx, { user: hop.user, port: hop.port });
    jumps.push({ ...h, proxyJump: [] });
  }
  if (jumps.length > 8) throw new SshConfigError(`ProxyJump for "${name}" needs more than 8 hops`);
  return { target, jumps };
}

/** `[user@]host[:port]` or `ssh://[user@]host[:port]`, comma-separated; IPv6 hosts in brackets. */
export function parseProxyJump(value: string, where = 'ProxyJump'): JumpSpec[] {
  const hops: JumpSpec[] = [];
  for (const raw of value.split(',')) {
    let s = raw.trim();
    if (s === '') throw new SshConfigError(`${where}: empty hop in "${value}"`);
    if (s.startsWith('ssh://')) s = s.slice(6).replace(/\/$/, '');
    let user: string | undefined;
    const at = s.lastIndexOf('@');
    if (at >= 0) {
      user = s.slice(0, at);
      s = s.slice(at + 1);
      if (user === '') throw new SshConfigError(`${where}: empty user in "${raw.trim()}"`);
    }
    let host = s;
    let port: number | undefined;
    const v6 = /^\[([^\]]+)\](?::(\d+))?$/.exec(s);
    if (v6) {
      host = v6[1] as string;
      if (v6[2] !== undefined) port = parsePort(v6[2], where);
    } else {
      const colon = s.lastIndexOf(':');
      if (colon >= 0 && s.indexOf(':') === colon) {
        host = s.slice(0, colon);
        port = parsePort(s.slice(colon + 1), where);
      }
    }
    if (host === '' || /\s/.test(host)) throw new SshConfigError(`${where}: bad host in "${raw.trim()}"`);
    hops.push({ user, host, port });
  }
  return hops;
}

// ----------------------------------------------------------------- helpers

function indexOfKey(o: HostOptions, key: string): number {
  let i = 0;
  for (const k of o.keys()) {
    if (k === key) return i;
    i++;
  }
  return -1;
}

function parsePort(text: string, where: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new SshConfigError(`${where}: "${text}" is not a port number`);
  return n;
}

function optionalInt(text: string | undefined, where: string): number | null {
  if (text === undefined) return null;
  if (!/^\d+$/.test(text)) throw new SshConfigError(`${where}: "${text}" is not a whole number`);
  return Number(text);
}

function yes(text: string | undefined, dflt: boolean): boolean {
  if (text === undefined) return dflt;
  const t = text.toLowerCase();
  if (t === 'yes' || t === 'true') return true;
  if (t === 'no' || t === 'false') return false;
  return dflt;
}

/** HostName knows only %h and %%. */
function expandHostNameTokens(value: string, original: string): string {
  return value.replace(/%([%h])/g, (_m, t: string) => (t === '%' ? '%' : original));
}

function expandTokens(value: string, tokens: Record<string, string>, where: string): string {
  return value.replace(/%(.)/g, (_m, t: string) => {
    const v = tokens[t];
    if (v === undefined) throw new SshConfigError(`${where}: unknown token %${t} in "${value}"`);
    return v;
  });
}

function expandEnv(value: string, env: Readonly<Record<string, string | undefined>>, where: string): string {
  return value.replace(/\$\{([A-Za-z_][A-Za-z0-9_]*)\}/g, (_m, k: string) => {
    const v = env[k];
    if (v === undefined) throw new SshConfigError(`${where}: environment variable ${k} is not set`);
    return v;
  });
}

/** `~` and `~/…` are the home; on Windows `~\…` too, and the result uses backslashes throughout. */
export function expandTilde(p: string, home: string, platform?: NodeJS.Platform): string {
  if (p === '~') return home;
  if (platform === 'win32') return p.startsWith('~/') || p.startsWith('~\\') ? nodePath.win32.join(home, p.slice(2)) : p;
  if (p.startsWith('~/')) return home + p.slice(1);
  return p;
}
