// The extension's one connection to the daemon: connect or start it, answer
// its ssh/prompt requests through the UI, keep notification listeners across
// reconnects. When to reconnect and when to give up is model/supervisor.ts;
// this file adds VS Code: settings, messages, events.
import * as path from 'node:path';
import * as vscode from 'vscode';
import type { z } from 'zod';
import { connectOrStartDaemon, type ConnectedDaemon } from '../daemon/client';
import { DaemonShutdown, PROTOCOL_VERSION, type NotificationType, type ParamsOf, type RequestType, type ResultOf } from '../daemon/protocol';
import { isProcessAlive, readStateFile, statePaths, type StatePaths } from '../daemon/state';
import { daemonLaunch, type DaemonLaunch } from './model/editorRuntime';
import { Supervisor, type SupervisorState } from './model/supervisor';
import { answerSshPrompt } from './prompts';

export type DaemonState =
  | { kind: 'starting' }
  | { kind: 'connected'; pid: number; version: string }
  | { kind: 'reconnecting'; reason: string }
  | { kind: 'stopped'; reason: string };

/** Thrown by requests while the daemon is not connected; the message says why. */
export class DaemonUnavailable extends Error {}

type Listener = { type: NotificationType<z.ZodType>; fn: (params: unknown) => void; off?: () => void };
type Info = { pid: number; version: string };

function toDaemonState(s: SupervisorState<Info>): DaemonState {
  return s.kind === 'connected' ? { kind: 'connected', ...s.info } : s.kind === 'stopped' ? { kind: 'stopped', reason: s.reason } : s;
}

export class DaemonConnection implements vscode.Disposable {
  readonly paths: StatePaths = statePaths();
  private readonly stateEmitter = new vscode.EventEmitter<DaemonState>();
  /** Fires on every change; `connected` means views should reload. */
  readonly onDidChangeState = this.stateEmitter.event;
  private readonly listeners = new Set<Listener>();
  private readonly supervisor: Supervisor<ConnectedDaemon, Info>;

  constructor(extensionPath: string, version: string, private readonly log: vscode.LogOutputChannel) {
    this.supervisor = new Supervisor<ConnectedDaemon, Info>({
      connect: async () => {
        const d = await connectOrStartDaemon({
          paths: this.paths,
          clientName: 'vscode',
          // A daemon that accepts the connection but never answers must not hold the window for long:
          // initialize (and any request without its own timeout) gives up after 10 s.
          requestTimeoutMs: 10_000,
          clientVersion: version,
          daemonScript: path.join(extensionPath, 'dist', 'daemon.js'),
          ...this.launch(),
          daemonArgs: this.daemonArgs(),
          onProtocolError: (m) => log.warn(`protocol: ${m}`),
          prompt: (req) => answerSshPrompt(req, log),
        });
        for (const l of this.listeners) l.off = d.rpc.onNotification(l.type, l.fn);
        log.info(`connected to daemon ${d.daemonVersion} (pid ${d.state.pid}, 127.0.0.1:${d.state.port}, protocol ${PROTOCOL_VERSION})`);
        return d;
      },
      onClose: (d, cb) => d.rpc.onClose(cb),
      close: (d) => d.rpc.close('closed by the extension'),
      describe: (d) => ({ pid: d.state.pid, version: d.daemonVersion }),
      log,
      onGiveUp: (reason) => {
        const b = this.supervisor.budget;
        void vscode.window
          .showErrorMessage(
            `Slurm ML: the daemon could not be kept running (${b.max} restarts within ${b.windowMs / 60_000} minutes); it is not restarted again. Last error: ${reason}`,
            'Show Daemon Log',
            'Restart Daemon',
          )
          .then((c) => {
            if (c === 'Show Daemon Log') void vscode.commands.executeCommand('slurmMl.showDaemonLog');
            else if (c === 'Restart Daemon') void this.restart();
          });
      },
      onMismatch: () => {
        void vscode.window
          .showErrorMessage(
            `Slurm ML: the running daemon speaks another protocol version than this extension (${PROTOCOL_VERSION}), probably left by another version of Slurm ML. Restart it with this version? Jobs on the clusters are not affected.`,
            'Restart Daemon',
            'Show Log',
          )
          .then((c) => {
            if (c === 'Restart Daemon') void this.restart();
            else if (c === 'Show Log') log.show();
          });
      },
    });
    this.supervisor.onState((s) => this.stateEmitter.fire(toDaemonState(s)));
  }

