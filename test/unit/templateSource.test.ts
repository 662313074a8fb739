// templates/render with `source`: an editor's unsaved template text rendered
// with its variables' defaults (what runtime estimates of templates use),
// checked exactly like a template file, over the in-memory transport.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ErrorCode, TemplatesRender } from '../../daemon/protocol';
import { startHarness } from './harness';

const train = fs.readFileSync(path.join(__dirname, '..', '..', 'templates', 'train.sbatch.hbs'), 'utf8');
let h: Awaited<ReturnType<typeof startHarness>>;
before(async () => {
  h = await startHarness();
});
after(async () => {
  await h?.close();
});

test('an unsaved template renders with its defaults: optional resources left out, defaults in', async () => {
  const edited = train.replace('"default": 1, "min": 1, "max": 4096', '"default": 6, "min": 1, "max": 4096');
  assert.notEqual(edited, train, 'the cpus default was edited');
  const r = await h.client.request(TemplatesRender, { template: 'train', source: edited, values: {} });
  assert.match(r.script, /^#!\/bin\/bash\n#SBATCH --cpus-per-task=6\n/, 'the buffer, not the file on disk, is rendered');
  assert.doesNotMatch(r.script, /--time=|--partition=/, 'unset optional variables leave their directives out');
  assert.equal(r.values.cpus, 6);
});

test('a broken template text is InvalidParams naming the problem; a variable without default is named', async () => {
  await assert.rejects(h.client.request(TemplatesRender, { template: 'mine', source: '#!/bin/bash\necho {{x}}\n', values: {} }), (e: { code?: number; message?: string }) => {
    assert.equal(e.code, ErrorCode.InvalidParams);
    assert.match(e.message!, /mine\.sbatch\.hbs \(unsaved text\)/);
    return true;
  });
  const needs = '{{!-- slurm-ml {"kind": "job", "variables": [{"name": "steps", "type": "integer"}]} --}}\n#!/bin/bash\n#SBATCH --time=5\necho {{steps}}\n';
  await assert.rejects(h.client.request(TemplatesRender, { template: 'mine', source: needs, values: {} }), (e: { code?: number; message?: string }) => {
    assert.equal(e.code, ErrorCode.InvalidParams);
    assert.match(e.message!, /steps/);
    return true;
  });
});
