// The extension's one connection to the daemon: connect or start it, answer
// its ssh/prompt requests through the UI, keep notification listeners across
// reconnects, and restart a daemon that went away within a bounded budget.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { z } from 'zod';
import { connectOrStartDaemon, type ConnectedDaemon } from '../daemon/client';
import { DaemonShutdown, ErrorCode, PROTOCOL_VERSION, type NotificationType, type ParamsOf, type RequestType, type ResultOf } from '../daemon/protocol';
import { RpcError } from '../daemon/rpc/connection';
import { isProcessAlive, readStateFile, statePaths, type StatePaths } from '../daemon/state';
import { RestartBudget } from './model/restartBudget';
import { answerSshPrompt } from './prompts';

export type DaemonState =
  | { kind: 'starting' }
  | { kind: 'connected'; pid: number; version: string }
  | { kind: 'reconnecting'; reason: string }
  | { kind: 'stopped'; reason: string };

/** Thrown by requests while the daemon is not connected; the message says why. */
export class DaemonUnavailable extends Error {}

type Listener = { type: NotificationType<z.ZodType>; fn: (params: unknown) => void; off?: () => void };

export class DaemonConnection implements vscode.Disposable {
  readonly paths: StatePaths = statePaths();
  private current: ConnectedDaemon | undefined;
  private stateValue: DaemonState = { kind: 'starting' };
  private readonly stateEmitter = new vscode.EventEmitter<DaemonState>();
  /** Fires with the state on every change; `connected` means views should reload. */
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly listeners = new Set<Listener>();
  private readonly budget = new RestartBudget(3, 3 * 60_000);
  private disposed = false;
  private connecting: Promise<void> | undefined;

  constructor(
    private readonly extensionPath: string,
    private readonly version: string,
    private readonly log: vscode.LogOutputChannel,
  ) {}

  get state(): DaemonState {
    return this.stateValue;
  }

  /** Why nothing can be done right now, or undefined when connected. */
  unavailableReason(): string | undefined {
    const s = this.stateValue;
    if (s.kind === 'connected') return undefined;
    if (s.kind === 'starting') return 'the Slurm ML daemon is starting; try again in a moment.';
    if (s.kind === 'reconnecting') return `the Slurm ML daemon is restarting (${s.reason}).`;
    return `the Slurm ML daemon is not running: ${s.reason} Use "Slurm ML: Restart Daemon" to try again.`;
  }

  private setState(s: DaemonState): void {
    this.stateValue = s;
    this.stateEmitter.fire(s);
  }

  /** Connects (starting the daemon if none runs). Errors become state and messages, never exceptions. */
  start(): Promise<void> {
    if (!this.connecting) {
      this.connecting = this.connect().finally(() => (this.connecting = undefined));
    }
    return this.connecting;
  }

  private nodePath(): string {
    // process.execPath is the editor's Electron (or code-server's node): the
    // daemon needs a Node >= 20 whose ABI matches its native modules, so the
    // default is `node` on PATH.
    return vscode.workspace.getConfiguration('slurmMl').get<string>('nodePath')?.trim() || 'node';
  }

  private async connect(): Promise<void> {
    if (this.disposed) return;
    if (this.stateValue.kind !== 'reconnecting') this.setState({ kind: 'starting' });
    try {
      const d = await connectOrStartDaemon({
        paths: this.paths,
        clientName: 'vscode',
        clientVersion: this.version,
        daemonScript: path.join(this.extensionPath, 'dist', 'daemon.js'),
        nodePath: this.nodePath(),
        onProtocolError: (m) => this.log.warn(`protocol: ${m}`),
        prompt: (req) => answerSshPrompt(req, this.log),
      });
      if (this.disposed) {
        d.rpc.close();
        return;
      }
      this.current = d;
      for (const l of this.listeners) l.off = d.rpc.onNotification(l.type, l.fn);
      d.rpc.onClose((reason) => this.lost(d, reason));
      this.log.info(`connected to daemon ${d.daemonVersion} (pid ${d.state.pid}, 127.0.0.1:${d.state.port}, protocol ${PROTOCOL_VERSION})`);
      this.setState({ kind: 'connected', pid: d.state.pid, version: d.daemonVersion });
    } catch (err) {
      const message = errorMessage(err);
      this.log.error(`cannot reach the daemon: ${message}`);
      if (err instanceof RpcError && err.code === ErrorCode.ProtocolMismatch) {
        this.setState({ kind: 'stopped', reason: 'it speaks a different protocol version (it was started by another version of Slurm ML).' });
        const choice = await vscode.window.showErrorMessage(
          `Slurm ML: the running daemon speaks another protocol version than this extension (${PROTOCOL_VERSION}). Restart it with this version? Jobs on the cluster are not affected.`,
          'Restart Daemon',
          'Show Log',
        );
        if (choice === 'Restart Daemon') await this.restart();
        else if (choice === 'Show Log') this.log.show();
        return;
      }
      this.retryOrGiveUp(message);
    }
  }

