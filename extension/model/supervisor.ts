// Keeps one connection to the daemon alive without knowing VS Code: connects
// (which starts a daemon when none runs), reconnects when the connection is
// lost within a restart budget, gives up with one message when the budget is
// spent, and stops at a protocol mismatch (retrying cannot fix it; the user
// decides whether to restart the daemon). The UI is injected, so broken
// daemons can be simulated in unit tests.
import { ErrorCode } from '../../daemon/protocol';
import { RpcError } from '../../daemon/rpc/connection';
import { RestartBudget } from './restartBudget';

export type SupervisorState<I> =
  | { kind: 'starting' }
  | { kind: 'connected'; info: I }
  | { kind: 'reconnecting'; reason: string }
  | { kind: 'stopped'; reason: string; mismatch: boolean };

export interface SupervisorDeps<C, I> {
  /** Connects to the running daemon or starts one. */
  connect(): Promise<C>;
  /** Registers the callback for the connection's end. */
  onClose(c: C, cb: (reason: string) => void): void;
  close(c: C): void;
  describe(c: C): I;
  log: { info(m: string): void; warn(m: string): void; error(m: string): void };
  /** Told once when the restart budget is spent. */
  onGiveUp(reason: string): void;
  /** Told when the daemon speaks another protocol version. */
  onMismatch(message: string): void;
  budget?: RestartBudget;
  retryDelayMs?: number;
}

export class Supervisor<C, I> {
  private currentValue: C | undefined;
  private stateValue: SupervisorState<I> = { kind: 'starting' };
  private readonly listeners = new Set<(s: SupervisorState<I>) => void>();
  private connecting: Promise<void> | undefined;
  private disposed = false;
  private retryTimer: ReturnType<typeof setTimeout> | undefined;
  readonly budget: RestartBudget;

  constructor(private readonly deps: SupervisorDeps<C, I>) {
    this.budget = deps.budget ?? new RestartBudget(3, 3 * 60_000);
  }

  get state(): SupervisorState<I> {
    return this.stateValue;
  }

  get current(): C | undefined {
    return this.currentValue;
  }

  onState(listener: (s: SupervisorState<I>) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private set(s: SupervisorState<I>): void {
    this.stateValue = s;
    for (const l of [...this.listeners]) l(s);
  }

  /** Connects unless connected or connecting; never throws: failures become state. */
  start(): Promise<void> {
    if (this.currentValue) return Promise.resolve();
    this.connecting ??= this.connect().finally(() => (this.connecting = undefined));
    return this.connecting;
  }

  private async connect(): Promise<void> {
    if (this.disposed) return;
    if (this.stateValue.kind !== 'reconnecting') this.set({ kind: 'starting' });
    let c: C;
    try {
      c = await this.deps.connect();
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err);
      this.deps.log.error(`cannot reach the daemon: ${message}`);
      if (err instanceof RpcError && err.code === ErrorCode.ProtocolMismatch) {
        this.set({ kind: 'stopped', reason: 'it speaks another protocol version (started by another version of Slurm ML).', mismatch: true });
        this.deps.onMismatch(message);
        return;
      }
      this.retryOrGiveUp(message);
      return;
    }
    if (this.disposed) {
      this.deps.close(c);
      return;
    }
    this.currentValue = c;
    this.deps.onClose(c, (reason) => this.lost(c, reason));
    // The connection may have ended while onClose was being registered.
    if (this.currentValue === c) this.set({ kind: 'connected', info: this.deps.describe(c) });
  }

  private lost(c: C, reason: string): void {
    if (this.currentValue !== c) return;
    this.currentValue = undefined;
    if (this.disposed) return;
    this.deps.log.warn(`lost the daemon connection: ${reason}`);
    this.retryOrGiveUp(`the connection closed: ${reason}`);
  }

  private retryOrGiveUp(reason: string): void {
    if (this.disposed) return;
    if (this.budget.take()) {
      this.deps.log.info(`reconnecting (${this.budget.remaining()} restarts left in ${this.budget.windowMs / 60_000} min)`);
      this.set({ kind: 'reconnecting', reason });
      this.retryTimer = setTimeout(() => void this.start(), this.deps.retryDelayMs ?? 1000);
      return;
    }
    this.set({ kind: 'stopped', reason: `${reason}.`, mismatch: false });
    this.deps.onGiveUp(reason);
  }

  /**
   * A restart the user asked for: a fresh budget, the current connection
   * dropped (stop() ends the old daemon), then a new connection.
   */
  async restart(stop: (c: C | undefined) => Promise<void>): Promise<void> {
    this.budget.reset();
    clearTimeout(this.retryTimer);
    const c = this.currentValue;
    this.currentValue = undefined;
    this.set({ kind: 'reconnecting', reason: 'restart requested' });
    await stop(c);
    if (c) this.deps.close(c);
    await this.start();
  }

  dispose(): void {
    this.disposed = true;
    clearTimeout(this.retryTimer);
    if (this.currentValue) this.deps.close(this.currentValue);
    this.currentValue = undefined;
    this.listeners.clear();
  }
}
