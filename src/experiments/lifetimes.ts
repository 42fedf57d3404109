import { CapabilityError, CommandFailedError } from '../lib/errors.js';
import { RunFailedError } from '../lib/run-failed.js';
import { tryRun, GREP_ANSWERS } from '../lib/run.js';
import { sleep } from '../lib/time.js';
import { captureFixture } from '../lib/fixture-capture.js';
import { toolLine } from '../kernel/capabilities.js';
import type { LifetimesReport } from '../model/lifetimes.js';
import { needsNfConn } from '../programs/adapt.js';
import { ctLifeProgram, type ProbeStyle } from '../programs/ct_life.js';
import { readTemplate } from '../programs/templates.js';
import { lostEvents, parseBpftraceJson } from '../parsers/bpftrace-json.js';
import { parseCtLife } from '../parsers/ct-life.js';
import { dropReasonNames } from '../kernel/drop-reasons.js';
import type { Target } from '../targets/target.js';
import { earlyEndReason, shownArgv, type startTracer } from '../tools/tracer.js';
import { sessionFor, type Session } from './session.js';
import { buildReport, emptyLife } from '../analysis/lifetimes.js';

export interface LifetimesSpec {
  /** Destination port of the entries' original tuple; null: all entries. */
  port: number | null;
  durationS: number;
  /** Only entries of this netns (inode), with a label for the report. */
  netns?: { inode: string; label: string };
}

/** Map size for @born: a burst of tens of thousands of SYNs must fit (bpftrace 0.17's default is 4096). */
const MAP_KEYS_MAX = '262144';

/**
 * Follows every conntrack entry allocated while it runs (bpf/ct_life.bt) for
 * durationS seconds, or while `during` runs (a load the caller drives), and
 * accounts for each: confirmed, freed unconfirmed, freed confirmed, alive.
 */
