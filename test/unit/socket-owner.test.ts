/**
 * follow's socket of a delivered packet: ss's output as captured (test/fixtures/ss/<kernel>/…,
 * meta.json beside it), and the delivery read from real follow packets.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from '../helpers/sys.js';
import { parseSs, ssEndpoint } from '../../src/parsers/ss.js';
import { deliveryOf, socketFor } from '../../src/analysis/socket-owner.js';
import { parseFollowLine } from '../../src/parsers/follow-ndjson.js';
import type { FollowPacket } from '../../src/model/follow.js';
import { fateOf } from '../../src/analysis/follow.js';
import { ParseError } from '../../src/lib/errors.js';

const ss = readFileSync(join(ROOT, 'test/fixtures/ss/6.18.44-fc-v1272/listen-udp/ss.txt'), 'utf8');
// Their fate as follow makes it now (the captures predate the accepted fate's hook).
const packets = (path: string) => readFileSync(join(ROOT, path), 'utf8').trim().split('\n')
  .map((l, i) => parseFollowLine(l, path, i + 1)).filter((r): r is FollowPacket => r?.type === 'packet').map((p) => ({ ...p, fate: fateOf(p) }));

describe('parseSs', () => {
  it('each socket with its state, ends and processes', () => {
    const s = parseSs(ss);
    expect(s.map((x) => [x.proto, x.state, x.local, x.peer])).toEqual([
      ['udp', 'UNCONN', '[::1]:2599', '[::]:*'], ['tcp', 'LISTEN', '127.0.0.1:2599', '0.0.0.0:*'], ['tcp', 'ESTAB', '127.0.0.1:2599', '127.0.0.1:38026'],
    ]);
    expect(new Set(s.map((x) => x.users[0]!.comm))).toEqual(new Set(['python3']));
    expect(s.every((x) => x.users.length === 1 && x.users[0]!.pid === s[0]!.users[0]!.pid)).toBe(true);
    expect(ssEndpoint('[::1]:2599')).toEqual({ addr: '::1', port: 2599 });
    expect(ssEndpoint('0.0.0.0:*')).toEqual({ addr: '0.0.0.0', port: null });
  });
  it('what is not ss\'s is an error, not a socket', () => {
    expect(() => parseSs('State Recv-Q Send-Q Local Peer\n')).toThrow(ParseError);
    expect(parseSs('')).toEqual([]);
  });
});

describe('socketFor', () => {
  const s = parseSs(ss);
  const state = (r: ReturnType<typeof socketFor>) => r?.sockets.map((x) => x.state);
  it('a SYN to the listener, another segment to the connection from its source, a datagram to the bound socket', () => {
    expect(state(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 38026, dst: '127.0.0.1', dport: 2599, syn: false }, s))).toEqual(['ESTAB']);
    // A SYN goes to the listener, even from the peer of a connection ss still lists.
    expect(state(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 38026, dst: '127.0.0.1', dport: 2599, syn: true }, s))).toEqual(['LISTEN']);
    expect(state(socketFor({ proto: 'udp', src: '::1', sport: 5000, dst: '0:0::1', dport: 2599, syn: false }, s))).toEqual(['UNCONN']);
  });
  it('none is none: no guess from the listener for a segment of a connection ss no longer has, nor on another address, port or protocol', () => {
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 2599, syn: false }, s)).toBeNull();
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.2', dport: 2599, syn: true }, s)).toBeNull();
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 2598, syn: true }, s)).toBeNull();
    expect(socketFor({ proto: 'udp', src: '127.0.0.1', sport: 5000, dst: '127.0.0.1', dport: 2599, syn: false }, s)).toBeNull();
    // Flags not seen: the listener, said so.
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 2599, syn: null }, s)!.note).toMatch(/flags were not seen/);
  });
  // Lines as ss prints them (iproute2's ss.c: `*` for a dual-stack socket on ::, [::] for a v6only one,
  // %dev after the address of a socket bound to a device, no users for TIME-WAIT).
  const line = (local: string, peer: string, state = 'LISTEN', pid = 7) => `tcp ${state} 0 128 ${local} ${peer} users:(("d",pid=${pid},fd=3))`;
  it('wildcards by family: * takes both, 0.0.0.0 IPv4 only, [::] IPv6 only; the exact address before a wildcard', () => {
    const v4 = { proto: 'tcp' as const, src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 22, syn: true };
    const v6 = { ...v4, src: 'fd00::1', dst: 'fd00::2' };
    const pick = (d: typeof v4, ...ls: string[]) => socketFor(d, parseSs(ls.join('\n')))?.sockets.map((x) => x.local) ?? null;
    expect(pick(v4, line('*:22', '*:*'))).toEqual(['*:22']);
    expect(pick(v6, line('*:22', '*:*'))).toEqual(['*:22']);
    expect(pick(v6, line('0.0.0.0:22', '0.0.0.0:*'))).toBeNull();
    expect(pick(v4, line('[::]:22', '[::]:*'))).toBeNull();
    expect(pick(v4, line('0.0.0.0:22', '0.0.0.0:*'), line('10.0.0.2:22', '0.0.0.0:*'))).toEqual(['10.0.0.2:22']);
    expect(pick(v6, line('[fd00::2]%eth0:22', '[::]:*'))).toEqual(['[fd00::2]%eth0:22']);
  });
  it('an IPv4 connection on a dual-stack socket (::ffff:a.b.c.d) is the IPv4 one', () => {
    const r = socketFor({ proto: 'tcp', src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 22, syn: false },
      parseSs([line('*:22', '*:*'), line('[::ffff:10.0.0.2]:22', '[::ffff:10.0.0.1]:40000', 'ESTAB', 8)].join('\n')));
    expect(r!.sockets.map((x) => x.users[0]!.pid)).toEqual([8]);
  });
  it('SO_REUSEPORT: every socket that shares the port, and the kernel\'s choice said not observable', () => {
    const r = socketFor({ proto: 'tcp', src: '10.0.0.1', sport: 40000, dst: '10.0.0.2', dport: 22, syn: true },
      parseSs([line('0.0.0.0:22', '0.0.0.0:*', 'LISTEN', 7), line('0.0.0.0:22', '0.0.0.0:*', 'LISTEN', 9)].join('\n')));
    expect(r!.sockets.map((x) => x.users[0]!.pid)).toEqual([7, 9]);
    expect(r!.note).toBe('2 sockets share the port (SO_REUSEPORT): which one the kernel chose is not observable');
  });
  it('a TIME-WAIT line has no users', () => {
    expect(parseSs('tcp TIME-WAIT 0 0 127.0.0.1:2599 127.0.0.1:38026')[0]).toMatchObject({ state: 'TIME-WAIT', users: [] });
  });
});

describe('deliveryOf (real packets)', () => {
  it('a DNAT seen by the callbacks: the socket is looked for where NAT sent it', () => {
    const [dnat] = packets('test/fixtures/follow/6.1.0-57-amd64/dnat/packets.jsonl');
    expect(dnat!.tuple.dport).toBe(2580);
    expect(deliveryOf(dnat!)).toMatchObject({ proto: 'tcp', dst: '198.19.80.2', dport: 2581 });
  });
  it('this host (rules, no callbacks): an accepted packet at LOCAL_IN is not observable (NAT is not seen), said so; a drop is no delivery', () => {
    const [good] = packets('test/fixtures/follow-runs/6.18.44-fc-v1272/good/follow.ndjson');
    const [bad] = packets('test/fixtures/follow-runs/6.18.44-fc-v1272/bad/follow.ndjson');
    expect(deliveryOf(good!)).toEqual({ unknown: expect.stringMatching(/only the callbacks show/) });
    expect(deliveryOf(bad!)).toBeNull();
  });
});
