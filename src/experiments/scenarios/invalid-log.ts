/**
 * Conntrack's own reason for an INVALID packet. With nf_conntrack_log_invalid set, the failing
 * check calls nf_l4proto_log_invalid, which logs through the netns's own IPv4 logger with its reason
 * as the prefix; set to nfnetlink_log, that reaches payload/net/nflog.py. Both settings are the
 * server netns's (no nf_log_all_netns, nothing machine-wide) and go with it.
 */
import type { InvalidLogLine } from '../../model/scenario.js';
import { parseNflogLine } from '../../parsers/nflog.js';
import { RunEndedError } from '../../lib/cleanup.js';
import { tryRun } from '../../lib/run.js';
import { sleep } from '../../lib/time.js';
import type { Running } from '../../targets/target.js';
import { inNetns } from '../../tools/netns.js';
import { ready } from '../helpers.js';
import type { Run } from '../session.js';
import type { Sandbox } from '../sandbox.js';

export type InvalidLog = { lines: InvalidLogLine[] } | { failure: string };

/** How long the reader waits for the packet it is asked about once the traffic is over. */
const SETTLE_MS = 1000;

/** Starts reading what conntrack logs as INVALID in the server netns; read() stops and returns it. */
export async function invalidLogReader(r: Run, sb: Sandbox, python: string): Promise<{ read: (wanted: (l: InvalidLogLine) => boolean) => Promise<InvalidLog> }> {
  const { target } = r.session;
  const failed = (failure: string) => ({ read: async () => ({ failure }) });
  let p: Running;
  try {
    p = await ready(target, inNetns(sb.server, [python, await target.bundled('payload/net/nflog.py'), '0']), 'nflog.py', r.cleanup);
  } catch (e) {
    if (e instanceof RunEndedError) throw e;
    // A kernel without nfnetlink_log: the reason is not observable there, with nflog.py's own words.
    return failed(`conntrack's INVALID log could not be read: ${(e as Error).message}`);
  }
  const raw: string[] = [];
  p.onLine((l) => raw.push(l));
  for (const [file, value] of [['nf_log/2', 'nfnetlink_log'], ['nf_conntrack_log_invalid', '6']] as const) {
    const w = await tryRun(target, inNetns(sb.server, ['tee', `/proc/sys/net/netfilter/${file}`]), { input: `${value}\n` });
    if (!w.ok) {
      await p.stop(300);
      return failed(`conntrack's INVALID log could not be turned on in the server netns: ${w.reason}`);
    }
  }
  let ended: string | null = null;
  void p.done.then((x) => (ended = `exit ${x.exitCode ?? x.signal ?? 'unknown'}: ${x.stderr.trim().split('\n').slice(-1).join('')}`));
  return {
    read: async (wanted) => {
      for (const t0 = Date.now(); Date.now() - t0 < SETTLE_MS && !raw.map((l, n) => parseNflogLine(l, n + 1)).some(wanted); ) await sleep(50);
      // The reader ending by itself is a failure of the run, never a log with nothing in it.
      if (ended !== null) return { failure: `nflog.py ended before it was read (${ended})` };
      await p.stop(300);
      return { lines: raw.map((l, n) => parseNflogLine(l, n + 1)) };
    },
  };
}
