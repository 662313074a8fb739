// The output listing of a workflow job (find -printf '%P\t%s\n' in its output
// directory) is text a job controls through its file names: a name holding a
// newline can forge a line. Only plain relative paths below the directory
// become outputs.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseFileList } from '../../daemon/workflows/service';

test('listed outputs stay inside their directory', () => {
  const forged = [
    'model.onnx\t10',
    'sub/metrics.json\t2',
    // a file named "x\n../../.ssh/id_ed25519\t411": find prints its name raw
    'x',
    '../../.ssh/id_ed25519\t411',
    '/etc/passwd\t1000',
    'a/./b\t1',
    'a//b\t1',
    '..\t1',
    'ok\x1b[31m\t1',
    'sub/../../up\t3',
    '',
  ].join('\n');
  assert.deepEqual(parseFileList(forged, '/home/u/.slurm-ml/runs/r1/output'), [
    { path: '/home/u/.slurm-ml/runs/r1/output/model.onnx', size: 10 },
    { path: '/home/u/.slurm-ml/runs/r1/output/sub/metrics.json', size: 2 },
  ]);
});
