/**
 * The experiment session: what every experiment needs from a target, done
 * once per nfscope run (issue 14). Before it, trace-syn, graph, lifetimes and
 * the registration step each ran the same preamble (module snapshot,
 * capability probe, tool lookups, withCleanup, module unloading, tracefs),
 * and the lab ran it four times over, with a hook listing per step.
 *
 * - Session.open: the module snapshot, then one capability probe and the
 *   root check. Tools are looked up once each.
 * - session.run(fn): one undo scope. Modules the run made the kernel load are
 *   unloaded at its end, tracefs is mounted if needed, and hook listings are
 *   served by one bpftrace (backends/hook-server.ts). A run inside a run joins
 *   it: the lab's steps share one scope, experiments called alone get their own.
 */
import { withCleanup, type Cleanup } from '../lib/cleanup.js';
import { bpfShapeFor, type BpfShape } from '../kernel/bpf-shape.js';
import { adaptProgram } from '../programs/adapt.js';
import { runnableText, tracerArgv, untilStoppedOptions, withEnv, type BpfProgram, type Runnable } from '../programs/program.js';
import { BtfFiles } from '../kernel/bpftrace-btf.js';
import { readTemplate, templatePath, type BundledProgram } from '../programs/templates.js';
import { CapabilityError } from '../lib/errors.js';
import { requireRoot } from '../tools/root.js';
import { bpftraceCommand, probeCapabilities } from '../kernel/capabilities.js';
import type { Capabilities, Capability } from '../model/capabilities.js';
import { bpftraceBackend, type HooksResult } from '../backends/hooks.js';
import { HookServer, hookServerUnavailable } from '../backends/hook-server.js';
import { familyMask } from '../parsers/bpftrace-hooks.js';
import type { Family, HookList } from '../model/hooks.js';
import type { IpFamily } from '../tools/firewall.js';
import type { Target } from '../targets/target.js';
import { loadedModules, unloadModulesLoadedDuring } from '../tools/modules.js';
import { requireTool, type Program } from '../lib/packages.js';
import { ensureTracefs } from '../tools/tracefs.js';
import { startTracer } from '../tools/tracer.js';
import type { NetnsRef } from '../tools/netns.js';
import { createSandbox, type Sandbox, type SandboxSpec } from './sandbox.js';

export type Progress = (msg: string) => void;

export class Session {
  private readonly tools = new Map<string, Promise<string>>();
  private active: Run | null = null;

  private constructor(
    readonly target: Target,
    readonly caps: Capabilities,
    private readonly modulesBefore: string[] | null,
    /** What the session's hook listings will ask for: the listing server compiles only those. */
    readonly families: readonly Family[],
  ) {}

  /** `what` names the experiment in the error when the target gives no root. */
  static async open(target: Target, what: string, families: readonly Family[] = ['ipv4', 'ipv6']): Promise<Session> {
    // Before anything else: the capability probes already run `nft`, which loads nfnetlink.
    const modulesBefore = await loadedModules(target);
    // One root check, one exit code (4), whichever command asks (tools/root.ts).
    await requireRoot(target, what);
    const caps = await probeCapabilities(target, { tools: 'session' });
    return new Session(target, caps, modulesBefore, families);
  }

  get kernel(): string {
    return this.caps.kernel;
  }

  cap(id: string): Capability {
    const c = this.caps.caps.find((x) => x.id === id);
    if (!c) throw new Error(`no capability "${id}" in the probe`);
    return c;
  }

  /** The tool's path on the target, or a CapabilityError saying which package has it. */
  tool(p: Program): Promise<string> {
    let t = this.tools.get(p);
    if (!t) {
      t = requireTool(this.target, p);
      this.tools.set(p, t);
      t.catch(() => this.tools.delete(p));
    }
    return t;
  }

  /**
   * The argv that starts a bpftrace tracer, which runs until nfscope stops it: its path, behind
   * `env BPFTRACE_BTF=…` where the probe found it needs that, with the child that makes the stop
   * certain (programs/program.ts untilStoppedOptions).
   */
  async bpftrace(env: string[] = []): Promise<string[]> {
    const [bpftrace, sleep] = await Promise.all([this.tool('bpftrace'), this.tool('sleep')]);
    return [...bpftraceCommand(bpftrace, [...env, ...this.caps.bpftraceEnv]), ...untilStoppedOptions(sleep)];
  }

