// Finds a person for an SSH login prompt among the connected clients: the
// client whose request needs the connection first, then any other that
// declared `capabilities.prompts`. Answers pass through; nothing is logged
// but the prompt's kind and title.
import { ErrorCode, SshPrompt } from './protocol';
import { RpcError } from './rpc/connection';
import type { Prompter, SshPromptParams } from './connections';
import type { ClientSession } from './server';
import type { SshPromptAnswer } from './ssh/session';
import type { Logger } from './log';

export interface SessionPrompterOptions {
  /** How long a person has to answer. Default 120 s: a poll must not hang forever. */
  timeoutMs?: number;
  log?: Logger;
}

export class SessionPrompter implements Prompter {
  private readonly timeoutMs: number;

  constructor(
    private readonly sessions: () => readonly ClientSession[],
    private readonly options: SessionPrompterOptions = {},
  ) {
    this.timeoutMs = options.timeoutMs ?? 120_000;
  }

  private candidates(preferred?: ClientSession): ClientSession[] {
    const able = (s: ClientSession) => s.initialized && s.canPrompt === true && !s.rpc.closed;
    const others = [...this.sessions()].filter(able).reverse(); // the newest client first: most likely in front of a person
    if (preferred && able(preferred)) return [preferred, ...others.filter((s) => s !== preferred)];
    return others;
  }

  canPrompt(preferred?: ClientSession): boolean {
    return this.candidates(preferred).length > 0;
  }

  async prompt(request: SshPromptParams, preferred?: ClientSession): Promise<SshPromptAnswer | null> {
    for (const client of this.candidates(preferred)) {
      this.options.log?.info('ssh prompt', { cluster: request.cluster, kind: request.kind, title: request.title, conn: client.id, client: client.clientName });
      try {
        const answer = await client.rpc.request(SshPrompt, request, { timeoutMs: this.timeoutMs });
        this.options.log?.info('ssh prompt answered', { cluster: request.cluster, kind: request.kind, outcome: answer.outcome, conn: client.id });
        return answer;
      } catch (err) {
        const e = err as RpcError;
        // A client that went away, or does not serve prompts after all: ask the next one.
        if (e instanceof RpcError && (e.code === ErrorCode.ConnectionClosed || e.code === ErrorCode.MethodNotFound)) {
          this.options.log?.warn('ssh prompt: client could not answer', { conn: client.id, error: e.message });
          continue;
        }
        if (e instanceof RpcError && e.code === ErrorCode.RequestTimeout) {
          throw new Error(`nobody answered the prompt "${request.title}" within ${Math.round(this.timeoutMs / 1000)} s`);
        }
        throw new Error(`the client could not show the prompt "${request.title}": ${e?.message ?? String(err)}`);
      }
    }
    return null;
  }
}
