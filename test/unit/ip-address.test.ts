/** model/ip-address.ts: follow's --host, parsed to bytes and written back in RFC 5952's form. */
import { isIP } from 'node:net';
import { describe, expect, it } from 'vitest';
import { parseIp, sameIp } from '../../src/model/ip-address.js';

describe('parseIp', () => {
  it('IPv4: four bytes', () => {
    expect(parseIp('198.19.79.2')).toEqual({ family: 4, bytes: [198, 19, 79, 2], text: '198.19.79.2' });
  });
  it('IPv6: sixteen bytes, and RFC 5952 text whatever the spelling', () => {
    const a = parseIp('FD00:79:0:0::2')!;
    expect(a.bytes).toEqual([0xfd, 0, 0, 0x79, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);
    expect(a.text).toBe('fd00:79::2');
    // The longest run of zeros is compressed, the first of two equal ones, and a single zero group never.
    expect(parseIp('2001:db8:0:0:1:0:0:1')!.text).toBe('2001:db8::1:0:0:1');
    expect(parseIp('2001:db8:0:1:1:1:1:1')!.text).toBe('2001:db8:0:1:1:1:1:1');
    expect(parseIp('::1')!.text).toBe('::1');
    expect(parseIp('fe80::')!.text).toBe('fe80::');
    expect(parseIp('::ffff:192.0.2.1')!.bytes.slice(10)).toEqual([0xff, 0xff, 192, 0, 2, 1]);
  });
  it('anything else is not an address', () => {
    for (const s of ['nope', '10.0.0.0/8', 'fe80::1%eth0', '1.2.3', '::g', '']) expect(parseIp(s), s).toBeNull();
  });
});

describe('parseIp against node:net\'s isIP (an independent reading of the same grammar)', () => {
  const cases = ['0.0.0.0', '255.255.255.255', '256.1.1.1', '01.2.3.4', '1.2.3', '1.2.3.4.5', ' 1.2.3.4', '::', '::1', '1::', '1:2:3:4:5:6:7:8',
    '1:2:3:4:5:6:7::', '::2:3:4:5:6:7:8', '1:2:3:4:5:6:7:8:9', '1::2::3', ':1', '1:', ':::', '12345::', 'g::', '::ffff:192.0.2.1', '1:2:3:4:5:6:1.2.3.4',
    '1:2:3:4:5:6:7:1.2.3.4', '::1.2.3.256', '::01.2.3.4', 'fe80::1', 'FE80::A:b', '2001:db8:0:0:0:0:0:1', '2001:db8::0:1', '1.2.3.4::', '::ffff:1.2.3'];
  it.each(cases)('%s', (s) => {
    expect(parseIp(s) !== null, s).toBe(isIP(s) !== 0);
    if (isIP(s)) expect(parseIp(s)!.family).toBe(isIP(s));
  });
});

describe('sameIp', () => {
  it('compares values, not spellings; families never match', () => {
    const a = parseIp('fd00:79::2')!;
    expect(sameIp(a, 'fd00:0079:0000::0002')).toBe(true);
    expect(sameIp(a, 'fd00:79::3')).toBe(false);
    expect(sameIp(parseIp('0.0.0.2')!, '::2')).toBe(false);
    expect(sameIp(a, undefined)).toBe(false);
  });
});
