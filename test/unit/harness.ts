// A whole daemon in memory: real handlers, real SQLite (:memory:), the
// dispatcher on one end of an in-memory transport pair and a client
// RpcConnection on the other. No sockets, no SSH.
import { openDatabase, type Db } from '../../daemon/db/database';
import { createApp, type App } from '../../daemon/app';
import { createLogger, memorySink } from '../../daemon/log';
import { RpcConnection } from '../../daemon/rpc/connection';
import { createMemoryTransportPair, type Transport } from '../../daemon/rpc/transport';
import { Initialize, PROTOCOL_VERSION } from '../../daemon/protocol';

export interface Harness {
  app: App;
  db: Db;
  client: RpcConnection;
  /** The raw client end, for sending what a well-behaved client never would. */
  raw: Transport;
  received: string[];
  logLines: string[];
  shutdownRequests: number;
  close(): Promise<void>;
}

export async function startHarness(opts: { initialize?: boolean } = {}): Promise<Harness> {
  const db = openDatabase(':memory:');
  const sink = memorySink('debug');
  const log = createLogger(sink);
  const h = { shutdownRequests: 0 } as Harness;
  const app = createApp({
    db,
    databasePath: ':memory:',
    log,
    logSink: sink,
    pollIntervalMs: 60_000,
    location: { stateDir: '/nonexistent', stateFile: '/nonexistent/daemon.json', port: () => 0, startedAt: new Date().toISOString() },
    requestShutdown: () => {
      h.shutdownRequests++;
    },
  });
  const [serverEnd, clientEnd] = createMemoryTransportPair();
  app.dispatcher.attach(serverEnd);
  const received: string[] = [];
  clientEnd.onMessage((m) => received.push(m));
  const client = new RpcConnection(clientEnd, { requestTimeoutMs: 2000 });
  if (opts.initialize !== false) {
    await client.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'unit-test' });
  }
  Object.assign(h, {
    app,
    db,
    client,
    raw: clientEnd,
    received,
    logLines: sink.lines,
    async close() {
      client.close();
      await app.close();
      if (db.open) db.close();
    },
  });
  return h;
}

/** Sends a raw string and returns the next message the daemon sends back, parsed. */
export async function sendRaw(h: Harness, text: string): Promise<Record<string, any>> {
  const before = h.received.length;
  h.raw.send(text);
  for (let i = 0; i < 200; i++) {
    if (h.received.length > before) return JSON.parse(h.received[before]!) as Record<string, any>;
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new Error(`no answer to ${JSON.stringify(text).slice(0, 80)}`);
}
