// The one module that talks to the extension: posting messages, receiving
// them (validated against webview/protocol.ts), and the UI state VS Code keeps
// for the page across hide and restore. Views never touch the transport.
import './zodConfig';
import { HostToWebview, WEBVIEW_PROTOCOL_VERSION, parseMessage, type WebviewToHost } from './protocol';

interface VsCodeApi {
  postMessage(message: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const api = acquireVsCodeApi();
let seq = 0;

export function send(message: WebviewToHost): void {
  api.postMessage(message);
}

export function newRequestId(): string {
  return `r${Date.now().toString(36)}-${++seq}`;
}

/** Calls `onMessage` with every valid message from the extension; invalid ones go to `onInvalid` and are dropped. */
export function listen(onMessage: (m: HostToWebview) => void, onInvalid: (error: string) => void): void {
  window.addEventListener('message', (ev: MessageEvent) => {
    const r = parseMessage(HostToWebview, ev.data);
    if (r.ok) onMessage(r.message);
    else onInvalid(r.error);
  });
}

/** Tells the extension the page listens; it sends nothing before. */
export function ready(): void {
  send({ type: 'ready', version: WEBVIEW_PROTOCOL_VERSION });
}

export function loadState<T>(): Partial<T> | undefined {
  const s = api.getState();
  return s && typeof s === 'object' ? (s as Partial<T>) : undefined;
}

export function saveState<T>(state: T): void {
  api.setState(state);
}