  /** What the bundled bpftrace programs adapt to on this kernel (kernel/bpf-shape.ts), probed once per target. */
  bpfShape(tracefs: string): Promise<BpfShape> {
    return bpfShapeFor(this.target, tracefs, this.caps.kernel);
  }

  /** python3's path on the target (the bundled traffic helpers run on it), or a ToolMissingError. */
  python(): Promise<string> {
    return this.tool('python3');
  }

  async run<T>(fn: (r: Run) => Promise<T>): Promise<T> {
    const outer = this.active;
    // A run inside a run: its own undo scope (its sandbox goes when it ends), the outer run's
    // tracefs, listing server and module snapshot.
    if (outer) return withCleanup((cleanup) => fn(outer.child(cleanup)), this.target);
    return withCleanup(async (cleanup) => {
      await unloadModulesLoadedDuring(this.target, cleanup, this.modulesBefore);
      const tracefs = await ensureTracefs(this.target, cleanup);
      const run = new Run(this, cleanup, tracefs, { root: cleanup, server: null, serverWhy: undefined, queue: Promise.resolve(), families: this.families, btf: new BtfFiles(this.target, cleanup, tracefs) });
      this.active = run;
      try {
        return await fn(run);
      } finally {
        this.active = null;
      }
    }, this.target);
  }
}

/** What the runs of one session share: the listing server lives as long as the outermost run. */
interface Shared {
  root: Cleanup;
  server: HookServer | null;
  serverWhy: string | null | undefined;
  queue: Promise<unknown>;
  /** What the server compiles in: the session's families, grown by any request beyond them. */
  families: readonly Family[];
  /** The BTF files handed to the run's tracers (kernel/bpftrace-btf.ts), removed at its end. */
  btf: BtfFiles;
}

/** One undo scope of a session: what is created in it is undone at its end. */
export class Run {
  constructor(
    readonly session: Session,
    readonly cleanup: Cleanup,
    readonly tracefs: string,
    private readonly shared: Shared,
  ) {}

  /** The run's hook listing server, once started (null before, or where listings are one-shot). */
  get listingServer(): HookServer | null {
    return this.shared.server;
  }

  child(cleanup: Cleanup): Run {
    return new Run(this.session, cleanup, this.tracefs, this.shared);
  }

  get target(): Target {
    return this.session.target;
  }

  sandbox(spec: SandboxSpec): Promise<Sandbox> {
    return createSandbox(this.target, this.cleanup, spec);
  }

  /** A bpftrace program's text as this kernel needs it (programs/adapt.ts, kernel/bpf-shape.ts). */
  async program(text: string): Promise<string> {
    return adaptProgram(text, await this.session.bpfShape(this.tracefs));
  }

  /** A filled program as this kernel needs it: its text adapted, its parameters as they are. */
  async adapted(p: BpfProgram): Promise<BpfProgram> {
    return { text: await this.program(p.text), params: p.params };
  }

  /**
   * A program of bundled .bt file `name`: the file's path on the target where the program is the
   * template as it is and the kernel takes it so, else its adapted text (given with -e).
   */
  async bundledProgram(name: BundledProgram, p: BpfProgram): Promise<Runnable> {
    const adapted = await this.program(p.text);
    return adapted === (await readTemplate(name)) ? { file: await this.target.bundled(templatePath(name)), params: p.params, source: adapted } : { text: adapted, params: p.params };
  }

  /**
   * `bpftrace … -f json PROGRAM PARAMS`, with BPFTRACE_BTF at a file of the types the program
   * names where one can be made (kernel/bpftrace-btf.ts: seconds less to compile under TCG).
   */
  async tracerArgv(bpftrace: readonly string[], p: Runnable): Promise<string[]> {
    return tracerArgv(withEnv(bpftrace, await this.btfEnv(runnableText(p))), p);
  }

  /** The env assignment that hands bpftrace `text`'s BTF subset, or [] (kernel/bpftrace-btf.ts). */
  btfEnv(text: string): Promise<string[]> {
    return this.shared.btf.env(text);
  }

  /** A bpftrace (or any tracer printing READY), stopped when the run ends. */
  tracer(argv: string[], what: string, opts: { keepLines?: boolean; stream?: boolean } = {}): ReturnType<typeof startTracer> {
    return startTracer(this.target, this.cleanup, argv, what, opts);
  }

