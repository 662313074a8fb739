// Structured logs: one JSON object per line on stderr (the daemon's stderr is
// its log file when the CLI starts it, and the extension's output channel when
// the extension does).
import type { LogLevel } from './protocol';

const order: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
  /** A logger that adds these fields to every line (e.g. a correlation id). */
  child(fields: LogFields): Logger;
}

export interface LogSink {
  level: LogLevel;
  write(line: string): void;
}

export function createLogger(sink: LogSink, bound: LogFields = {}): Logger {
  const emit = (level: LogLevel, msg: string, fields?: LogFields) => {
    if (order[level] < order[sink.level]) return;
    const entry: LogFields = { time: new Date().toISOString(), level, msg, ...bound, ...fields };
    let line: string;
    try {
      line = JSON.stringify(entry, (_k, v: unknown) => (v instanceof Error ? { message: v.message, name: v.name } : v));
    } catch {
      line = JSON.stringify({ time: entry.time, level, msg, unserializable: true });
    }
    sink.write(line + '\n');
  };
  return {
    debug: (m, f) => emit('debug', m, f),
    info: (m, f) => emit('info', m, f),
    warn: (m, f) => emit('warn', m, f),
    error: (m, f) => emit('error', m, f),
    child: (fields) => createLogger(sink, { ...bound, ...fields }),
  };
}

export function stderrSink(level: LogLevel): LogSink {
  return { level, write: (line) => process.stderr.write(line) };
}

/** Keeps lines in memory; for tests. */
export function memorySink(level: LogLevel = 'debug'): LogSink & { lines: string[] } {
  const lines: string[] = [];
  return { level, lines, write: (line) => lines.push(line) };
}
