// sacctmgr --parsable2 output (recorded from the local test cluster) read into
// QOS and associations; argument vectors refuse a user name that is not one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseAssociations, parseDefaultAccount, parseQos, readAccounting, sacctmgrAssociationsCommand } from '../../daemon/slurm/sacctmgr';

const QOS = 'normal||0|Normal QOS default\nhigh|00:10:00|100|high\nlow||0|low\n';
const ASSOC = 'research||high,low,normal|normal\n';
const USER = 'hpcuser|research\n';

test('QOS rows: MaxWall in seconds or null, priority, description', () => {
  const r = parseQos(QOS);
  assert.ok(r.ok);
  assert.deepEqual(r.value, [
    { name: 'normal', maxWallSeconds: null, priority: 0, description: 'Normal QOS default' },
    { name: 'high', maxWallSeconds: 600, priority: 100, description: 'high' },
    { name: 'low', maxWallSeconds: null, priority: 0, description: 'low' },
  ]);
  const bad = parseQos('sacctmgr: error: Problem talking to the database: Connection refused\n');
  assert.equal(bad.ok, false, 'an error message is not data');
});

test('associations: account, any partition, the QOS list and the default QOS; the default account', () => {
  const r = parseAssociations(`${ASSOC}other|gpu|normal|\n`);
  assert.ok(r.ok);
  assert.deepEqual(r.value, [
    { account: 'research', partition: null, qos: ['high', 'low', 'normal'], defaultQos: 'normal' },
    { account: 'other', partition: 'gpu', qos: ['normal'], defaultQos: null },
  ]);
  assert.equal(parseDefaultAccount(USER), 'research');
  assert.equal(parseDefaultAccount('hpcuser|\n'), null);
});

test('a user name that could be read as more than one word is refused', () => {
  assert.throws(() => sacctmgrAssociationsCommand('a b'), RangeError);
  assert.throws(() => sacctmgrAssociationsCommand('x,user=root'), RangeError);
  assert.deepEqual(sacctmgrAssociationsCommand('hpcuser').slice(-2), ['user=hpcuser', 'format=Account,Partition,QOS,DefaultQOS']);
});

test('readAccounting: only the QOS the associations allow; no accounting database → available false with sacctmgr\'s message', async () => {
  const answers = (qos: string, code = 0) => async (argv: string[]) => {
    if (argv[0] === 'id') return { code: 0, stdout: 'hpcuser\n', stderr: '' };
    if (argv.includes('qos')) return { code, stdout: code ? '' : qos, stderr: code ? 'sacctmgr: error: Problem talking to the database: Connection refused\n' : '' };
    if (argv.includes('associations')) return { code, stdout: code ? '' : 'research||low,normal|normal\n', stderr: '' };
    return { code: 0, stdout: USER, stderr: '' };
  };
  const a = await readAccounting(answers(QOS));
  assert.equal(a.available, true);
  assert.deepEqual(a.qos.map((q) => q.name), ['normal', 'low']);
  assert.deepEqual(a.accounts, [{ name: 'research', isDefault: true, partitions: [], qos: ['low', 'normal'], defaultQos: 'normal' }]);
  const none = await readAccounting(answers(QOS, 1));
  assert.equal(none.available, false);
  assert.match(none.message!, /Problem talking to the database/);
});
