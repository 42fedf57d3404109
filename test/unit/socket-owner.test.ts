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
import { ParseError } from '../../src/lib/errors.js';

const ss = readFileSync(join(ROOT, 'test/fixtures/ss/6.18.44-fc-v1272/listen-udp/ss.txt'), 'utf8');
const packets = (path: string) => readFileSync(join(ROOT, path), 'utf8').trim().split('\n')
  .map((l, i) => parseFollowLine(l, path, i + 1)).filter((r): r is FollowPacket => r?.type === 'packet');

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
  it('the connection from the packet\'s source, else the listener, else the bound UDP socket', () => {
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 38026, dst: '127.0.0.1', dport: 2599, syn: false }, s)!.state).toBe('ESTAB');
    // A SYN goes to the listener, even from the peer of a connection ss still lists.
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 38026, dst: '127.0.0.1', dport: 2599, syn: true }, s)!.state).toBe('LISTEN');
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 2599, syn: false }, s)!.state).toBe('LISTEN');
    expect(socketFor({ proto: 'udp', src: '::1', sport: 5000, dst: '0:0::1', dport: 2599, syn: false }, s)!.state).toBe('UNCONN');
    // Another address, another port, another protocol: none.
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.2', dport: 2599, syn: false }, s)).toBeNull();
    expect(socketFor({ proto: 'tcp', src: '127.0.0.1', sport: 40000, dst: '127.0.0.1', dport: 2598, syn: false }, s)).toBeNull();
    expect(socketFor({ proto: 'udp', src: '127.0.0.1', sport: 5000, dst: '127.0.0.1', dport: 2599, syn: false }, s)).toBeNull();
  });
});

describe('deliveryOf (real packets)', () => {
  it('a DNAT seen by the callbacks: the socket is looked for where NAT sent it', () => {
    const [dnat] = packets('test/fixtures/follow/6.1.0-57-amd64/dnat/packets.jsonl');
    expect(dnat!.tuple.dport).toBe(2580);
    expect(deliveryOf(dnat!)).toMatchObject({ proto: 'tcp', dst: '198.19.80.2', dport: 2581 });
  });
  it('this host (rules, no callbacks): an accepted packet whose last chain was at LOCAL_IN; a drop is no delivery', () => {
    const [good] = packets('test/fixtures/follow-runs/6.18.44-fc-v1272/good/follow.ndjson');
    const [bad] = packets('test/fixtures/follow-runs/6.18.44-fc-v1272/bad/follow.ndjson');
    expect(deliveryOf(good!)).toEqual({ proto: 'tcp', src: '198.19.78.1', sport: good!.tuple.sport, dst: '198.19.78.2', dport: 2577, syn: true });
    expect(deliveryOf(bad!)).toBeNull();
  });
  it('a NAT rule without the callbacks: where it went is not known, and said so', () => {
    const [good] = packets('test/fixtures/follow-runs/6.18.44-fc-v1272/good/follow.ndjson');
    const natted = JSON.parse(JSON.stringify(good)) as FollowPacket;
    natted.nft!.steps.unshift({ family: 'ip', table: 'nat', chain: 'PREROUTING', hook: 'PRE_ROUTING', kind: 'rule', handle: 2, rule: 'tcp dport 2577 counter packets 0 bytes 0 dnat to 198.19.78.2:2578', verdict: 'accept' });
    expect(deliveryOf(natted)).toEqual({ unknown: expect.stringMatching(/NAT rule rewrote it/) });
  });
});
