/**
 * One bpftrace for every hook listing of a run (programs/nf_hooks_server.ts
 * says how and why). Started lazily by the experiment session on the first
 * listing; a request is a process in the netns to list. Where the target has
 * no syscall tracepoints (CONFIG_FTRACE_SYSCALLS), the session lists with one
 * bpftrace start per listing instead (backends/hooks.ts).
 */
import { runRandomInt } from '../lib/run-random.js';
import type { Cleanup } from '../lib/cleanup.js';
import { CommandFailedError } from '../lib/errors.js';
import { sleep } from '../lib/time.js';
import type { Family } from '../model/hooks.js';
import { familyMask, parseBpftraceHooks } from '../parsers/bpftrace-hooks.js';
import { hookAddresses, kallsymsTable, nameHookAddresses } from '../parsers/hook-addresses.js';
import { chainProbe, serverChainState, type ChainProbe } from '../kernel/nft-chains.js';
import { runsChain } from '../model/hooks.js';
import { nfHooksServerProgram, REQUEST_PREFIX, TOKEN_DIGITS } from '../programs/nf_hooks_server.js';
import { tracerArgv, type BpfProgram } from '../programs/program.js';
import { readTemplate } from '../programs/templates.js';
import type { Running, Target } from '../targets/target.js';
import { inNetns, type NetnsRef } from '../tools/netns.js';
import { startTracer } from '../tools/tracer.js';
import { tryRun, GREP_ANSWERS } from '../lib/run.js';
import { RunFailedError } from '../lib/run-failed.js';
import type { HooksResult } from './hooks.js';

type Probe = ChainProbe;

/** Whether the target can serve listings this way: null, or why not. */
export async function hookServerUnavailable(target: Target, tracefs: string): Promise<string | null> {
  if (!(await target.exists(`${tracefs}/events/syscalls/sys_enter_prctl/format`))) {
    return 'no syscall tracepoints (CONFIG_FTRACE_SYSCALLS): one bpftrace start per listing';
  }
  return null;
}

export class HookServer {
  private seen = 0;
  private exited = false;
  /** Why chains of modules loaded since the server started go unnamed (current(): 'loaded-since'). */
  private lateWhy: string | null = null;

  private constructor(
    private readonly target: Target,
    private readonly tracer: Running,
    readonly lines: string[],
    /** The chain probe the server was built from: the one tried first, also when its fill failed to compile. */
    private readonly probe: Probe,
    private readonly argv: string[],
    private readonly request: string[],
    /** Why chains are not named by this server, if they are not. */
    private readonly unnamedWhy: string | null,
    /** The families this program can list (its family bits). */
    readonly serves: number,
    /** The digits after nfshk that this server answers, and only it. */
    readonly token: string,
    /** Events bpftrace said it lost, for the server's whole life. */
    private readonly lost: { events: number },
  ) {
    void tracer.done.then(() => {
      this.exited = true;
    });
  }

  /**
   * Compiles and attaches the server; its stop is registered with cleanup first. `argvFor` gives
   * the bpftrace argv of the filled program as this kernel needs it (kernel/bpf-shape.ts) and with
   * its types' BTF (kernel/bpftrace-btf.ts).
   */
  static async start(target: Target, cleanup: Cleanup, bpftrace: string[], python: string, serves: readonly Family[], argvFor: (p: BpfProgram) => Promise<string[]>): Promise<HookServer> {
    const mask = familyMask(serves);
    const token = String(runRandomInt(10 ** TOKEN_DIGITS)).padStart(TOKEN_DIGITS, '0');
    // Independent reads, at once: under qemu TCG each guest command is ~90 ms.
    const [template, payload, probe] = await Promise.all([readTemplate('nf_hooks'), target.bundled('payload/hooks-request.py'), chainProbe(target)]);
    const request = [python, payload];
    const program = (p: Probe) => nfHooksServerProgram(template, 'symbols' in p ? { symbols: p.symbols, layouts: p.layouts, serves: mask, token } : { symbols: null, serves: mask, token });
    const launch = async (p: Probe) => {
      const filled = program(p);
      const { tracer, lines, lost } = await startTracer(target, cleanup, await argvFor(filled), 'hook listing server', { keepLines: true });
      // current() compares with what chainProbe said, not with the fallback: else a kernel whose
      // fill never compiles would see "nf_tables moved" at every listing (Debian 5.10: 3 restarts).
      return new HookServer(target, tracer, lines, probe, tracerArgv(bpftrace, { text: '<bpf/nf_hooks.bt as a listing server>', params: [] }), request, 'why' in p ? p.why : null, mask, token, lost);
    };
    try {
      return await launch(probe);
    } catch (e) {
      // Only a compile failure is retried without chain names: a torn-down run or a replay that
      // cannot answer is not one.
      if (!('symbols' in probe) || ['RunEndedError', 'ReplayError'].includes((e as Error).name)) throw e;
      // Naming chains must never cost the listing itself: without it, once more.
      return launch({ why: `naming chains failed here (${(e as Error).message.split('\n').find((l) => /ERROR/.test(l))?.trim() ?? 'compile error'})` });
    }
  }

