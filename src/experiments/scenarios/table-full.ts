/**
 * table-full: a conntrack table at nf_conntrack_max, three ways. TABLE_FULL_HELD established
 * connections held open and the max lowered to their count, then SYNs; the max put back, the same
 * SYNs (the fix); the connections gone, the hash table at its smallest, TABLE_FULL_UDP unanswered
 * UDP flows and the max lowered to their count, then SYNs. nf_conntrack_max is one value for the
 * machine (writable in the initial netns only; each netns counts its own entries against it), so
 * this runs only on a machine nfscope booted (Target.disposable), and every net.netfilter sysctl is
 * put back at the end. The judges are in judges/scenarios/table-full.ts.
 */
import type { TableFullInputs, TableFullPhase } from '../../model/scenario.js';
import { TABLE_FULL_BUCKETS, TABLE_FULL_HELD, TABLE_FULL_UDP, tableFullRuleset } from '../../model/scenarios/table-full.js';
import { parseConntrackList } from '../../parsers/conntrack.js';
import { run } from '../../lib/run.js';
import { inNetns } from '../../tools/netns.js';
import { nftLoad } from '../../tools/nft.js';
import { keepSysctls } from '../../tools/sysctl.js';
import { ready } from '../helpers.js';
import type { Session } from '../session.js';
import type { Sandbox } from '../sandbox.js';
import type { Target } from '../../targets/target.js';
import { checkSent, countsOf, ctTableState, sendSyns } from './common.js';

const SYNS = 5;
const MAX = '/proc/sys/net/netfilter/nf_conntrack_max';
const BUCKETS = '/proc/sys/net/netfilter/nf_conntrack_buckets';
const COUNTERS = ['syn-seen', 'syn-past'] as const;

async function readInt(target: Target, path: string): Promise<number> {
  const t = await target.readFile(path);
  if (t === null || !/^\d+\s*$/.test(t)) throw new Error(`${path}: ${t === null ? 'could not be read' : `not a number: ${JSON.stringify(t.slice(0, 40))}`}`);
  return Number(t.trim());
}

export async function tableFull(session: Session, port: number, progress: (m: string) => void): Promise<TableFullInputs> {
  const { target } = session;
  if (!target.disposable) {
    const max = await target.readFile(MAX);
    return {
      port,
      notRun: `nf_conntrack_max (here ${max === null ? 'unreadable' : max.trim()}) is one value for the whole machine, writable in the initial network namespace only: lowering it would drop this machine's own new connections, so nfscope changes it only on a machine it booted for the run (--target qemu)`,
    };
  }
  const python = await session.python();
  await session.tool('nft');
  await session.tool('conntrack');
  return session.run(async (r) => {
    progress('creating the sandbox (client and server netns, veth)');
    const sb = await r.sandbox({ family: 'ipv4', port, firewall: 'nft', afterConfirm: false, bare: true });
    const table = `nfscope_full_${sb.id}`;
    // In the sandbox's own netns: the table goes with it. Its ct rule makes conntrack track there (and loads it).
    await nftLoad(target, sb.server, tableFullRuleset(table, sb.clientAddr, port));
    // Saved, their undo registered, before any is changed: every net.netfilter sysctl comes back.
    await keepSysctls(target, r.cleanup);
    const found = { max: await readInt(target, MAX), buckets: await readInt(target, BUCKETS) };
    const write = async (path: string, v: number) => {
      await r.cleanup.making(`${path}=${v}`, () => run(target, ['tee', path], { input: `${v}\n`, timeoutMs: 30_000 }));
      const now = await readInt(target, path);
      if (now !== v) throw new Error(`${path}: wrote ${v}, reads ${now}`);
    };
    // The port's TCP entries only: the held connections, the SYNs' (a thousand UDP entries are counted by -C).
    const ct = async () => parseConntrackList((await run(target, inNetns(sb.server, ['conntrack', '-L', '-p', 'tcp', '--orig-port-dst', String(port)]), { timeoutMs: 20_000 })).stdout);
    const phase = async (what: string, max: number): Promise<TableFullPhase> => {
      progress(`${what}: nf_conntrack_max ${max}; sending ${SYNS} SYNs`);
      const c0 = await countsOf(target, sb, table, COUNTERS);
      const before = await ctTableState(target, sb);
      const syns = await sendSyns(target, python, sb, port, SYNS);
      const after = await ctTableState(target, sb);
      const c1 = await countsOf(target, sb, table, COUNTERS);
      const counts = Object.fromEntries(COUNTERS.map((k) => [k, c1[k]! - c0[k]!]));
      return { what, max, before, after, syns, counts, conntrack: await ct() };
    };

    await ready(target, inNetns(sb.server, [python, await target.bundled('payload/net/listen.py'), sb.serverAddr, String(port), 'hold']), 'listener', r.cleanup);
    progress(`${TABLE_FULL_HELD} established connections, held open`);
    const holder = await ready(target, inNetns(sb.client, [python, await target.bundled('payload/net/hold.py'), sb.serverAddr, String(port), String(TABLE_FULL_HELD)]), 'the held connections', r.cleanup);
    // The table full of them: the max at the count conntrack reports for the netns.
    const fullAt = (await ctTableState(target, sb)).count;
    // 0 would lift the limit (nf_conntrack_max 0: no limit, before 7.x refused it): the count must hold the connections.
    if (fullAt < TABLE_FULL_HELD) throw new Error(`conntrack -C counted ${fullAt} entries in the server netns with ${TABLE_FULL_HELD} connections held: the table is not the workload's`);
    await write(MAX, fullAt);
    const assured = await phase(`the table full of ${TABLE_FULL_HELD} established connections`, fullAt);
    await write(MAX, found.max);
    const raised = await phase(`nf_conntrack_max back to ${found.max}, the connections still held`, found.max);

    progress(`the connections closed and the netns's entries flushed; ${TABLE_FULL_BUCKETS} hash buckets; ${TABLE_FULL_UDP} unanswered UDP flows`);
    await holder.stop(300);
    await run(target, inNetns(sb.server, ['conntrack', '-F']), { timeoutMs: 20_000 });
    await write(BUCKETS, TABLE_FULL_BUCKETS);
    const argv = inNetns(sb.client, [python, await target.bundled('payload/net/udp.py'), 'spread', sb.serverAddr, String(port), String(TABLE_FULL_UDP)]);
    const udpSent = checkSent(argv, (await run(target, argv, { timeoutMs: 60_000 })).stdout, TABLE_FULL_UDP);
    const udpFull = (await ctTableState(target, sb)).count;
    if (udpFull < TABLE_FULL_BUCKETS) throw new Error(`conntrack -C counted ${udpFull} entries after ${TABLE_FULL_UDP} UDP flows: too few to fill the table for early_drop's reach`);
    await write(MAX, udpFull);
    const unassured = { ...(await phase(`the table full of ${udpFull} unanswered UDP flows`, udpFull)), buckets: TABLE_FULL_BUCKETS, udpSent };
    return { port, found, held: TABLE_FULL_HELD, assured, raised, unassured };
  });
}