  get state(): DaemonState {
    return toDaemonState(this.supervisor.state);
  }

  /** Why nothing can be done right now, or undefined when connected. */
  unavailableReason(): string | undefined {
    const s = this.state;
    if (s.kind === 'connected') return undefined;
    if (s.kind === 'starting') return 'the Slurm ML daemon is starting; try again in a moment.';
    if (s.kind === 'reconnecting') return `the Slurm ML daemon is restarting (${s.reason}).`;
    return `the Slurm ML daemon is not running: ${s.reason} Use "Slurm ML: Restart Daemon" to try again.`;
  }

  /**
   * The runtime a daemon this window starts runs on: `slurmMl.nodePath` when
   * set, else the editor's own (desktop VS Code's Electron, code-server's node,
   * the VS Code Server's node under Remote-SSH), so that nothing else needs
   * installing. See daemonLaunch for the environment it needs.
   */
  private launch(): DaemonLaunch {
    return daemonLaunch(vscode.workspace.getConfiguration('slurmMl').get<string>('nodePath'), process.execPath, this.daemonEnv());
  }

  /** For a daemon this window starts: Prometheus metrics on 127.0.0.1 when `slurmMl.metricsPort` is set (0: off). */
  private daemonArgs(): string[] {
    const port = vscode.workspace.getConfiguration('slurmMl').get<number>('metricsPort') ?? 0;
    return Number.isInteger(port) && port > 0 && port <= 65535 ? ['--metrics-port', String(port)] : [];
  }

  /** The environment of a daemon this window starts: the poll interval setting (a running daemon keeps its own). */
  private daemonEnv(): NodeJS.ProcessEnv {
    const seconds = vscode.workspace.getConfiguration('slurmMl').get<number>('pollIntervalSeconds');
    return seconds && seconds > 0 ? { ...process.env, SLURM_ML_POLL_INTERVAL_MS: String(Math.round(seconds * 1000)) } : process.env;
  }

  /** Connects, starting the daemon when none runs. Failures become state and messages, never exceptions. */
  start(): Promise<void> {
    return this.supervisor.start();
  }

  /** Stops the running daemon (politely, else by its pid) and starts a fresh one. */
  restart(): Promise<void> {
    return this.supervisor.restart(async (d) => {
      const pid = readStateFile(this.paths.stateFile)?.pid;
      if (d) {
        await d.rpc.request(DaemonShutdown, {}, { timeoutMs: 5000 }).catch((e) => this.log.warn(`daemon/shutdown: ${errorMessage(e)}`));
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
    });
  }

  /** Keeps the listener across reconnects; dispose to remove it. */
  onNotification<T extends NotificationType<z.ZodType>>(type: T, fn: (params: z.output<T['params']>) => void): vscode.Disposable {
    const l: Listener = { type, fn: fn as (p: unknown) => void };
    this.listeners.add(l);
    const c = this.supervisor.current;
    if (c) l.off = c.rpc.onNotification(type, l.fn);
    return new vscode.Disposable(() => {
      l.off?.();
      this.listeners.delete(l);
    });
  }

  async request<T extends RequestType<z.ZodType, z.ZodType>>(type: T, params: ParamsOf<T>, opts: { timeoutMs?: number } = {}): Promise<ResultOf<T>> {
    const c = this.supervisor.current;
    const why = this.unavailableReason();
    if (!c || why) throw new DaemonUnavailable(why ?? 'the Slurm ML daemon is not connected.');
    return c.rpc.request(type, params, opts);
  }

  dispose(): void {
    // The daemon outlives the window by design (jobs keep being followed);
    // only this connection ends.
    this.supervisor.dispose();
    this.stateEmitter.dispose();
  }
}

export function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
