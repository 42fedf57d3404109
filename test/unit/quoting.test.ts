/**
 * shellQuote is the one place that builds shell text (for ssh). Hostile
 * strings must come back from a real POSIX shell byte for byte.
 */
import { execa } from 'execa';
import { describe, expect, it } from 'vitest';
import { shellQuote } from '../../src/lib/errors.js';
import { SshTarget } from '../../src/targets/ssh.js';
import { parseSshSpec } from '../../src/targets/ssh-spec.js';
import { HOSTILE } from '../helpers/hostile.js';



describe('shellQuote', () => {
  it('round-trips hostile strings through /bin/sh', async () => {
    const script = HOSTILE.map((s) => `printf '%s\\0' ${shellQuote(s)}`).join('; ');
    const r = await execa('sh', ['-c', script], { stripFinalNewline: false });
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
  });

  it('the ssh remote command keeps each argv element whole, under timeout', async () => {
    const cmd = SshTarget.remoteCommand(['printf', '%s\\0', ...HOSTILE], 5);
    const r = await execa('sh', ['-c', cmd], { stripFinalNewline: false });
    expect(r.stdout.split('\0').slice(0, -1)).toEqual(HOSTILE);
    expect(cmd.startsWith('timeout --signal=INT --kill-after=5 5 ')).toBe(true);
  });
});

describe('ssh target spec', () => {
  it.each([
    ['ssh://host', { user: null, host: 'host', port: null }],
    ['ssh://root@10.0.0.1:2222', { user: 'root', host: '10.0.0.1', port: 2222 }],
    ['ssh://u@[::1]:22', { user: 'u', host: '::1', port: 22 }],
  ])('%s', (s, want) => expect(parseSshSpec(s)).toEqual(want));

  it.each(['ssh://-oProxyCommand=x', 'ssh://a b', 'ssh://root@host:0', 'ssh://$(id)@h', 'ssh://h:99999', 'ssh://u;x@h', 'ssh://'])(
    'rejects %j', (s) => expect(() => parseSshSpec(s)).toThrow(/invalid/),
  );
});
