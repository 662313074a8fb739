// A daemon in memory (real handlers, SQLite :memory:, real SSH) with one
// client on an in-memory transport that answers ssh/prompt from a script,
// for the jump host, prompt and backoff tests. Needs test/cluster/up.sh and
// test/cluster/extra-sshd.sh.
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { openDatabase } from '../../daemon/db/database';
import { createApp, type App } from '../../daemon/app';
import { createLogger, memorySink } from '../../daemon/log';
import { RpcConnection } from '../../daemon/rpc/connection';
import { createMemoryTransportPair } from '../../daemon/rpc/transport';
import { Initialize, PROTOCOL_VERSION } from '../../daemon/protocol';
import { servePrompts, type SshPromptParams, type SshPromptResult } from '../../daemon/client';
import type { ConnectionsOptions } from '../../daemon/connections';
import { clusterDir, parseExports } from './clusterEnv';

export interface ExtraEnv {
  jumpPort: number;
  jumpLog: string;
  kbdPort: number;
  kbdUser: string;
  kbdPassword: string;
  kbdLog: string;
  extraKnownHosts: string;
  passphraseIdentity: string;
  passphrase: string;
}

export function extraEnvPath(): string {
  return join(clusterDir(), 'extra-env.sh');
}

/** extra-env.sh from test/cluster/extra-sshd.sh. */
export function loadExtraEnv(): ExtraEnv {
  const path = extraEnvPath();
  if (!existsSync(path)) throw new Error(`${path} is missing: run test/cluster/extra-sshd.sh (as root, after up.sh)`);
  const v = parseExports(readFileSync(path, 'utf8'));
  const need = (k: string) => {
    const x = v[k];
    if (!x) throw new Error(`${path} does not set ${k}`);
    return x;
  };
  return {
    jumpPort: Number(need('SLURM_ML_TEST_JUMP_PORT')),
    jumpLog: need('SLURM_ML_TEST_JUMP_LOG'),
    kbdPort: Number(need('SLURM_ML_TEST_KBD_PORT')),
    kbdUser: need('SLURM_ML_TEST_KBD_USER'),
    kbdPassword: need('SLURM_ML_TEST_KBD_PASSWORD'),
    kbdLog: need('SLURM_ML_TEST_KBD_LOG'),
    extraKnownHosts: need('SLURM_ML_TEST_EXTRA_KNOWN_HOSTS'),
    passphraseIdentity: need('SLURM_ML_TEST_PASSPHRASE_IDENTITY'),
    passphrase: need('SLURM_ML_TEST_PASSPHRASE'),
  };
}

export type PromptScript = (req: SshPromptParams) => SshPromptResult | Promise<SshPromptResult>;

export interface PromptApp {
  app: App;
  client: RpcConnection;
  /** Every prompt the client was asked, in order. */
  prompts: SshPromptParams[];
  /** How the client answers; replace per test. */
  answer: PromptScript;
  logLines: string[];
  close(): Promise<void>;
}

export async function startPromptApp(opts: { prompts?: boolean; ssh?: ConnectionsOptions } = {}): Promise<PromptApp> {
  const db = openDatabase(':memory:');
  const sink = memorySink('debug');
  const log = createLogger(sink);
  const app = createApp({
    db,
    databasePath: ':memory:',
    log,
    logSink: sink,
    pollIntervalMs: 3_600_000,
    ssh: { readyTimeoutMs: 15_000, ...opts.ssh },
    location: { stateDir: '/nonexistent', stateFile: '/nonexistent/daemon.json', port: () => 0, startedAt: new Date().toISOString() },
    requestShutdown: () => {},
  });
  const [serverEnd, clientEnd] = createMemoryTransportPair();
  app.dispatcher.attach(serverEnd);
  const client = new RpcConnection(clientEnd, { requestTimeoutMs: 30_000 });
  const h: PromptApp = {
    app,
    client,
    prompts: [],
    answer: () => ({ outcome: 'cancelled' }),
    logLines: sink.lines,
    async close() {
      client.close();
      await app.close();
      if (db.open) db.close();
    },
  };
  const withPrompts = opts.prompts ?? true;
  if (withPrompts) {
    servePrompts(client, async (req) => {
      h.prompts.push(req);
      return h.answer(req);
    });
  }
  await client.request(Initialize, { protocolVersion: PROTOCOL_VERSION, clientName: 'prompt-test', capabilities: { prompts: withPrompts } });
  return h;
}

/** Lines of a log file matching re (0 when the file is missing). */
export function countLines(file: string, re: RegExp): number {
  if (!existsSync(file)) return 0;
  return readFileSync(file, 'utf8').split(/\r?\n/).filter((l) => re.test(l)).length;
}
