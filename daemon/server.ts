// The daemon's WebSocket endpoint: loopback only, a token on every
// connection, no foreign browser Origins, every message validated before a
// handler sees it.
import * as http from 'node:http';
import { randomBytes, timingSafeEqual } from 'node:crypto';
import type { AddressInfo, Socket } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { z } from 'zod';
import { ErrorCode, requests, type NotificationType } from './protocol';
import { RpcConnection, RpcError, describeZodError, type IncomingRequest } from './rpc/connection';
import { webSocketTransport, type Transport } from './rpc/transport';
import type { Logger } from './log';
import type { HandlerContext, Handlers } from './handlers';

/** Browser pages may not drive the daemon; only VS Code webviews (and non-browser clients, which send no Origin). */
export function isAllowedOrigin(origin: string | undefined): boolean {
  if (origin === undefined || origin === '') return true;
  return /^vscode-webview:\/\/[A-Za-z0-9.-]+$/.test(origin);
}

export function tokenMatches(expected: string, header: string | undefined): boolean {
  const m = /^Bearer (\S+)$/.exec(header ?? '');
  if (!m) return false;
  const a = Buffer.from(m[1]!);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

export interface ClientSession {
  readonly id: string;
  initialized: boolean;
  clientName: string | null;
  /** Declared `capabilities.prompts` in initialize: a person can answer ssh/prompt here (absent: no). */
  canPrompt?: boolean;
  readonly rpc: RpcConnection;
}

/** Serves the protocol on any transport; the WebSocket server and the tests both use it. */
export class Dispatcher {
  private readonly attached = new Set<ClientSession>();

  constructor(
    private readonly handlers: Handlers,
    private readonly log: Logger,
    /** Told of every answered request (the metrics): method, outcome, seconds. */
    private readonly observe?: (method: string, outcome: 'ok' | 'error' | 'internal', seconds: number) => void,
  ) {}

  /** The clients connected now, oldest first. */
  sessions(): ClientSession[] {
    return [...this.attached];
  }

  get connectionCount(): number {
    return this.attached.size;
  }

  attach(transport: Transport): ClientSession {
    const id = randomBytes(4).toString('hex');
    const log = this.log.child({ conn: id });
    const rpc = new RpcConnection(transport, { onProtocolError: (m) => log.warn('protocol error', { detail: m }) });
    const session: ClientSession = { id, initialized: false, clientName: null, canPrompt: false, rpc };
    this.attached.add(session);
    rpc.onRequest((req) => this.dispatch(session, req));
    rpc.onClose((reason) => {
      this.attached.delete(session);
      log.info('client disconnected', { reason, client: session.clientName });
    });
    return session;
  }

  broadcast<T extends NotificationType<z.ZodType>>(type: T, params: z.input<T['params']>): void {
    for (const s of this.attached) if (s.initialized) s.rpc.notify(type, params);
  }

  closeAll(reason: string): void {
    for (const s of this.attached) s.rpc.close(reason);
  }

  private async dispatch(session: ClientSession, req: IncomingRequest): Promise<unknown> {
    const correlationId = randomBytes(6).toString('hex');
    const log = this.log.child({ cid: correlationId, conn: session.id, method: req.method });
    const started = performance.now();
    const done = (outcome: 'ok' | 'error' | 'internal', extra: Record<string, unknown> = {}) => {
      const ms = performance.now() - started;
      this.observe?.(req.method, outcome, ms / 1000);
      return { ms: Math.round(ms * 10) / 10, outcome, ...extra };
    };
    log.debug('request received');
    try {
      // Own keys only: "__proto__", "constructor" or "toString" are not methods (found by fuzzing).
      const def = Object.hasOwn(requests, req.method) ? (requests as Record<string, (typeof requests)[keyof typeof requests]>)[req.method] : undefined;
      if (!def) throw new RpcError(ErrorCode.MethodNotFound, `unknown method "${req.method}"`);
      if (!session.initialized && req.method !== 'initialize') {
        throw new RpcError(ErrorCode.ServerNotInitialized, `send "initialize" before "${req.method}"`);
      }
      const parsed = def.params.safeParse(req.params ?? {});
      if (!parsed.success) {
        const { message, field } = describeZodError(parsed.error, 'params');
        throw new RpcError(ErrorCode.InvalidParams, message, { field });
      }
      const handler = this.handlers[req.method as keyof Handlers] as (p: unknown, ctx: HandlerContext) => unknown;
      const ctx: HandlerContext = { session, log };
      const result = await handler(parsed.data, ctx);
      const checked = def.result.safeParse(result);
      if (!checked.success) {
        // A daemon bug: say so rather than send what the client cannot read.
        throw new Error(`result does not match the protocol: ${describeZodError(checked.error, 'result').message}`);
      }
      log.info('request', done('ok'));
      return checked.data;
    } catch (err) {
      if (err instanceof RpcError) {
        log.info('request', done('error', { code: err.code, error: err.message }));
        throw new RpcError(err.code, err.message, { ...err.data, correlationId });
      }
      log.error('request failed', done('internal', { error: (err as Error)?.stack ?? String(err) }));
      throw new RpcError(ErrorCode.InternalError, `internal error (see the daemon log, correlation id ${correlationId}): ${(err as Error)?.message ?? String(err)}`, {
        correlationId,
      });
    }
  }
}

export interface ListeningServer {
  port: number;
  close(): Promise<void>;
}

/** Binds 127.0.0.1 only; `port` 0 picks a free one. */
export async function listen(opts: { port: number; token: string; dispatcher: Dispatcher; log: Logger; maxPayload?: number }): Promise<ListeningServer> {
  const { dispatcher, log, token } = opts;
  const httpServer = http.createServer((_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain' });
    res.end('slurm-ml daemon: WebSocket only\n');
  });
  const wss = new WebSocketServer({ noServer: true, maxPayload: opts.maxPayload ?? 4 * 1024 * 1024 });
  const refuse = (socket: Socket, status: string, why: string, remote: string | undefined) => {
    log.warn('connection refused', { why, remote });
    socket.write(`HTTP/1.1 ${status}\r\nConnection: close\r\nContent-Type: text/plain\r\n\r\n${why}\n`);
    socket.destroy();
  };
  httpServer.on('upgrade', (req, socket: Socket, head) => {
    socket.on('error', () => socket.destroy());
    const origin = req.headers.origin;
    if (!isAllowedOrigin(origin)) return refuse(socket, '403 Forbidden', `origin not allowed: ${origin}`, req.socket.remoteAddress);
    if (!tokenMatches(token, req.headers.authorization)) return refuse(socket, '401 Unauthorized', 'missing or wrong token', req.socket.remoteAddress);
    wss.handleUpgrade(req, socket, head, (ws: WebSocket) => {
      const session = dispatcher.attach(webSocketTransport(ws));
      log.info('client connected', { conn: session.id });
    });
  });
  await new Promise<void>((resolve, reject) => {
    httpServer.once('error', reject);
    httpServer.listen(opts.port, '127.0.0.1', () => resolve());
  });
  const port = (httpServer.address() as AddressInfo).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        dispatcher.closeAll('daemon shutting down');
        for (const c of wss.clients) c.terminate();
        wss.close();
        httpServer.close(() => resolve());
        httpServer.closeAllConnections();
      }),
  };
}