  private lost(d: ConnectedDaemon, reason: string): void {
    if (this.current !== d) return;
    this.current = undefined;
    if (this.disposed) return;
    this.log.warn(`lost the daemon connection: ${reason}`);
    this.retryOrGiveUp(`the connection closed: ${reason}`);
  }

  private retryOrGiveUp(reason: string): void {
    if (this.disposed) return;
    if (this.budget.take()) {
      this.log.info(`reconnecting (${this.budget.remaining()} restarts left in ${this.budget.windowMs / 60_000} min)`);
      this.setState({ kind: 'reconnecting', reason });
      setTimeout(() => void this.start(), 1000);
      return;
    }
    this.setState({ kind: 'stopped', reason: `${reason}.` });
    void vscode.window
      .showErrorMessage(
        `Slurm ML: the daemon stopped ${this.budget.max} times within ${this.budget.windowMs / 60_000} minutes; it is not restarted again. Last error: ${reason}`,
        'Show Daemon Log',
        'Restart Daemon',
      )
      .then((c) => {
        if (c === 'Show Daemon Log') void vscode.commands.executeCommand('slurmMl.showDaemonLog');
        else if (c === 'Restart Daemon') void this.restart();
      });
  }

  /** Stops the running daemon (politely, else by its pid) and starts a fresh one. */
  async restart(): Promise<void> {
    this.budget.reset();
    const d = this.current;
    this.current = undefined;
    this.setState({ kind: 'reconnecting', reason: 'restart requested' });
    const pid = readStateFile(this.paths.stateFile)?.pid;
    if (d) {
      await d.rpc.request(DaemonShutdown, {}, { timeoutMs: 5000 }).catch((e) => this.log.warn(`daemon/shutdown: ${errorMessage(e)}`));
      d.rpc.close();
    } else if (pid !== undefined && isProcessAlive(pid)) {
      // A daemon of another protocol version cannot be asked: it refuses
      // everything before a matching initialize.
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        /* already gone */
      }
    }
    if (pid !== undefined) {
      const deadline = Date.now() + 10_000;
      while (isProcessAlive(pid) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
    this.log.info('starting a new daemon');
    await this.start();
  }

  /** Keeps the listener across reconnects; dispose to remove it. */
  onNotification<T extends NotificationType<z.ZodType>>(type: T, fn: (params: z.output<T['params']>) => void): vscode.Disposable {
    const l: Listener = { type, fn: fn as (p: unknown) => void };
    this.listeners.add(l);
    if (this.current) l.off = this.current.rpc.onNotification(type, l.fn);
    return new vscode.Disposable(() => {
      l.off?.();
      this.listeners.delete(l);
    });
  }

  async request<T extends RequestType<z.ZodType, z.ZodType>>(type: T, params: ParamsOf<T>, opts: { timeoutMs?: number } = {}): Promise<ResultOf<T>> {
    const d = this.current;
    const why = this.unavailableReason();
    if (!d || why) throw new DaemonUnavailable(why ?? 'the Slurm ML daemon is not connected.');
    return d.rpc.request(type, params, opts);
  }

  dispose(): void {
    this.disposed = true;
    // The daemon outlives the window by design (jobs keep being followed);
    // only this connection ends.
    this.current?.rpc.close('window closed');
    this.current = undefined;
    this.stateEmitter.dispose();
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
