// Windows (CRLF) line endings in batch scripts: found where sbatch would
// complain, converted the way submit uploads them.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { parseSbatchScript } from '../../daemon/slurm/directives';
import { dosLineBreaksMessage, findDosLineBreaks, toUnixLineBreaks } from '../../daemon/slurm/lineEndings';

const sbatchDir = path.join(__dirname, '..', 'fixtures', 'sbatch');

test('CRLF is found where the directive parser (which reads as sbatch does) reports "DOS line breaks", and counted', () => {
  const cases = [
    '#!/bin/bash\r\n#SBATCH --time=5\r\necho hi\r\n',
    '#!/bin/bash\n#SBATCH --time=5\necho hi\r\n',
    '#!/bin/bash\n#SBATCH -J x\r\n\r\n',
    '#!/bin/bash\necho "é€ 🙂"\r\n',
  ];
  for (const text of cases) {
    const found = findDosLineBreaks(text);
    const dos = parseSbatchScript(text).problems.find((p) => /DOS line breaks/.test(p.message));
    assert.ok(found && dos, JSON.stringify(text));
    assert.deepEqual([found.line, found.column], [dos.line, dos.column], JSON.stringify(text));
    assert.equal(found.count, text.split('\r\n').length - 1);
  }
  assert.equal(findDosLineBreaks('#!/bin/bash\necho hi\n'), null);
  assert.equal(findDosLineBreaks('#!/bin/bash\nprintf "50%%\\r"; printf "a\rb"\n'), null, 'a lone CR is not a line break');
  // A byte order mark is not a column (as the parser counts, which also refuses the BOM itself).
  assert.deepEqual(findDosLineBreaks('\ufeff#!/bin/sh\r\n'), { count: 1, line: 1, column: 10 });
});

test('converted, every CRLF becomes LF and nothing else changes; sbatch has nothing left to refuse', () => {
  for (const name of fs.readdirSync(sbatchDir).filter((n) => n.endsWith('.sbatch'))) {
    const unix = fs.readFileSync(path.join(sbatchDir, name), 'utf8');
    const windows = unix.replace(/\n/g, '\r\n');
    assert.ok(findDosLineBreaks(windows), name);
    const converted = toUnixLineBreaks(windows);
    assert.equal(converted, unix, name);
    assert.equal(findDosLineBreaks(converted), null, name);
    assert.deepEqual(parseSbatchScript(converted).problems, parseSbatchScript(unix).problems, name);
  }
  // A lone CR (progress output a script prints) is kept; a CR before LF goes.
  assert.equal(toUnixLineBreaks('#!/bin/sh\r\nprintf "a\rb"\r\n\r\r\n'), '#!/bin/sh\nprintf "a\rb"\n\r\n');
});

test('the message says what sbatch does and what slurm-ml does instead', () => {
  assert.match(dosLineBreaksMessage({ count: 1, line: 3, column: 4 }), /^Windows line endings \(CRLF\) on a line: sbatch refuses such scripts \("DOS line breaks"\), so slurm-ml converts them to Unix line endings \(LF\)/);
  assert.match(dosLineBreaksMessage({ count: 12, line: 1, column: 12 }), /on 12 lines/);
});
