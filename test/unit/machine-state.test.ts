/**
 * The leftover check's comparison (scripts/fault/machine-state.mjs stateDiff): what appeared
 * between two snapshots counts, what was there before or belongs to another run does not.
 * test/e2e/leftovers.host.test.ts shows the same on the real machine.
 */
import { describe, expect, it } from 'vitest';
import { stateDiff, type MachineState } from '../../scripts/fault/machine-state.mjs';

const empty = (): MachineState => ({
  netns: [], links: ['eth0', 'lo'], nftTables: [], nftRuleset: [], iptables: [], ip6tables: [], tracefs: [], tracingLock: { held: false, foreign: false },
  tracefsUsers: [], journals: [], processes: [],
});

describe('stateDiff', () => {
  it('the same machine: nothing', () => {
    expect(stateDiff(empty(), empty())).toEqual([]);
  });

  it('state the user already had (the classroom VM\'s netns, its qemu, a system tracer) is not a leftover', () => {
    const user = empty();
    user.netns = [{ name: 'nfscope-vagrant', foreign: false }];
    user.processes = [{ pid: 77, cmd: 'qemu-system-x86_64 -name nfscope', zombie: false, foreign: false }];
    user.tracefs = [{ mount: '/sys/kernel/tracing', currentTracer: 'function', kprobeEvents: '', ftraceFilter: 'tcp_v4_rcv', setEvent: '', instances: ['theirs'] }];
    user.nftTables = ['table inet filter'];
    expect(stateDiff(user, structuredClone(user))).toEqual([]);
  });

  it('everything a test made and left is named, one line each', () => {
    const before = empty();
    before.tracefs = [{ mount: '/sys/kernel/tracing', currentTracer: 'nop', kprobeEvents: '', ftraceFilter: '', setEvent: '', instances: [] }];
    before.iptables = ['-A INPUT -j ACCEPT'];
    const after = structuredClone(before);
    after.netns.push({ name: 'nfs-1a2b3c-s', foreign: false });
    after.links.push('nfsa');
    after.nftTables.push('table inet nfscope_followabcdef');
    after.iptables = ['-A INPUT -p tcp -m tcp --dport 2571 -j DROP'];
    after.tracefs[0] = { mount: '/sys/kernel/tracing', currentTracer: 'function_graph', kprobeEvents: 'p:kprobes/p_nf_hook_slow_0 nf_hook_slow', ftraceFilter: '', setEvent: 'skb:kfree_skb', instances: ['nfscope-1'] };
    after.tracingLock = { held: true, foreign: false };
    after.nftRuleset = ['tcp dport 2571 drop'];
    after.journals.push({ name: '4242-deadbeef.jsonl', foreign: false });
    after.tracefsUsers.push({ name: 'host-4242', foreign: false });
    after.processes.push({ pid: 4243, cmd: 'bpftrace -e …', zombie: false, foreign: false });
    expect(stateDiff(before, after)).toEqual([
      'netns nfs-1a2b3c-s',
      'link nfsa',
      'nft table inet nfscope_followabcdef (root namespace) added',
      'nft (root namespace) line added: tcp dport 2571 drop',
      'iptables rule added: -A INPUT -p tcp -m tcp --dport 2571 -j DROP',
      'iptables rule removed: -A INPUT -j ACCEPT',
      'tracer at /sys/kernel/tracing: nop → function_graph',
      'kprobe event p:kprobes/p_nf_hook_slow_0 nf_hook_slow',
      'event enabled: skb:kfree_skb',
      'tracefs instance /sys/kernel/tracing/instances/nfscope-1',
      'tracing lock /run/nfscope/tracing.lock held',
      'tracefs user host-4242',
      'journal 4242-deadbeef.jsonl',
      'process 4243 bpftrace -e …',
    ]);
  });

  it('another run\'s state made meanwhile (foreign), a zombie, a process that ended: not counted', () => {
    const before = empty();
    before.processes = [{ pid: 10, cmd: 'bpftrace old', zombie: false, foreign: false }];
    const after = empty();
    after.netns = [{ name: 'nfs-0f0f0f-s', foreign: true }, { name: 'nfst-beef0001', foreign: true }];
    after.journals = [{ name: '999-abcd.jsonl', foreign: true }];
    after.tracefsUsers = [{ name: 'h-999', foreign: true }];
    after.tracefs = [{ mount: '/sys/kernel/tracing', currentTracer: 'nop', kprobeEvents: '', ftraceFilter: '', setEvent: '', instances: [] }];
    after.tracingLock = { held: true, foreign: true };
    after.processes = [{ pid: 11, cmd: 'bpftrace theirs', zombie: false, foreign: true }, { pid: 12, cmd: '[bpftrace]', zombie: true, foreign: false }];
    expect(stateDiff(before, after)).toEqual([]);
    // The same tracefs mount with no other user alive is ours.
    after.tracefsUsers = [];
    expect(stateDiff(before, after)).toEqual(['tracefs mounted at /sys/kernel/tracing']);
  });

  it('a watched process counts only if its pid is new', () => {
    const before = empty();
    before.processes = [{ pid: 10, cmd: 'bpftrace a', zombie: false, foreign: false }];
    const after = empty();
    after.processes = [{ pid: 10, cmd: 'bpftrace a', zombie: false, foreign: false }, { pid: 20, cmd: 'node dist/main.js trace-syn', zombie: false, foreign: false }];
    expect(stateDiff(before, after)).toEqual(['process 20 node dist/main.js trace-syn']);
  });
});
