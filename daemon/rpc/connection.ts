// One end of a JSON-RPC 2.0 conversation over an injected Transport. Both the
// daemon and its clients (CLI, extension) use it; what differs is who
// registers request handlers.
import type { z } from 'zod';
import {
  ErrorCode,
  RequestMessage,
  ResponseMessage,
  NotificationMessage,
  type ErrorData,
  type NotificationType,
  type ParamsOf,
  type RequestId,
  type RequestType,
  type ResultOf,
} from '../protocol';
import type { Transport } from './transport';

export class RpcError extends Error {
  constructor(
    readonly code: number,
    message: string,
    readonly data?: ErrorData,
  ) {
    super(message);
    this.name = 'RpcError';
  }
}

/** "params.port: expected number, received string" — the first problem, named by its field. */
export function describeZodError(error: z.ZodError, root: string): { message: string; field: string } {
  const issue = error.issues[0];
  if (!issue) return { message: `${root}: invalid`, field: root };
  const field = [root, ...issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : String(p)))].join('.').replace(/\.\[/g, '[');
  let message = issue.message;
  if (issue.code === 'unrecognized_keys') message = `unknown field(s) ${issue.keys.map((k) => `"${k}"`).join(', ')}`;
  const more = error.issues.length > 1 ? ` (and ${error.issues.length - 1} more problem${error.issues.length > 2 ? 's' : ''})` : '';
  return { message: `${field}: ${message}${more}`, field };
}

export interface IncomingRequest {
  id: RequestId;
  method: string;
  params: unknown;
}

/** Answers a request: resolves with the result or throws (an RpcError to choose the code). */
export type RequestHandler = (request: IncomingRequest) => Promise<unknown>;

export interface RpcConnectionOptions {
  /** Default timeout for outgoing requests. */
  requestTimeoutMs?: number;
  /** Called for messages that cannot be answered (bad notifications, stray responses). */
  onProtocolError?: (message: string) => void;
}

interface Pending {
  method: string;
  schema: z.ZodType;
  resolve: (value: unknown) => void;
  reject: (error: RpcError) => void;
  timer: NodeJS.Timeout;
}

export class RpcConnection {
  private nextId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private requestHandler: RequestHandler | undefined;
  private readonly notificationListeners = new Map<string, Set<(params: unknown) => void>>();
  private readonly notificationSchemas = new Map<string, z.ZodType>();
  private readonly closeListeners: ((reason: string) => void)[] = [];
  private closedReason: string | undefined;
  private readonly requestTimeoutMs: number;

  constructor(
    private readonly transport: Transport,
    private readonly options: RpcConnectionOptions = {},
  ) {
    this.requestTimeoutMs = options.requestTimeoutMs ?? 30_000;
    transport.onMessage((m) => this.receive(m));
    transport.onClose((reason) => this.handleClose(reason));
  }

  get closed(): boolean {
    return this.closedReason !== undefined;
  }

  onRequest(handler: RequestHandler): void {
    this.requestHandler = handler;
  }

  onNotification<T extends NotificationType<z.ZodType>>(type: T, listener: (params: z.output<T['params']>) => void): () => void {
    this.notificationSchemas.set(type.method, type.params);
    let set = this.notificationListeners.get(type.method);
    if (!set) this.notificationListeners.set(type.method, (set = new Set()));
    const l = listener as (params: unknown) => void;
    set.add(l);
    return () => set.delete(l);
  }

  onClose(listener: (reason: string) => void): void {
    if (this.closedReason !== undefined) listener(this.closedReason);
    else this.closeListeners.push(listener);
  }

