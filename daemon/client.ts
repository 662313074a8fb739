// How a client (the CLI, the extension) reaches the daemon: read the state
// file, connect with the token, `initialize`; start a daemon first if none
// runs. Imports no native module, so the extension can use it.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import WebSocket from 'ws';
import type { z } from 'zod';
import { ErrorCode, Initialize, PROTOCOL_VERSION, SshPrompt } from './protocol';
import { RpcConnection, RpcError, describeZodError } from './rpc/connection';
import { webSocketTransport } from './rpc/transport';
import { ensureStateDir, isProcessAlive, readStateFile, type DaemonStateFile, type StatePaths } from './state';
import { holderAlive, readLock, runningElsewhereMessage } from './lock';

export interface ConnectedDaemon {
  rpc: RpcConnection;
  state: DaemonStateFile;
  daemonVersion: string;
}

export interface ConnectOptions {
  paths: StatePaths;
  clientName: string;
  clientVersion?: string;
  requestTimeoutMs?: number;
  onProtocolError?: (message: string) => void;
  /**
   * Answers the daemon's `ssh/prompt` requests (host keys, passwords, codes,
   * passphrases). Given only when a person can answer: the client then
   * declares `capabilities.prompts` and the daemon may ask it.
   */
  prompt?: (request: SshPromptParams) => Promise<SshPromptResult>;
}

export type SshPromptParams = z.output<(typeof SshPrompt)['params']>;
export type SshPromptResult = z.input<(typeof SshPrompt)['result']>;

/** Serves `ssh/prompt` on a client connection: params validated, anything else MethodNotFound. */
export function servePrompts(rpc: RpcConnection, prompt: (request: SshPromptParams) => Promise<SshPromptResult>): void {
  rpc.onRequest(async (req) => {
    if (req.method !== SshPrompt.method) throw new RpcError(ErrorCode.MethodNotFound, `this client serves only ${SshPrompt.method} (got "${req.method}")`);
    const parsed = SshPrompt.params.safeParse(req.params ?? {});
    if (!parsed.success) {
      const { message, field } = describeZodError(parsed.error, 'params');
      throw new RpcError(ErrorCode.InvalidParams, message, { field });
    }
    const answer = await prompt(parsed.data);
    const checked = SshPrompt.result.safeParse(answer);
    if (!checked.success) throw new RpcError(ErrorCode.InternalError, `invalid prompt answer: ${describeZodError(checked.error, 'result').message}`);
    return checked.data;
  });
}

/**
 * Throws when the state directory's daemon runs on another machine (a home
 * shared by login nodes): its port is on that machine's loopback, and a
 * second daemon here must not open the same registry.
 */
export function assertNotRunningElsewhere(paths: StatePaths): void {
  const holder = readLock(paths.lockFile);
  if (holder && holder.host !== os.hostname() && holderAlive(holder)) {
    throw new RpcError(ErrorCode.Conflict, runningElsewhereMessage(holder, paths.lockFile));
  }
}

/** Connects to the daemon named by the state file; null if none is running. */
export async function connectToRunningDaemon(opts: ConnectOptions): Promise<ConnectedDaemon | null> {
  const state = readStateFile(opts.paths.stateFile);
  if (state?.host !== undefined && state.host !== os.hostname()) {
    // Another machine's daemon: not reachable from here, and its pid means nothing here.
    assertNotRunningElsewhere(opts.paths);
    return null;
  }
  if (!state || !isProcessAlive(state.pid)) return null;
  const ws = new WebSocket(`ws://127.0.0.1:${state.port}/`, {
    headers: { Authorization: `Bearer ${state.token}` },
    handshakeTimeout: 5000,
  });
  try {
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_req, res) => reject(new Error(`daemon refused the connection: HTTP ${res.statusCode}`)));
    });
  } catch (err) {
    ws.terminate();
    // Refused or reset before the handshake: it is exiting (killed, or another daemon won the lock) or not yet listening.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ECONNREFUSED' || code === 'ECONNRESET' || code === 'EPIPE') return null;
    throw err;
  }
  ws.on('error', () => {
    /* reported through the transport's close */
  });
  const rpc = new RpcConnection(webSocketTransport(ws), { requestTimeoutMs: opts.requestTimeoutMs, onProtocolError: opts.onProtocolError });
  if (opts.prompt) servePrompts(rpc, opts.prompt);
  try {
    const init = await rpc.request(Initialize, {
      protocolVersion: PROTOCOL_VERSION,
      clientName: opts.clientName,
      clientVersion: opts.clientVersion,
      capabilities: { prompts: opts.prompt !== undefined },
    });
    return { rpc, state, daemonVersion: init.daemonVersion };
  } catch (err) {
    rpc.close();
    throw err;
  }
}

