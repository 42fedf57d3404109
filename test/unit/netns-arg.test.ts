import { describe, expect, it } from 'vitest';
import { inNetns, netnsLabel, parseNetnsArg, pidQuery } from '../../src/tools/netns.js';
import { refuseUndo } from '../../src/lib/undo-allowlist.js';

describe('--netns: a name, pid:N or a namespace file', () => {
  it('a name stays a name; pid:N is that process\'s /proc file; an absolute path is itself', () => {
    expect(parseNetnsArg('blue')).toEqual({ kind: 'named', name: 'blue' });
    expect(parseNetnsArg('pid:4242')).toEqual({ kind: 'path', path: '/proc/4242/ns/net', label: 'pid:4242' });
    expect(parseNetnsArg('/run/docker/netns/1a2b3c')).toEqual({ kind: 'path', path: '/run/docker/netns/1a2b3c', label: '/run/docker/netns/1a2b3c' });
    expect(parseNetnsArg('podman:web-1')).toEqual({ kind: 'container', runtime: 'podman', id: 'web-1', label: 'podman:web-1' });
    expect(parseNetnsArg('docker:4f1e2d')).toEqual({ kind: 'container', runtime: 'docker', id: '4f1e2d', label: 'docker:4f1e2d' });
    expect(parseNetnsArg('cri:3a1b2c4d5e6f')).toEqual({ kind: 'container', runtime: 'cri', id: '3a1b2c4d5e6f', label: 'cri:3a1b2c4d5e6f' });
  });
  it('asks each runtime its own way: crictl for a CRI container (its info.pid), the others their container inspect', () => {
    expect(pidQuery({ kind: 'container', runtime: 'cri', id: '3a1b', label: 'cri:3a1b' }, '/usr/bin/crictl'))
      .toEqual(['/usr/bin/crictl', 'inspect', '--output', 'go-template', '--template', '{{.info.pid}}', '3a1b']);
    expect(pidQuery({ kind: 'container', runtime: 'podman', id: 'web', label: 'podman:web' }, '/usr/bin/podman'))
      .toEqual(['/usr/bin/podman', 'container', 'inspect', '--format', '{{.State.Pid}}', 'web']);
  });
  it('refuses what is none of them, before anything runs (exit 2)', () => {
    for (const bad of ['pid:0', 'pid:4194305', 'pid:-1', 'pid:', 'pid:1x', '/proc/1/../2/ns/net', '/a\nb', 'x/y', '../etc', '', 'podman:', 'podman:-x', 'docker:a b', 'docker:../x', 'cri:', 'cri:$(id)', 'cri:a/b', '/run/my ns', '/etc/passwd;id', '/x$(id)']) {
      expect(() => parseNetnsArg(bad), bad).toThrow(expect.objectContaining({ exitCode: 2 }));
    }
  });
  it('runs through nsenter into the file, and is shown as the user typed it', () => {
    const ns = parseNetnsArg('pid:77');
    expect(inNetns(ns, ['nft', 'list', 'ruleset'])).toEqual(['nsenter', '--net=/proc/77/ns/net', '--', 'nft', 'list', 'ruleset']);
    expect(netnsLabel(ns)).toBe('pid:77');
    expect(inNetns(parseNetnsArg('blue'), ['true'])).toEqual(['nsenter', '--net=/run/netns/blue', '--', 'true']);
  });
  it('cleanup replays follow\'s table delete into a namespace file, and nothing else there', () => {
    const del = ['nft', 'delete', 'table', 'inet', 'nfscope_followabcdef'];
    expect(refuseUndo({ argv: inNetns(parseNetnsArg('pid:77'), del) })).toBeNull();
    expect(refuseUndo({ argv: ['nsenter', '--net=/proc/77/../1/ns/net', '--', ...del] })).not.toBeNull();
    expect(refuseUndo({ argv: inNetns(parseNetnsArg('pid:77'), ['nft', 'flush', 'ruleset']) })).not.toBeNull();
    expect(refuseUndo({ argv: inNetns(parseNetnsArg('pid:77'), ['nft', 'delete', 'table', 'inet', 'theirs']) })).not.toBeNull();
    expect(refuseUndo({ argv: inNetns(parseNetnsArg('/run/docker/netns/1a2b'), del) })).toBeNull();
    // Not a file cleanup would open as root: only /proc/N/ns/net and files under /run.
    expect(refuseUndo({ argv: inNetns(parseNetnsArg('/dev/watchdog'), del) })).not.toBeNull();
  });
  it('trace-syn --in-place --netns: the run\'s own rules, tables and veth end, deleted in that namespace; no one else\'s', () => {
    const ours = [
      ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP', '-m', 'comment', '--comment', 'nfscope:a1b2c3'],
      ['ip6tables', '-D', 'INPUT', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT', '-m', 'comment', '--comment', 'nfscope:a1b2c3'],
      ['nft', 'delete', 'table', 'ip', 'nfscope_drop_a1b2c3'],
      ['ip', 'link', 'del', 'nfsa1b2c3s'],
    ];
    for (const ns of ['pid:77', 'blue', '/run/docker/netns/1a2b']) {
      for (const argv of ours) expect(refuseUndo({ argv: inNetns(parseNetnsArg(ns), argv) }), `${ns} ${argv.join(' ')}`).toBeNull();
      // The same without the run's comment, another table, another link: the user's, refused.
      expect(refuseUndo({ argv: inNetns(parseNetnsArg(ns), ['iptables', '-D', 'INPUT', '-p', 'tcp', '--dport', '2571', '-j', 'DROP']) })).not.toBeNull();
      expect(refuseUndo({ argv: inNetns(parseNetnsArg(ns), ['nft', 'delete', 'table', 'ip', 'filter']) })).not.toBeNull();
      expect(refuseUndo({ argv: inNetns(parseNetnsArg(ns), ['ip', 'link', 'del', 'eth0']) })).not.toBeNull();
    }
  });
});