  /**
   * Starts the listing server now, without waiting for it: its compile then overlaps whatever
   * the caller does before its first listing (the lab's module reload). Errors surface there.
   */
  warmHooks(progress: Progress = () => {}): void {
    const next = this.shared.queue.then(() => this.ensureServer(this.shared.families, progress));
    this.shared.queue = next.catch(() => {});
  }

  /**
   * The hooks of a netns. The first listing starts the listing server; one
   * whose chain naming the kernel has outgrown (nf_tables reloaded) is replaced.
   */
  hooks(ns: NetnsRef, families: readonly Family[], progress: Progress = () => {}): Promise<HooksResult> {
    // One listing at a time: concurrent walks would interleave their lines in bpftrace's output,
    // and two first listings would start two servers.
    const next = this.shared.queue.then(() => this.listNow(ns, families, progress));
    this.shared.queue = next.catch(() => {});
    return next;
  }

  private async listNow(ns: NetnsRef, families: readonly Family[], progress: Progress): Promise<HooksResult> {
    const server = await this.ensureServer(families, progress);
    return server ? server.list(ns, families) : bpftraceBackend.list(this.target, ns, families, this.shared.btf);
  }

  /** The running server for these families, started or replaced as needed; null: list one-shot. */
  private async ensureServer(families: readonly Family[], progress: Progress): Promise<HookServer | null> {
    const sh = this.shared;
    // The tools' paths and the kernel's program shape are read alongside the server's own check
    // (reads only, each a guest command of ~90 ms under qemu TCG), both run to their end; a failure
    // of the reads counts only once the server is known to be wanted.
    const toolsP = sh.server ? null : Promise.all([this.session.bpftrace(), this.session.python(), this.session.bpfShape(this.tracefs)]);
    const whyP = sh.serverWhy !== undefined ? Promise.resolve(sh.serverWhy)
      : process.env.NFSCOPE_HOOK_SERVER === '0' ? Promise.resolve('NFSCOPE_HOOK_SERVER=0') : hookServerUnavailable(this.target, this.tracefs);
    const [why, tools] = await Promise.allSettled([whyP, toolsP]);
    if (why.status === 'rejected') throw why.reason;
    sh.serverWhy = why.value;
    if (sh.serverWhy !== null) return null;
    // A server built for fewer families is replaced by one for all of them (the lab asks for ipv4 only).
    if (sh.server && (familyMask(families) & ~sh.server.serves) !== 0) {
      await sh.server.stop();
      sh.server = null;
      sh.families = [...new Set([...sh.families, ...families])];
    }
    const stale = sh.server ? await sh.server.current() : null;
    if (sh.server && stale) {
      progress(`${stale}: restarting it`);
      await sh.server.stop();
      sh.server = null;
    }
    if (!sh.server) {
      progress('starting the hook listing server (one bpftrace serves every listing of this run)');
      if (tools.status === 'rejected') throw tools.reason;
      const [bpftrace, python] = tools.value ?? (await Promise.all([this.session.bpftrace(), this.session.python()]));
      sh.server = await HookServer.start(this.target, sh.root, bpftrace, python, sh.families, async (p) => this.tracerArgv(bpftrace, { text: await this.program(p.text), params: p.params }));
    }
    return sh.server;
  }

  /**
   * The server netns's hooks: evidence, and the source of the conntrack
   * callbacks to probe. A failure is recorded as unavailable, not thrown. The listing's own
   * warnings go to `warnings` where the caller keeps them.
   */
  async serverHooks(sb: Sandbox, family: IpFamily, unavailable: { observation: string; reason: string }[], progress: Progress, warnings?: string[]): Promise<HookList[]> {
    progress('listing the server netns hooks');
    try {
      const listed = await this.hooks(sb.server, [family], progress);
      const hooks = listed.hooks;
      warnings?.push(...listed.warnings);
      this.cleanup.note(`hooks of the server netns: ${hooks.map((h) => `${h.family} ${h.hook}: ${h.entries.map((e) => `${e.priority} ${e.callback}`).join(', ')}`).join('; ') || 'none'}`);
      return hooks;
    } catch (e) {
      unavailable.push({ observation: 'hooks', reason: `hook listing failed: ${(e as Error).message.split('\n')[0]}` });
      return [];
    }
  }
}

/** Experiments take a session, or a target to open one on (a command, a test, a benchmark). */
export async function sessionFor(t: Target | Session, what: string): Promise<Session> {
  return t instanceof Session ? t : Session.open(t, what);
}
