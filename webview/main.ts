// Dashboard page entry: announces itself to the extension once loaded.
import { WEBVIEW_PROTOCOL_VERSION, type WebviewToHost } from './protocol';

interface VsCodeApi {
  postMessage(message: WebviewToHost): void;
}
declare function acquireVsCodeApi(): VsCodeApi;

const vscode = acquireVsCodeApi();
vscode.postMessage({ type: 'ready', version: WEBVIEW_PROTOCOL_VERSION });