export async function lifetimes(
  on: Target | Session, spec: LifetimesSpec, progress: (m: string) => void = () => {}, during?: () => Promise<void>,
  /** Awaited once the tracer is attached, before the tracing starts (the lab's order of packets). */
  hold?: () => Promise<void>,
): Promise<LifetimesReport> {
  const session = await sessionFor(on, 'lifetimes');
  const { target, caps } = session;
  const kprobes = session.cap('kprobes');
  // Only a capability known to be there serves: an unknown one (its probe failed) is not used.
  const fentry = caps.caps.find((c) => c.id === 'fentry')?.available === true;
  if (kprobes.available !== true && !fentry) {
    throw new CapabilityError(
      `unconfirmed entries are visible only by tracing __nf_conntrack_alloc, __nf_conntrack_confirm and nf_conntrack_free ` +
        `(no table lists them since Linux 5.19), and this kernel has neither kprobes (${kprobes.detail}) nor fentry; ${kprobes.fix}. ` +
        'Try --target qemu.',
    );
  }
  const bpftrace = await session.bpftrace([`BPFTRACE_MAP_KEYS_MAX=${MAP_KEYS_MAX}`]);
  return session.run(async (r) => {
    const { cleanup, tracefs } = r;
    const drops = await dropReasonNames(target, tracefs);
    const reasons = drops.names;
    const reasonsWhy = drops.why ? [{ observation: 'drop-reason-names', reason: drops.why }] : [];
    // With conntrack a module that nothing loaded yet, there is no entry to follow, and nothing to probe.
    // grep -c: exit 1 with "0" is an answer (none listed); a failed grep says nothing about conntrack.
    const have = await tryRun(target, ['grep', '-c', '-E', '^(__nf_conntrack_alloc|__nf_conntrack_confirm|nf_conntrack_free)( |$)', `${tracefs}/available_filter_functions`], { timeoutMs: 60_000, okExit: GREP_ANSWERS });
    if (!have.ok) throw new RunFailedError(have.failure, have.reason, 'whether conntrack\'s functions can be probed is unknown');
    if (Number(have.stdout.trim()) < 3) {
      const empty = buildReport(caps.kernel, target.name, spec, 0, emptyLife(), reasons, 0);
      empty.unavailable.push(...reasonsWhy, {
        observation: 'entries',
        reason: 'conntrack is not loaded on this target (__nf_conntrack_alloc, __nf_conntrack_confirm, nf_conntrack_free are not in available_filter_functions): no conntrack entry can exist. Load nf_conntrack or add a rule that needs conntrack, then run again.',
      });
      return empty;
    }
    const template = await readTemplate('ct_life');
    const program = (style: ProbeStyle) => ctLifeProgram(template, { style, port: spec.port, netnsInode: spec.netns?.inode ?? null });
    const noType = needsNfConn(program('kprobe').text, await session.bpfShape(tracefs));
    if (noType) throw new CapabilityError(`the lifetime tracer reads struct nf_conn (tuple, netns, status): ${noType}`);
    const argvFor = async (style: ProbeStyle) => r.tracerArgv(bpftrace, await r.adapted(program(style)));
    // kprobes first (measured cheaper per packet than trampolines under qemu TCG, 6.1: 0.87 vs 0.74);
    // fentry where there are no kprobes, or if they fail to attach.
    let styles: ProbeStyle[] = [...(kprobes.available ? ['kprobe' as const] : []), ...(fentry ? ['fentry' as const] : [])];
    // NFSCOPE_PROBE_STYLE=fentry|kprobe: one kind only (tests and the benchmark exercise each).
    const forced = process.env.NFSCOPE_PROBE_STYLE;
    if (forced === 'fentry' || forced === 'kprobe') styles = [forced];
    let started: Awaited<ReturnType<typeof startTracer>> | null = null;
    let argv: string[] = [];
    for (const style of styles) {
      progress(`attaching ${style === 'fentry' ? 'fentry/fexit' : 'kprobes'} on __nf_conntrack_alloc, __nf_conntrack_confirm, nf_conntrack_free and skb:kfree_skb`);
      argv = await argvFor(style);
      try {
        started = await r.tracer(argv, `lifetime tracer (${style})`);
        break;
      } catch (e) {
        if (style === styles[styles.length - 1]) throw e;
        progress(`${style} probes did not attach (${(e as Error).message.split('\n').slice(-1)[0]}); trying the next kind`);
      }
    }
    const tracer = started!.tracer;
    if (hold) await hold();
    const t0 = Date.now();
    if (during) {
      progress('tracing while the load runs');
      await during();
    } else {
      progress(`tracing for ${spec.durationS} s`);
      await sleep(spec.durationS * 1000);
    }
    // Entries freed with their skb go within microseconds of the drop: a short grace.
    await sleep(300);
    // bpftrace runs END and prints its maps after SIGINT. Under qemu TCG with other tracers
    // compiling or running (the lab prepares three at once), that took more than 10 s (6.1).
    const out = await tracer.stop(45_000);
    const durationS = (Date.now() - t0) / 1000;
    const early = started!.endedEarly();
    if (early) {
      throw new CommandFailedError(shownArgv(out.argv), early.run.exitCode, early.run.stderr, `the lifetime tracer ${earlyEndReason(early)}: its counts cover part of the window only: no result`);
    }
    await captureFixture('ct_life', caps.kernel, `port-${spec.port ?? 'all'}`, { 'stdout.jsonl': out.stdout }, {
      argv: argv.map((a) => (a.includes('\n') ? `<bpf/ct_life.bt filled: ${a.match(/^k\S+:__nf_conntrack_alloc$/m)?.[0] ?? '?'} …>` : a)).join(' '),
      tool: () => toolLine(target, ['bpftrace']),
      setup: `nfscope lifetimes ${spec.port === null ? '--all' : `--port ${spec.port}`}`,
    });
    const events = parseBpftraceJson(out.stdout);
    const life = parseCtLife(events, out.stdout);
    // ct_life.bt's END sets @end_nsecs: without it the maps were never printed (the tracer was
    // killed, not stopped), and every count would read 0. Never report that as a result.
    if (life.endNsecs === null) {
      throw new CommandFailedError(shownArgv(out.argv), out.exitCode, out.stderr, 'the lifetime tracer ended without printing its maps (no @end_nsecs, which its END probe sets; above: how it ended): no result');
    }
    cleanup.note(`allocated ${life.allocated}, confirmed ${life.confirmed}, freed unconfirmed ${life.freedUnconfirmed}`);
    const report = buildReport(caps.kernel, target.name, spec, durationS, life, reasons, lostEvents(events));
    report.unavailable.push(...reasonsWhy);
    return report;
  });
}
