// What waits for the page while notifications pour in: only the latest
// message of each kind, the latest row of each job, and a log's appended bytes
// (appends add up; a reset starts over). The extension drains it a few times
// a second, so a burst of a thousand job changes reaches the page as one
// message with one row per job.
import type { HostToWebview, JobRow } from './protocol';

type Log = Extract<HostToWebview, { type: 'log' }>;

export class LatestQueue {
  private readonly kinds = new Map<string, HostToWebview>();
  private readonly jobs = new Map<string, JobRow>();

  get size(): number {
    return this.kinds.size + (this.jobs.size ? 1 : 0);
  }

  push(m: HostToWebview): void {
    if (m.type === 'jobs/update') {
      for (const j of m.jobs) {
        // Re-inserted: the drained order is the order of the latest changes.
        this.jobs.delete(j.id);
        this.jobs.set(j.id, j);
      }
      return;
    }
    if (m.type === 'jobs/replace') {
      // Everything is in it: older job updates are superseded.
      this.jobs.clear();
    }
    if (m.type === 'log') {
      const prev = this.kinds.get('log') as Log | undefined;
      if (prev && prev.jobId === m.jobId && !m.reset) {
        this.kinds.set('log', { ...prev, data: prev.data + m.data, done: m.done });
        return;
      }
    }
    this.kinds.set(m.type, m);
  }

  /** The messages to post, in order: the full list first, then job updates, then the rest. */
  drain(): HostToWebview[] {
    const out: HostToWebview[] = [];
    const replace = this.kinds.get('jobs/replace');
    if (replace) out.push(replace);
    if (this.jobs.size) out.push({ type: 'jobs/update', jobs: [...this.jobs.values()] });
    for (const [k, m] of this.kinds) if (k !== 'jobs/replace') out.push(m);
    this.clear();
    return out;
  }

  clear(): void {
    this.kinds.clear();
    this.jobs.clear();
  }
}
