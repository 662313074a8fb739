// Answers the daemon's ssh/prompt requests in a terminal: asks on stderr
// (stdout stays clean for --json), reads hidden input for secrets, and asks
// yes/no for an unknown host key. Without a terminal nobody can answer, so
// every prompt is cancelled.
import type { SshPromptParams, SshPromptResult } from '../client';

export interface TtyStreams {
  input: NodeJS.ReadStream;
  output: NodeJS.WriteStream;
}

/** Whether a person can answer here (stdin is a terminal). */
export function canPromptInTerminal(input: NodeJS.ReadStream = process.stdin): boolean {
  return input.isTTY === true;
}

let queue: Promise<unknown> = Promise.resolve();

/** One prompt at a time: two logins in parallel must not interleave on the screen. */
export function terminalPrompt(request: SshPromptParams, io: TtyStreams = { input: process.stdin, output: process.stderr }): Promise<SshPromptResult> {
  const run = queue.then(() => ask(request, io));
  queue = run.catch(() => undefined);
  return run;
}

async function ask(req: SshPromptParams, io: TtyStreams): Promise<SshPromptResult> {
  if (!canPromptInTerminal(io.input)) return { outcome: 'cancelled' };
  const out = io.output;
  out.write(`\n${req.title}\n`);
  if (req.instructions) out.write(`${req.instructions}\n`);
  if (req.kind === 'host-key') {
    const k = req.hostKey;
    if (k) out.write(`  host ${k.host} port ${k.port}\n  ${k.keyType} key fingerprint ${k.fingerprint}\n`);
    for (;;) {
      const a = await readLine(io, 'Trust this host key and connect? (yes/no) ', true);
      if (a === null) return { outcome: 'cancelled' };
      const t = a.trim().toLowerCase();
      if (t === 'yes' || t === 'y') return { outcome: 'accepted' };
      if (t === 'no' || t === 'n' || t === '') return { outcome: 'cancelled' };
      out.write('Please type "yes" or "no".\n');
    }
  }
  const answers: string[] = [];
  for (const p of req.prompts) {
    const a = await readLine(io, p.prompt, p.echo);
    if (a === null) return { outcome: 'cancelled' };
    answers.push(a);
  }
  return { outcome: 'answered', answers };
}

/** One line from the terminal; null on Ctrl-C or Ctrl-D. Hidden input echoes nothing. */
function readLine(io: TtyStreams, prompt: string, echo: boolean): Promise<string | null> {
  const { input, output } = io;
  return new Promise((resolve) => {
    let line = '';
    const wasRaw = input.isRaw;
    // Raw before the prompt shows: typing ahead must not be echoed by the terminal.
    input.setRawMode(true);
    output.write(prompt);
    input.setEncoding('utf8');
    input.resume();
    const done = (value: string | null) => {
      input.off('data', onData);
      input.setRawMode(wasRaw);
      input.pause();
      output.write('\n');
      resolve(value);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(line);
        if (ch === '\u0003' || ch === '\u0004') return done(null); // Ctrl-C, Ctrl-D
        if (ch === '\u007f' || ch === '\b') {
          if (line.length > 0) {
            line = line.slice(0, -1);
            if (echo) output.write('\b \b');
          }
          continue;
        }
        if (ch === '\u0015') {
          // Ctrl-U: erase the line.
          if (echo) output.write('\b \b'.repeat(line.length));
          line = '';
          continue;
        }
        if (ch < ' ') continue;
        line += ch;
        if (echo) output.write(ch);
      }
    };
    input.on('data', onData);
  });
}