  request<T extends RequestType<z.ZodType, z.ZodType>>(type: T, params: ParamsOf<T>, opts: { timeoutMs?: number } = {}): Promise<ResultOf<T>> {
    if (this.closedReason !== undefined) {
      return Promise.reject(new RpcError(ErrorCode.ConnectionClosed, `connection closed: ${this.closedReason}`));
    }
    const id = this.nextId++;
    const timeoutMs = opts.timeoutMs ?? this.requestTimeoutMs;
    return new Promise<ResultOf<T>>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        reject(new RpcError(ErrorCode.RequestTimeout, `${type.method}: no answer within ${Math.round(timeoutMs / 1000)} s`));
      }, timeoutMs);
      this.pending.set(id, { method: type.method, schema: type.result, resolve: resolve as (v: unknown) => void, reject, timer });
      try {
        this.transport.send(JSON.stringify({ jsonrpc: '2.0', id, method: type.method, params }));
      } catch (err) {
        clearTimeout(timer);
        this.pending.delete(id);
        reject(new RpcError(ErrorCode.ConnectionClosed, `could not send ${type.method}: ${(err as Error).message}`));
      }
    });
  }

  notify<T extends NotificationType<z.ZodType>>(type: T, params: z.input<T['params']>): void {
    if (this.closedReason !== undefined) return;
    this.transport.send(JSON.stringify({ jsonrpc: '2.0', method: type.method, params }));
  }

  close(reason = 'closed by this side'): void {
    this.transport.close(reason);
  }

  private handleClose(reason: string): void {
    if (this.closedReason !== undefined) return;
    this.closedReason = reason;
    for (const [id, p] of this.pending) {
      clearTimeout(p.timer);
      p.reject(new RpcError(ErrorCode.ConnectionClosed, `connection closed before ${p.method} was answered: ${reason}`));
      this.pending.delete(id);
    }
    for (const l of this.closeListeners.splice(0)) l(reason);
  }

  private sendSafe(message: object): void {
    if (this.closedReason !== undefined) return;
    try {
      this.transport.send(JSON.stringify(message));
    } catch (err) {
      this.options.onProtocolError?.(`could not send: ${(err as Error).message}`);
    }
  }

  private sendError(id: RequestId | null, code: number, message: string, data?: ErrorData): void {
    this.sendSafe({ jsonrpc: '2.0', id, error: data ? { code, message, data } : { code, message } });
  }

  private receive(raw: string): void {
    let msg: unknown;
    try {
      msg = JSON.parse(raw);
    } catch (err) {
      this.sendError(null, ErrorCode.ParseError, `message is not JSON: ${(err as Error).message}`);
      return;
    }
    if (typeof msg !== 'object' || msg === null || Array.isArray(msg)) {
      this.sendError(null, ErrorCode.InvalidRequest, Array.isArray(msg) ? 'batch messages are not supported' : 'a message must be a JSON object');
      return;
    }
    const obj = msg as Record<string, unknown>;
    if ('method' in obj) {
      if ('id' in obj) this.receiveRequest(obj);
      else this.receiveNotification(obj);
    } else if ('id' in obj && ('result' in obj || 'error' in obj)) {
      this.receiveResponse(obj);
    } else {
      const id = typeof obj.id === 'string' || typeof obj.id === 'number' ? obj.id : null;
      this.sendError(id, ErrorCode.InvalidRequest, 'a message needs "method" (request or notification) or "result"/"error" (response)');
    }
  }

  private receiveRequest(obj: Record<string, unknown>): void {
    const parsed = RequestMessage.safeParse(obj);
    if (!parsed.success) {
      const id = typeof obj.id === 'string' || typeof obj.id === 'number' ? obj.id : null;
      const { message, field } = describeZodError(parsed.error, 'message');
      this.sendError(id, ErrorCode.InvalidRequest, message, { field });
      return;
    }
    const { id, method, params } = parsed.data;
    const handler = this.requestHandler;
    if (!handler) {
      this.sendError(id, ErrorCode.MethodNotFound, `this side serves no requests (got "${method}")`);
      return;
    }
    handler({ id, method, params }).then(
      (result) => this.sendSafe({ jsonrpc: '2.0', id, result: result ?? null }),
      (err: unknown) => {
        if (err instanceof RpcError) this.sendError(id, err.code, err.message, err.data);
        else this.sendError(id, ErrorCode.InternalError, `internal error: ${(err as Error)?.message ?? String(err)}`);
      },
    );
  }

  private receiveNotification(obj: Record<string, unknown>): void {
    const parsed = NotificationMessage.safeParse(obj);
    if (!parsed.success) {
      this.options.onProtocolError?.(`invalid notification: ${describeZodError(parsed.error, 'message').message}`);
      return;
    }
    const { method, params } = parsed.data;
    const schema = this.notificationSchemas.get(method);
    const listeners = this.notificationListeners.get(method);
    if (!schema || !listeners || listeners.size === 0) {
      this.options.onProtocolError?.(`unhandled notification "${method}"`);
      return;
    }
    const p = schema.safeParse(params);
    if (!p.success) {
      this.options.onProtocolError?.(`invalid ${method} notification: ${describeZodError(p.error, 'params').message}`);
      return;
    }
    for (const l of listeners) l(p.data);
  }

  private receiveResponse(obj: Record<string, unknown>): void {
    const parsed = ResponseMessage.safeParse(obj);
    if (!parsed.success) {
      this.options.onProtocolError?.(`invalid response: ${describeZodError(parsed.error, 'message').message}`);
      return;
    }
    const { id, result, error } = parsed.data;
    if (id === null) {
      // The other side could not tell which request this answers (e.g. our message was not JSON).
      this.options.onProtocolError?.(`error without request id: ${error?.message ?? 'no message'}`);
      return;
    }
    const p = this.pending.get(id);
    if (!p) {
      this.options.onProtocolError?.(`response to unknown request ${String(id)}`);
      return;
    }
    this.pending.delete(id);
    clearTimeout(p.timer);
    if (error) {
      p.reject(new RpcError(error.code, error.message, (error.data ?? undefined) as ErrorData | undefined));
      return;
    }
    const r = p.schema.safeParse(result);
    if (!r.success) {
      p.reject(new RpcError(ErrorCode.InternalError, `invalid answer to ${p.method}: ${describeZodError(r.error, 'result').message}`));
      return;
    }
    p.resolve(r.data);
  }
}