export interface StartOptions extends ConnectOptions {
  /** The daemon bundle (dist/daemon.js). */
  daemonScript: string;
  /** Node executable; defaults to the one running this client. */
  nodePath?: string;
  daemonArgs?: string[];
  env?: NodeJS.ProcessEnv;
  startTimeoutMs?: number;
}

/** The exit statuses daemon/main.ts uses when another daemon holds the lock: here, and on another machine. */
const EXIT_ALREADY_RUNNING = 3;
const EXIT_RUNNING_ELSEWHERE = 4;

function logTail(file: string, lines = 15): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '(no log)';
  }
}

/**
 * The environment a daemon is started with: the caller's, plus at most two glibc
 * malloc arenas unless the user chose (MALLOC_ARENA_MAX). The daemon's threads
 * (libuv's pool, the SSH and onnxruntime workers) otherwise each get an arena of
 * their own, and a long-running daemon's RSS creeps up by fragmentation while its
 * JavaScript heap stays flat (the 10-minute soak in `npm run bench -- --soak`).
 */
export function daemonEnvironment(base: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  return base.MALLOC_ARENA_MAX === undefined ? { ...base, MALLOC_ARENA_MAX: '2' } : base;
}

/** Connects to the running daemon or starts one (detached, logging to the state dir) and connects. */
export async function connectOrStartDaemon(opts: StartOptions): Promise<ConnectedDaemon> {
  const running = await connectToRunningDaemon(opts);
  if (running) return running;
  assertNotRunningElsewhere(opts.paths);
  ensureStateDir(opts.paths.dir);
  if (!fs.existsSync(opts.daemonScript)) {
    throw new RpcError(ErrorCode.InternalError, `the daemon is not built: ${opts.daemonScript} is missing (run \`npm run build\`)`);
  }
  const logFd = fs.openSync(opts.paths.logFile, 'a', 0o600);
  const child = spawn(opts.nodePath ?? process.execPath, [opts.daemonScript, ...(opts.daemonArgs ?? [])], {
    detached: true,
    // Without it Windows gives the detached daemon a console window of its own.
    windowsHide: true,
    stdio: ['ignore', logFd, logFd],
    env: daemonEnvironment(opts.env ?? process.env),
  });
  fs.closeSync(logFd);
  let exited: number | null | undefined;
  child.on('exit', (code) => (exited = code));
  child.on('error', () => (exited = -1));
  child.unref();
  const deadline = Date.now() + (opts.startTimeoutMs ?? 15_000);
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 100));
    if (exited === EXIT_RUNNING_ELSEWHERE) {
      // Lost a race with a daemon starting on another machine.
      assertNotRunningElsewhere(opts.paths);
    }
    if (exited !== undefined && exited !== EXIT_ALREADY_RUNNING) {
      throw new RpcError(ErrorCode.InternalError, `the daemon exited at start (status ${exited}); its log ${opts.paths.logFile} ends with:\n${logTail(opts.paths.logFile)}`);
    }
    const c = await connectToRunningDaemon(opts).catch(() => null);
    if (c) return c;
  }
  throw new RpcError(ErrorCode.InternalError, `the daemon did not come up within ${Math.round((opts.startTimeoutMs ?? 15_000) / 1000)} s; see ${opts.paths.logFile}:\n${logTail(opts.paths.logFile)}`);
}