  /**
   * Why this server no longer describes the kernel, or null while it does: its chain naming
   * compiled in the addresses of nf_tables' and nf_nat's callbacks, which move when a module
   * reloads. Modules loaded since it started (the lab's first rule loads nf_tables) leave it
   * current: what it names is still right, and the chains it cannot name are said (list()).
   */
  async current(): Promise<string | null> {
    if (this.exited) return 'the hook listing server exited';
    const now = await chainProbe(this.target);
    const compiled = 'symbols' in this.probe;
    // A probe that could not read the addresses cannot say they stayed: a server that compiled some
    // in is replaced, saying why; one that compiled none has nothing to go stale.
    if ('failed' in now) return compiled ? `the chain probe failed (${now.why})` : null;
    const state = serverChainState(compiled ? this.probe.symbols : null, 'symbols' in now ? now.symbols : null);
    // Loaded since: true only where the server's own probe answered (found no callback); one whose
    // probe failed keeps that failure as its reason.
    if (state === 'loaded-since' && !('failed' in this.probe)) this.lateWhy = 'nf_tables or nf_nat was loaded after this run\'s listing server started, which was built without their callbacks';
    return state === 'moved' ? 'nf_tables or nf_nat moved since the listing server started' : null;
  }

  async stop(): Promise<void> {
    await this.tracer.stop();
  }

  async list(ns: NetnsRef, families: readonly Family[]): Promise<HooksResult> {
    if ((familyMask(families) & ~this.serves) !== 0) throw new Error(`this listing server was built without ${families.join(', ')}`);
    const id = `${REQUEST_PREFIX}${this.token}${String(runRandomInt(10 ** (10 - TOKEN_DIGITS))).padStart(10 - TOKEN_DIGITS, '0')}`;
    const lostBefore = this.lost.events;
    const argv = inNetns(ns, [...this.request, id.slice(REQUEST_PREFIX.length)]);
    const r = await this.target.exec(argv, { timeoutMs: 60_000 });
    if (r.exitCode !== 0) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    // The walk ran in the request's prctl(); its lines reach bpftrace's reader a moment later.
    const t0 = Date.now();
    let begin = -1;
    let end = -1;
    while (Date.now() - t0 < 60_000) {
      for (let i = Math.max(this.seen, begin + 1); i < this.lines.length && end < 0; i++) {
        if (this.lines[i] === `B ${id}`) begin = i;
        else if (begin >= 0 && this.lines[i] === `Z ${id}`) end = i;
      }
      if (end >= 0 || this.exited) break;
      await sleep(20);
    }
    if (end < 0) throw new CommandFailedError(this.argv, null, '', `the hook listing server did not answer request ${id}${this.exited ? ' (it exited)' : ' within 60 s'}`);
    const raw = this.lines.slice(begin + 1, end);
    this.seen = end + 1;
    // A record bpftrace lost is a hook or callback missing from the answer, never to be read as absent.
    if (this.lost.events > lostBefore) {
      throw new CommandFailedError(this.argv, null, '', `the hook listing server lost ${this.lost.events - lostBefore} event(s) while it answered request ${id}: the listing would be incomplete`);
    }
    const named = await this.name(raw);
    const parsed = parseBpftraceHooks(named.lines);
    const warnings = [...parsed.warnings];
    if (named.unnamed.length) warnings.push(`no symbol in /proc/kallsyms starts at ${named.unnamed.join(', ')}: shown as addresses`);
    const unnamedChain = parsed.hooks.some((h) => h.entries.some((e) => runsChain(e.callback) && !e.chain));
    // The later reason first: a server that started before nf_tables loaded was told "no nf_tables callback".
    const why = this.lateWhy ?? this.unnamedWhy;
    if (unnamedChain && why) warnings.push(`nf_tables chains not named: ${why}`);
    return { hooks: parsed.hooks.filter((h) => families.includes(h.family)), warnings, argv: [...this.argv, '→', ...argv] };
  }

  /** Names the listing's addresses from /proc/kallsyms as it is now. */
  private async name(lines: string[]): Promise<ReturnType<typeof nameHookAddresses>> {
    const addrs = hookAddresses(lines);
    if (addrs.length === 0) return { lines, unnamed: [] };
    // Addresses are hex from our own parse; the pattern is an argv element, never shell text.
    // grep's 1 (no address matched) is an answer: every callback then stays an address, with the
    // warning list() adds. Its 2, a timeout or a signal is not: callbacks left unnamed would read
    // as owners nobody has ("unknown"), so the listing fails with the grep's own failure.
    const r = await tryRun(this.target, ['grep', '-E', `^0*(${addrs.join('|')}) `, '/proc/kallsyms'], { timeoutMs: 30_000, okExit: GREP_ANSWERS });
    if (!r.ok) throw new RunFailedError(r.failure, r.reason, "the listing's callbacks could not be named from /proc/kallsyms");
    return nameHookAddresses(lines, kallsymsTable(r.stdout));
  }
}
