import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { clientAddressReader } from '../../lib/session/client-address.js';

const ipv4 = fc.ipV4();
/** What a client may put in X-Forwarded-For before any proxy sees the request. */
const clientWritten = fc.array(
  fc.oneof(
    ipv4,
    fc.ipV6(),
    fc.string({ maxLength: 20 }).filter((s) => !s.includes(',')),
  ),
  { maxLength: 6 },
);

describe('clientAddressReader', () => {
  it('takes the entry the first trusted proxy wrote, whatever the client wrote before it', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        clientWritten,
        ipv4,
        fc.array(ipv4, { minLength: 4, maxLength: 4 }),
        (hops, spoofed, client, proxies) => {
          // The proxy nearest the client appends the client; each next one appends the previous
          // proxy; the last one is the TCP peer.
          const appended = [client, ...proxies.slice(0, hops - 1)];
          const peer = proxies[hops - 1];
          const header = [...spoofed, ...appended].join(', ');
          const read = clientAddressReader(hops);
          assert.equal(read({ 'x-forwarded-for': header }, peer), client);
        },
      ),
    );
  });

  it('stops at the first address that is not a listed proxy', () => {
    fc.assert(
      fc.property(clientWritten, ipv4, (spoofed, client) => {
        fc.pre(!client.startsWith('10.') && !client.startsWith('127.'));
        const header = [...spoofed, client, '10.1.2.3'].join(', ');
        const read = clientAddressReader(['loopback', '10.0.0.0/8']);
        assert.equal(read({ 'x-forwarded-for': header }, '127.0.0.1'), client);
        // A peer that is not listed is the client itself, whatever it forwards.
        assert.equal(read({ 'x-forwarded-for': header }, '192.0.2.1'), '192.0.2.1');
      }),
    );
  });

  it('reads the TCP peer alone without trusted proxies, and one form of IPv4-mapped addresses', () => {
    const read = clientAddressReader(undefined);
    assert.equal(read({ 'x-forwarded-for': '203.0.113.7' }, '::ffff:127.0.0.1'), '127.0.0.1');
    assert.equal(read({}, '::1'), '::1');
    assert.equal(read(undefined, undefined), undefined);
  });

  it('joins repeated X-Forwarded-For headers in order, as Node does', () => {
    const read = clientAddressReader(1);
    assert.equal(
      read({ 'x-forwarded-for': ['198.51.100.9', '203.0.113.7'] }, '127.0.0.1'),
      '203.0.113.7',
    );
  });

  it('falls back to the left-most entry when the header is shorter than the hop count', () => {
    const read = clientAddressReader(3);
    assert.equal(read({ 'x-forwarded-for': '203.0.113.7' }, '127.0.0.1'), '203.0.113.7');
    assert.equal(read({}, '127.0.0.1'), '127.0.0.1');
  });
});
