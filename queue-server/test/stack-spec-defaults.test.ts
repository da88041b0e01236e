// The queue server's own defaults that the lab's stack spec also states are read from the spec, so a
// server started by hand and one in the lab agree: the protocol port and the database a URL without one drains into.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DATABASE, DEFAULT_PORTS } from '@eserver-lab/common/stack-spec';
import { DEFAULTS } from '../src/config.js';
import { poolOptionsFromUrl } from '../src/writer.js';

test('the default port is the stack spec\'s queue port (the original\'s 8888)', () => {
  assert.equal(DEFAULTS.port, DEFAULT_PORTS.queue);
  assert.equal(DEFAULTS.port, 8888);
});

test('a MySQL URL without a database drains into the stack spec\'s database', () => {
  assert.equal(poolOptionsFromUrl('mysql://eserver:pw@127.0.0.1:3307').database, DATABASE.database);
  assert.equal(poolOptionsFromUrl('mysql://eserver:pw@127.0.0.1:3307/other').database, 'other');
});
