// Who the client is: X-Forwarded-For / Forwarded believed only from trusted
// proxies, walked from the right; IPv6 grouped by prefix.
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { blockList, clientAddress, contains, groupAddress, plainAddress } from './client-ip.js';

const trusted = blockList(['127.0.0.1/32', '10.0.0.0/8', '::1', '2001:db8:ffff::/48']);

describe('clientAddress', () => {
  test('no trusted proxies, or an untrusted peer: the peer, whatever XFF says', () => {
    assert.equal(clientAddress('203.0.113.5', null, '198.51.100.1', undefined), '203.0.113.5');
    assert.equal(clientAddress('203.0.113.5', trusted, '198.51.100.1', undefined), '203.0.113.5');
    assert.equal(clientAddress('203.0.113.5', trusted, undefined, 'for=198.51.100.1'), '203.0.113.5');
    assert.equal(clientAddress('2001:db8::5', trusted, '198.51.100.1', undefined), '2001:db8::5');
    assert.equal(blockList([]), null);
  });

  test('trusted peer: the rightmost untrusted XFF hop', () => {
    // The client may put anything at the left; only what our proxies appended counts.
    assert.equal(clientAddress('127.0.0.1', trusted, '198.51.100.7, 203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', trusted, ' 203.0.113.9 ', undefined), '203.0.113.9');
    assert.equal(clientAddress('::1', trusted, '2001:db8:1::9', undefined), '2001:db8:1::9');
    // A trusted peer without any forwarding header is itself the client.
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, undefined), '127.0.0.1');
  });

  test('a chain of trusted proxies is skipped', () => {
    assert.equal(clientAddress('127.0.0.1', trusted, '198.51.100.7, 203.0.113.9, 10.1.2.3, 10.0.0.5', undefined), '203.0.113.9');
    assert.equal(clientAddress('10.9.9.9', trusted, '203.0.113.9, 2001:db8:ffff:1::1', undefined), '203.0.113.9');
    // Every hop trusted: the leftmost (the furthest we got).
    assert.equal(clientAddress('127.0.0.1', trusted, '10.1.1.1, 10.2.2.2', undefined), '10.1.1.1');
  });

  test('ports and brackets in XFF hops', () => {
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9:51234', undefined), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', trusted, '[2001:db8::17]:4711', undefined), '2001:db8::17');
    assert.equal(clientAddress('127.0.0.1', trusted, '[2001:db8::17]', undefined), '2001:db8::17');
    assert.equal(clientAddress('127.0.0.1', trusted, '2001:db8::17', undefined), '2001:db8::17');
  });

  test('Forwarded: for= with quotes, brackets, ports, other parameters, any case', () => {
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for=192.0.2.60;proto=http;by=203.0.113.43'), '192.0.2.60');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for="[2001:db8:cafe::17]:4711"'), '2001:db8:cafe::17');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for="[2001:db8:cafe::17]"'), '2001:db8:cafe::17');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'For="192.0.2.43:8080", for=10.0.0.1'), '192.0.2.43');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'proto=https;for=198.51.100.17, for=10.0.0.1;proto=http'), '198.51.100.17');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for=198.51.100.1, for=192.0.2.60'), '192.0.2.60');
    // X-Forwarded-For wins when both are present.
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9', 'for=192.0.2.60'), '203.0.113.9');
  });

  test('garbage in the chain: stop at the last address that could be trusted', () => {
    // Garbage left of the first untrusted hop never matters.
    assert.equal(clientAddress('127.0.0.1', trusted, 'not-an-ip, 203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', trusted, 'unknown, 203.0.113.9', undefined), '203.0.113.9');
    // Garbage where the client should be: the trusted proxy that handed it over.
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9, junk', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, '198.51.100.1, junk, 10.0.0.9', undefined), '10.0.0.9');
    assert.equal(clientAddress('127.0.0.1', trusted, '', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9,,', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, '999.1.1.1', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9/24', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, '[2001:db8::1', undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for=unknown'), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'for=_hidden, for=10.0.0.2'), '10.0.0.2');
    assert.equal(clientAddress('127.0.0.1', trusted, undefined, 'proto=http'), '127.0.0.1');
  });

  test('IPv4-mapped IPv6, peer or hop, is the IPv4 address', () => {
    // A mapped trusted peer is trusted (127.0.0.1/32 is an IPv4 rule).
    assert.equal(clientAddress('::ffff:127.0.0.1', trusted, '203.0.113.9', undefined), '203.0.113.9');
    // uWS spells the IPv4 peer of a dual-stack listener as eight zero-padded words.
    assert.equal(clientAddress('0000:0000:0000:0000:0000:ffff:7f00:0001', trusted, '203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientAddress('0000:0000:0000:0000:0000:ffff:cb00:7105', trusted, '198.51.100.1', undefined), '203.0.113.5');
    assert.equal(clientAddress('127.0.0.1', trusted, '::ffff:203.0.113.9', undefined), '203.0.113.9');
    assert.equal(clientAddress('127.0.0.1', trusted, '203.0.113.9, ::ffff:10.0.0.7', undefined), '203.0.113.9');
  });
});

describe('plainAddress', () => {
  test('every spelling of an IPv4-mapped address', () => {
    assert.equal(plainAddress('::ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(plainAddress('::FFFF:1.2.3.4'), '1.2.3.4');
    assert.equal(plainAddress('::ffff:102:304'), '1.2.3.4');
    assert.equal(plainAddress('0:0:0:0:0:ffff:1.2.3.4'), '1.2.3.4');
    assert.equal(plainAddress('0000:0000:0000:0000:0000:ffff:7f00:0001'), '127.0.0.1');
    assert.equal(plainAddress('0000:0000:0000:0000:0000:FFFF:FFFF:FFFF'), '255.255.255.255');
  });

  test('everything else as it is', () => {
    for (const a of ['1.2.3.4', '::1', '2001:db8::ffff:1.2.3.4', '::ffff:0:1.2.3.4', '::1.2.3.4', 'ffff::102:304', '2001:db8::ffff:102:304', 'garbage', '', '::ffff:999.1.1.1']) {
      assert.equal(plainAddress(a), a, a);
    }
  });
});

describe('contains', () => {
  test('addresses and ranges of either family; garbage is never in', () => {
    assert.equal(contains(trusted, '10.200.0.1'), true);
    assert.equal(contains(trusted, '11.0.0.1'), false);
    assert.equal(contains(trusted, '::1'), true);
    assert.equal(contains(trusted, '2001:db8:ffff:abcd::1'), true);
    assert.equal(contains(trusted, '2001:db8:fffe::1'), false);
    assert.equal(contains(trusted, 'nonsense'), false);
    assert.equal(contains(null, '10.0.0.1'), false);
  });
});

describe('groupAddress', () => {
  test('IPv6 /64: one subscriber, one key', () => {
    const k = groupAddress('2001:db8:1:2:3:4:5:6', 64);
    assert.equal(k, '2001:db8:1:2:0:0:0:0/64');
    assert.equal(groupAddress('2001:db8:1:2::5', 64), k);
    assert.equal(groupAddress('2001:db8:1:2:ffff::1', 64), k);
    assert.equal(groupAddress('2001:0DB8:0001:0002:abcd:0:0:1', 64), k, 'case and leading zeros');
    assert.equal(groupAddress('2001:db8:1:2::', 64), k);
    assert.notEqual(groupAddress('2001:db8:1:3::1', 64), k);
    assert.equal(groupAddress('fe80::1%eth0', 64), 'fe80:0:0:0:0:0:0:0/64', 'zone id dropped');
  });

  test('other prefixes: /48, /56, /1, /128', () => {
    assert.equal(groupAddress('2001:db8:1:2:3:4:5:6', 48), '2001:db8:1:0:0:0:0:0/48');
    assert.equal(groupAddress('2001:db8:1:ffff::', 48), '2001:db8:1:0:0:0:0:0/48');
    assert.equal(groupAddress('2001:db8:1:2abc::1', 56), '2001:db8:1:2a00:0:0:0:0/56');
    assert.equal(groupAddress('ffff::1', 1), '8000:0:0:0:0:0:0:0/1');
    assert.equal(groupAddress('2001:db8:1:2:3:4:5:6', 128), '2001:db8:1:2:3:4:5:6');
  });

  test('addresses with ::', () => {
    assert.equal(groupAddress('::', 64), '0:0:0:0:0:0:0:0/64');
    assert.equal(groupAddress('::1', 64), '0:0:0:0:0:0:0:0/64');
    assert.equal(groupAddress('2001:db8::', 32), '2001:db8:0:0:0:0:0:0/32');
    assert.equal(groupAddress('1:2:3:4:5:6:7::', 112), '1:2:3:4:5:6:7:0/112');
    assert.equal(groupAddress('::2:3:4:5:6:7:8', 112), '0:2:3:4:5:6:7:0/112');
  });

  test('embedded IPv4', () => {
    // NAT64 well-known prefix: /96 keeps the prefix, /112 the first two bytes of the IPv4 part.
    assert.equal(groupAddress('64:ff9b::192.0.2.33', 96), '64:ff9b:0:0:0:0:0:0/96');
    assert.equal(groupAddress('64:ff9b::192.0.2.33', 112), '64:ff9b:0:0:0:0:c000:0/112');
    assert.equal(groupAddress('64:ff9b::192.0.2.33', 120), '64:ff9b:0:0:0:0:c000:200/120');
    assert.equal(groupAddress('64:ff9b::c000:221', 120), groupAddress('64:ff9b::192.0.2.33', 120));
  });

  test('IPv4 and garbage pass through', () => {
    assert.equal(groupAddress('203.0.113.9', 64), '203.0.113.9');
    assert.equal(groupAddress('not-an-ip', 64), 'not-an-ip');
  });
});
