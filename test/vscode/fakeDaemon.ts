// A deliberately broken daemon for the lifecycle tests: it writes a state
// file as the real daemon does (pid, port, token) and accepts the WebSocket,
// then either refuses `initialize` as a daemon of another protocol version
// would (`mismatch`), or never answers anything (`silent`).
// Usage: node --import tsx test/vscode/fakeDaemon.ts STATE_DIR mismatch|silent
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import { WebSocketServer } from 'ws';
import { ErrorCode, PROTOCOL_VERSION } from '../../daemon/protocol';
import { ensureStateDir, writeStateFile } from '../../daemon/state';

const [stateDir, mode] = process.argv.slice(2);
if (!stateDir || (mode !== 'mismatch' && mode !== 'silent')) {
  console.error('usage: fakeDaemon.ts STATE_DIR mismatch|silent');
  process.exit(2);
}
const token = randomBytes(32).toString('hex');
const other = PROTOCOL_VERSION + 90;
const wss = new WebSocketServer({ host: '127.0.0.1', port: 0, verifyClient: (info: { req: { headers: Record<string, string | string[] | undefined> } }) => info.req.headers.authorization === `Bearer ${token}` });
wss.on('connection', (ws) => {
  ws.on('message', (data) => {
    if (mode === 'silent') return;
    let msg: { id?: number | string; method?: string };
    try {
      msg = JSON.parse(String(data)) as typeof msg;
    } catch {
      return;
    }
    if (msg.id === undefined) return;
    ws.send(
      JSON.stringify({
        jsonrpc: '2.0',
        id: msg.id,
        error: { code: ErrorCode.ProtocolMismatch, message: `the daemon speaks protocol ${other}, the client ${PROTOCOL_VERSION}: restart the daemon`, data: { protocolVersion: other } },
      }),
    );
  });
});
wss.on('listening', () => {
  const port = (wss.address() as { port: number }).port;
  ensureStateDir(stateDir);
  writeStateFile(path.join(stateDir, 'daemon.json'), { pid: process.pid, port, token, protocolVersion: other, daemonVersion: `fake-${mode}`, startedAt: new Date().toISOString() });
  console.log(`fake daemon (${mode}) pid ${process.pid} on 127.0.0.1:${port}`);
});
for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => process.exit(0));
