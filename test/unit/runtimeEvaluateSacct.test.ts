// `slurm-ml runtime evaluate --format sacct`: a `sacct --parsable2` dump goes
// through the same replay as an SWF trace. The dump is the LANL-CM5 sample
// (Parallel Workloads Archive) written the way sacct prints it (header line,
// `|`, local timestamps, D-HH:MM:SS durations, a .batch step under each job),
// so both formats must give the same jobs and the same baselines; and a real
// dump from the test cluster's accounting, too small for a model, says so.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { runtimeCommand, type EvaluationReport } from '../../daemon/cli/runtime';
import { readTrace, type JobRecord } from '../../daemon/runtime/traces';
import { formatSlurmDuration } from '../../daemon/slurm/time';

const FIXTURES = path.join(__dirname, '..', 'fixtures', 'traces');
const LANL = path.join(FIXTURES, 'LANL-CM5-first2000.swf');
const SACCT_LOCAL = path.join(FIXTURES, 'sacct-local.txt');

/** Local time as sacct prints it: 2026-11-22T09:09:48. */
function stamp(epochSeconds: number): string {
  const d = new Date(epochSeconds * 1000);
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())}T${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`;
}

function sacctDump(jobs: readonly JobRecord[]): string {
  // sacct's own header (the columns the daemon asks for), read from a real dump.
  const header = fs.readFileSync(SACCT_LOCAL, 'utf8').split('\n')[0]!;
  const columns = header.split('|');
  const lines = [header];
  for (const j of jobs) {
    const cells: Record<string, string> = {
      JobID: j.id,
      JobIDRaw: j.id,
      State: 'COMPLETED',
      ExitCode: '0:0',
      Submit: stamp(j.submit),
      Eligible: stamp(j.submit),
      Start: stamp(j.start),
      End: stamp(j.end),
      Elapsed: formatSlurmDuration(j.runtime),
      Timelimit: j.requestedTime === null ? 'UNLIMITED' : formatSlurmDuration(j.requestedTime),
      Partition: j.partition ?? '',
      QOS: j.qos ?? '',
      Account: j.account ?? '',
      User: j.user,
      NNodes: '1',
      NCPUS: String(j.cpus ?? 1),
      JobName: j.jobName,
    };
    lines.push(columns.map((c) => cells[c] ?? '').join('|'));
    // The step sacct lists under each job is not a job.
    lines.push(columns.map((c) => (c === 'JobID' || c === 'JobIDRaw' ? `${j.id}.batch` : c === 'State' ? 'COMPLETED' : c === 'Elapsed' ? cells.Elapsed! : '')).join('|'));
  }
  return lines.join('\n') + '\n';
}

async function evaluate(args: string[]): Promise<{ code: number; report: EvaluationReport }> {
  const out: string[] = [];
  const write = process.stdout.write;
  process.stdout.write = ((chunk: unknown, ...rest: unknown[]) => {
    if (typeof chunk === 'string' && chunk.startsWith('{')) {
      out.push(chunk);
      return true;
    }
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest);
  }) as typeof process.stdout.write;
  let code: number;
  try {
    code = await runtimeCommand(['evaluate', ...args, '--json']);
  } finally {
    process.stdout.write = write;
  }
  return { code, report: JSON.parse(out.join('')) as EvaluationReport };
}

test('a sacct dump of a trace gives the jobs and baselines its SWF gives, and a model that beats the requested limit', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'slurm-ml-sacct-dump-'));
  try {
    const swf = await readTrace(LANL);
    const dump = path.join(dir, 'lanl.sacct');
    fs.writeFileSync(dump, sacctDump(swf.jobs));
    const settings = ['--trees', '10', '--retrain-every', '500'];
    const a = await evaluate(['--trace', LANL, ...settings]);
    const b = await evaluate(['--trace', dump, '--format', 'sacct', ...settings]);
    assert.equal(a.code, 0);
    assert.equal(b.code, 0);
    assert.equal(b.report.trace.format, 'sacct');
    assert.equal(b.report.jobs, a.report.jobs);
    assert.equal(b.report.trace.rows, a.report.jobs, 'steps are not counted as jobs');
    const byName = (r: EvaluationReport) => new Map(r.predictors.map((p) => [p.name, p.metrics]));
    for (const name of ['requested limit', 'last-2 per user']) assert.deepEqual(byName(b.report).get(name), byName(a.report).get(name), name);
    assert.equal(b.report.segments.length, a.report.segments.length);
    const model = b.report.predictors[0]!.metrics;
    assert.ok(model.accuracy > byName(b.report).get('requested limit')!.accuracy, `model ${model.accuracy}`);
    assert.ok(b.report.interval.coverage > 0.5 && b.report.interval.coverage < 1, `coverage ${b.report.interval.coverage}`);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

test("the test cluster's own sacct dump is read; with too few jobs for a model the report says so", async () => {
  const r = await evaluate(['--trace', SACCT_LOCAL, '--format', 'sacct']);
  assert.equal(r.code, 0);
  assert.equal(r.report.trace.format, 'sacct');
  assert.ok(r.report.jobs > 100);
  assert.equal(r.report.segments.length, 0);
  assert.equal(r.report.modelledJobs, 0);
  const { formatReport } = await import('../../daemon/cli/runtime');
  assert.match(formatReport(r.report), /no model: fewer than 500 jobs had ended/);
});
