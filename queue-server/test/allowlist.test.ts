import { test } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { BlockList } from 'node:net';
import { AllowList } from '../src/allowlist.js';

test('allow-list: default is loopback only', () => {
  const a = new AllowList();
  for (const ip of ['127.0.0.1', '127.0.0.2', '127.255.255.254', '::1', '::ffff:127.0.0.1']) assert.equal(a.allows(ip), true, ip);
  for (const ip of ['10.0.0.1', '128.0.0.1', '::2', '::ffff:10.0.0.1', 'garbage', '', '1.2.3', '1.2.3.4.5', '256.1.1.1', undefined]) {
    assert.equal(a.allows(ip), false, String(ip));
  }
});

test('allow-list: exact addresses, CIDRs, IPv6, wildcard, bad rules', () => {
  const a = new AllowList(['127.0.0.1', '10.1.0.0/16', 'fd00::/8', '::ffff:192.168.1.1']);
  assert.equal(a.allows('127.0.0.1'), true);
  assert.equal(a.allows('127.0.0.2'), false);
  assert.equal(a.allows('10.1.200.3'), true);
  assert.equal(a.allows('10.2.0.1'), false);
  assert.equal(a.allows('fd12::1'), true);
  assert.equal(a.allows('fe80::1'), false);
  assert.equal(a.allows('192.168.1.1'), true);
  assert.equal(a.allows('::ffff:10.1.0.9'), true);
  assert.equal(new AllowList(['*']).allows('8.8.8.8'), true);
  assert.equal(new AllowList(['0.0.0.0/0']).allows('8.8.8.8'), true);
  assert.throws(() => new AllowList(['nope']), /not an IP/);
  assert.throws(() => new AllowList(['10.0.0.0/33']), /prefix/);
});

test('property: the IPv4 fast path agrees with node BlockList', () => {
  const ip = fc.tuple(fc.nat(255), fc.nat(255), fc.nat(255), fc.nat(255)).map((t) => t.join('.'));
  fc.assert(
    fc.property(fc.array(fc.tuple(ip, fc.integer({ min: 0, max: 32 })), { minLength: 1, maxLength: 4 }), fc.array(ip, { maxLength: 20 }), (rules, probes) => {
      const a = new AllowList(rules.map(([r, b]) => `${r}/${b}`));
      const bl = new BlockList();
      for (const [r, b] of rules) bl.addSubnet(r, b, 'ipv4');
      for (const p of [...probes, ...rules.map(([r]) => r)]) {
        assert.equal(a.allows(p), bl.check(p, 'ipv4'), p);
        assert.equal(a.allows('::ffff:' + p), bl.check(p, 'ipv4'), p);
      }
    }),
    { numRuns: 300 },
  );
});
