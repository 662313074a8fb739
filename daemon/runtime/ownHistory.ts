// The runtime history of a cluster without accounting: the jobs this daemon
// followed to their end (final states and times from scontrol), as the
// JobRecords that sacct's rows would have given. Only jobs that ran and whose
// end is known count, as for sacct (traces.ts): not ENDED (final state
// unknown), not LOST, not those cancelled before they started.
import type { JobInfo } from '../protocol';
import type { JobRecord } from './traces';

const RAN = new Set(['COMPLETED', 'FAILED', 'TIMEOUT', 'OUT_OF_MEMORY', 'CANCELLED']);

const epoch = (iso: string | null): number | null => (iso === null ? null : Math.floor(Date.parse(iso) / 1000));

export function ownJobRecords(jobs: readonly JobInfo[], user: string): JobRecord[] {
  const out: JobRecord[] = [];
  for (const j of jobs) {
    if (!j.terminal || !RAN.has(j.state) || j.slurmJobId === null) continue;
    const submit = epoch(j.submitTime);
    const start = epoch(j.startTime);
    const end = epoch(j.endTime);
    if (submit === null || start === null || end === null || end - start <= 0) continue;
    out.push({
      id: j.slurmJobId,
      user,
      jobName: j.name,
      submit,
      start,
      end,
      runtime: end - start,
      requestedTime: j.requested.timeLimitSeconds,
      cpus: j.requested.cpus ?? 1,
      nodes: j.requested.nodes,
      memMB: null,
      gpus: null,
      partition: j.requested.partition,
      qos: j.requested.qos,
      account: j.requested.account,
      state: j.state,
      exit: j.exitCode,
    });
  }
  return out.sort((a, b) => a.submit - b.submit);
}
