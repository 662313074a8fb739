// The wire under an RpcConnection. Production uses a WebSocket; tests use an
// in-memory pair, so the protocol is exercised without sockets.
import type WebSocket from 'ws';

export interface Transport {
  send(message: string): void;
  onMessage(listener: (message: string) => void): void;
  /** Called once, when either side closed. */
  onClose(listener: (reason: string) => void): void;
  close(reason?: string): void;
}

class MemoryTransport implements Transport {
  peer: MemoryTransport | undefined;
  private readonly messageListeners: ((m: string) => void)[] = [];
  private readonly closeListeners: ((r: string) => void)[] = [];
  private closed = false;

  send(message: string): void {
    if (this.closed) throw new Error('transport is closed');
    const peer = this.peer;
    // Asynchronous like a socket, so no test depends on re-entrant delivery.
    queueMicrotask(() => peer?.deliver(message));
  }
  private deliver(message: string): void {
    if (this.closed) return;
    for (const l of this.messageListeners) l(message);
  }
  onMessage(listener: (message: string) => void): void {
    this.messageListeners.push(listener);
  }
  onClose(listener: (reason: string) => void): void {
    this.closeListeners.push(listener);
  }
  close(reason = 'closed'): void {
    if (this.closed) return;
    this.closed = true;
    for (const l of this.closeListeners) l(reason);
    this.peer?.close(reason);
  }
}

/** Two connected ends: what one sends, the other receives. */
export function createMemoryTransportPair(): [Transport, Transport] {
  const a = new MemoryTransport();
  const b = new MemoryTransport();
  a.peer = b;
  b.peer = a;
  return [a, b];
}

export function webSocketTransport(ws: WebSocket): Transport {
  return {
    send(message) {
      ws.send(message);
    },
    onMessage(listener) {
      ws.on('message', (data, isBinary) => {
        listener(isBinary ? '\u0000binary' : data.toString());
      });
    },
    onClose(listener) {
      let done = false;
      const fire = (reason: string) => {
        if (!done) {
          done = true;
          listener(reason);
        }
      };
      ws.on('close', (code, reason) => fire(`closed (${code}${reason.length ? `: ${reason.toString()}` : ''})`));
      ws.on('error', (err) => fire(`error: ${err.message}`));
    },
    close(reason) {
      ws.close(1000, reason?.slice(0, 120));
    },
  };
}
