/**
 * invalid-rst: a TCP connection through DNAT (port → port+1, where the server listens), then one
 * segment of it 2^30 past the next sequence number (payload/net/inject.py: TCP_REPAIR reads the
 * socket's sequence, a raw socket sends the segment); three times, each in a sandbox of its own:
 * no fix, `ct state invalid drop`, `nf_conntrack_tcp_be_liberal=1` in the server netns. The
 * connection starts after the rules: one picked up mid-stream would be tracked liberally, and no
 * segment of it INVALID. The judges are in judges/scenarios/invalid-rst.ts.
 */
import { backendPorts, type InjectOutcome, type InvalidRstInputs, type InvalidRstPhase } from '../../model/scenario.js';
import { invalidRstRuleset, SEGMENT_IP_LENGTH } from '../../model/scenarios/invalid-rst.js';
import { invalidLogReader } from './invalid-log.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftLoad } from '../../tools/nft.js';
import { ready } from '../helpers.js';
import type { Session } from '../session.js';
import { countsOf, lastJsonLine } from './common.js';

const COUNTERS = ['dnat', 'invalid', 'to-port', 'segment-translated', 'rst'] as const;

/** inject.py's one JSON line, every field there and of its type; anything else is an error. */
function parseInject(argv: string[], stdout: string): InjectOutcome {
  const o = lastJsonLine(argv, stdout);
  const int = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 0;
  if (!int(o.sport) || !int(o.snd_nxt) || !int(o.injected_seq) || typeof o.reset !== 'boolean' || !(o.error === null || typeof o.error === 'string')) {
    throw new Error(`${argv.join(' ')}: ${JSON.stringify(o).slice(0, 160)} lacks a field of inject.py's line`);
  }
  // A send that failed otherwise (unreachable, a timeout) is a failed workload, never "the connection lived on".
  if (!o.reset && o.error !== null) throw new Error(`${argv.join(' ')}: the connection failed without a reset (${String(o.error)}): the run shows nothing of the segment`);
  return { sport: o.sport as number, snd_nxt: o.snd_nxt as number, injected_seq: o.injected_seq as number, reset: o.reset, error: o.error as string | null };
}

export async function invalidRst(session: Session, port: number, progress: (m: string) => void): Promise<InvalidRstInputs> {
  const { target } = session;
  const python = await session.python();
  await session.tool('nft');
  const [newPort] = backendPorts(port);
  const phase = (fix: InvalidRstPhase['fix']): Promise<InvalidRstPhase> => session.run(async (r) => {
    progress(`${fix === 'none' ? 'no fix' : fix === 'drop-invalid' ? 'the fix: ct state invalid drop' : 'the fix: nf_conntrack_tcp_be_liberal=1'}: a sandbox, DNAT ${port} → ${newPort}, a connection and one segment 2^30 out of its window`);
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const table = `nfscope_inv_${sb.id}`;
    // In the sandbox's own netns, the table and the sysctl go with it.
    const ruleset = invalidRstRuleset(table, sb.clientAddr, sb.serverAddr, port, newPort, fix === 'drop-invalid');
    await nftLoad(target, sb.server, ruleset);
    if (fix === 'be-liberal') await run(target, inNetns(sb.server, ['sysctl', '-w', 'net.netfilter.nf_conntrack_tcp_be_liberal=1']));
    await ready(target, inNetns(sb.server, [python, await target.bundled('payload/net/flow.py'), 'serve', sb.serverAddr, String(newPort)]), 'server', r.cleanup);
    const log = await invalidLogReader(r, sb, python);
    const argv = inNetns(sb.client, [python, await target.bundled('payload/net/inject.py'), sb.serverAddr, String(port)]);
    const inject = parseInject(argv, (await run(target, argv, { timeoutMs: 60_000 })).stdout);
    const counts = await countsOf(target, sb, table, COUNTERS);
    return { fix, counts, inject, invalidLog: await log.read((l) => l.ip_len === SEGMENT_IP_LENGTH), ruleset };
  });
  // One outer run: each phase's sandbox goes at its end, the modules the kernel loaded once after the last.
  return session.run(async () => {
    const problem = await phase('none');
    const dropInvalid = await phase('drop-invalid');
    const beLiberal = await phase('be-liberal');
    return { port, newPort, problem, dropInvalid, beLiberal };
  });
}
