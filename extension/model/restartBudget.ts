// How many times a crashing daemon is restarted: at most `max` restarts within
// a sliding window, then the extension stops trying and says so once
// (vscode-languageclient's DefaultErrorHandler does the same with 4 in 3 min).
export class RestartBudget {
  private readonly restarts: number[] = [];

  constructor(
    readonly max = 3,
    readonly windowMs = 3 * 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records a restart and returns true when it is within the budget. */
  take(): boolean {
    const t = this.now();
    while (this.restarts.length && this.restarts[0]! <= t - this.windowMs) this.restarts.shift();
    if (this.restarts.length >= this.max) return false;
    this.restarts.push(t);
    return true;
  }

  /** Restarts left in the current window. */
  remaining(): number {
    const t = this.now();
    return this.max - this.restarts.filter((r) => r > t - this.windowMs).length;
  }

  /** A restart asked for by the user starts a fresh budget. */
  reset(): void {
    this.restarts.length = 0;
  }
}
