import { runRandomBytes } from '../lib/run-random.js';
import { CapabilityError, CommandFailedError, UsageError } from '../lib/errors.js';
import type { Cleanup } from '../lib/cleanup.js';
import type { Target } from '../targets/target.js';
import { run } from '../lib/run.js';
import { lockTracing } from './tracing-lock.js';
import { parseGrepFiles } from '../parsers/grep-files.js';

/**
 * A function_graph session on the target, in its own ftrace instance when the
 * kernel allows function_graph there (6.12: yes; 6.1: instances offer only
 * function and nop), else on the global tracer under a lock, and only if
 * nobody else is using it. Every setting touched is put back: its restore is
 * registered before it is written.
 *
 * No set_graph_function: instances do not have it (6.12), and it does not
 * stop ftrace from patching every function, which makes a TCG guest crawl.
 * Instead set_ftrace_filter limits tracing to the functions of interest and
 * set_ftrace_pid to the task that sends the test packet; call trees are cut
 * at the requested roots after parsing.
 */
export interface GraphSession {
  dir: string;
  instance: boolean;
  /** Writes to this file make the writing task the traced one (syn.py's PID_FILE). */
  pidFile: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The trace text; bounded by the ring buffer (buffer_size_kb per CPU). */
  read(): Promise<string>;
}

/** Writes a tracefs file through the target: `tee` with the text on stdin, truncating (O_TRUNC clears filters). */
export async function writeTracefs(target: Target, path: string, text: string, append = false): Promise<void> {
  const argv = append ? ['tee', '-a', path] : ['tee', path];
  // Bounded well below the agent's 10 min: a write that patches the kernel's text (current_tracer)
  // takes seconds under qemu TCG; a guest locked up in the patching says so by its console then.
  const r = await target.exec(argv, { input: text, timeoutMs: 60_000 });
  if (r.exitCode !== 0) throw new CommandFailedError([...argv, `<<< ${text.length > 60 ? text.slice(0, 60) + '…' : text.trim()}`], r.exitCode, r.stderr);
}

const FUNCTION_NAME = /^[A-Za-z_][A-Za-z0-9_.]*$/;

export function validFunctionName(name: string): boolean {
  return name.length <= 128 && FUNCTION_NAME.test(name);
}

/**
 * available_filter_functions: name → module (null if built in). `only` picks
 * lines in the target (grep -E; names are validated symbols, patterns are
 * nfscope's own constants): the whole file is 50-80k lines, seconds to carry
 * over the VM's agent under qemu TCG.
 */
export async function availableFunctions(
  target: Target, tracefs: string, only?: { names: string[]; patterns: string[] },
): Promise<Map<string, string | null>> {
  let text: string;
  if (only) {
    const names = only.names.filter(validFunctionName);
    const argv = ['grep', '-E', ...(names.length ? ['-e', `^(${names.join('|')})( |$)`] : []), ...only.patterns.flatMap((p) => ['-e', p]),
      `${tracefs}/available_filter_functions`];
    const r = await target.exec(argv, { timeoutMs: 60_000 });
    if (r.exitCode !== 0 && r.exitCode !== 1) throw new CommandFailedError(argv, r.exitCode, r.stderr);
    text = r.stdout;
  } else {
    const all = await target.readFile(`${tracefs}/available_filter_functions`);
    // Unreadable is not "no function can be traced".
    if (all === null) throw new Error(`${tracefs}/available_filter_functions could not be read`);
    text = all;
  }
  const out = new Map<string, string | null>();
  for (const line of text.split('\n')) {
    if (!line) continue;
    const sp = line.indexOf(' ');
    const name = sp < 0 ? line : line.slice(0, sp);
    const mod = sp < 0 ? null : /\[(\S+)\]/.exec(line)?.[1] ?? null;
    if (!out.has(name)) out.set(name, mod);
  }
  return out;
}

/**
 * A pid no process has now and the kernel will hand out last: the highest below
 * /proc/sys/kernel/pid_max (pids are allocated upwards and wrap there) with no /proc entry. The
 * kernel refuses a pid at or above its limit in set_ftrace_pid (2147483647, above PID_MAX_LIMIT,
 * failed on every kernel). Throws where pid_max cannot be read: no pid is a safe guess.
 */
export async function unusedPid(target: Target): Promise<number> {
  const text = (await target.readFile('/proc/sys/kernel/pid_max'))?.trim() ?? '';
  const max = /^\d+$/.test(text) ? Number(text) : NaN;
  if (!(max > 300)) throw new Error(`/proc/sys/kernel/pid_max is ${text ? `'${text}'` : 'unreadable'}: no pid known to be unused for set_ftrace_pid`);
  for (let pid = max - 1; pid > max - 64; pid--) if (!(await target.exists(`/proc/${pid}`))) return pid;
  throw new Error(`every pid from ${max - 63} to ${max - 1} is in use: no pid known to be unused for set_ftrace_pid`);
}

/** A tracefs file that every kernel with function tracing has: one that cannot be read is a failure, not "empty". */
async function readSetting(target: Target, path: string): Promise<string> {
  const t = await target.readFile(path);
  if (t === null) throw new Error(`${path} could not be read: whether the tracer is in use is unknown`);
  return t.trim();
}

/**
 * Several tracefs settings (files that always print a value) in one command (parsers/grep-files.ts: a guest command under qemu TCG is
 * about 90 ms whatever it does), each trimmed. A file absent is left out of the map, unless `must`
 * names it; any other failure to read one is an error: whether the tracer is in use is then unknown.
 */
async function readSettings(target: Target, paths: string[], must: string[]): Promise<Map<string, string>> {
  const argv = ['env', 'LC_ALL=C', 'grep', '-a', '-H', '', '--', ...paths];
  const r = await target.exec(argv, { timeoutMs: 20_000 });
  const read = parseGrepFiles(paths, r);
  // tracing_on and the options print at least a digit and a newline: an empty read is no value to restore.
  const why = [...read.errors, ...read.gone.filter((p) => must.includes(p)).map((p) => `${p} does not exist`), ...read.empty.map((p) => `${p} read empty`)];
  if (why.length) throw new CommandFailedError(argv, r.exitCode, r.stderr, `reading the tracer's settings: ${why.slice(0, 3).join('; ')}`);
  return new Map([...read.values].map(([p, v]) => [p, v.trim()]));
}

/** Where function_graph will run: an instance of nfscope's own, or the global tracer, locked and found unused. */
export interface GraphTracer {
  dir: string;
  instance: boolean;
}

/**
 * Takes a tracer for function_graph, before anything else of the run is set up: a busy global
 * tracer is refused before a sandbox is built or a bpftrace attached (on 6.1 under TCG, kprobes
 * attached while a function tracer ran locked the guest up: trace-syn.ts). The instance's
 * removal and the lock's release are registered first.
 */
export async function acquireGraphTracer(target: Target, cleanup: Cleanup, tracefs: string): Promise<GraphTracer> {
  const topText = await target.readFile(`${tracefs}/available_tracers`);
  if (topText === null) throw new Error(`${tracefs}/available_tracers could not be read: whether this kernel has function_graph is unknown`);
  const top = topText.trim();
  if (!top.split(/\s+/).includes('function_graph')) {
    throw new CapabilityError(`this kernel has no function_graph tracer (available_tracers: ${top || 'none'}; needs CONFIG_FUNCTION_GRAPH_TRACER)`);
  }
  // Try an instance first: its own buffer and settings, nothing global to restore.
  const name = `nfscope-${process.pid}-${runRandomBytes(3).toString('hex')}`;
  const inst = `${tracefs}/instances/${name}`;
  // Tolerated: the instance may never have been made.
  cleanup.undoWith(`rmdir ${inst}`, target, [{ argv: ['tee', `${inst}/current_tracer`], input: 'nop\n' }, { argv: ['rmdir', inst] }], true);
  if ((await cleanup.making(`mkdir ${inst}`, () => target.exec(['mkdir', inst], { timeoutMs: 30_000 }))).exitCode === 0) {
    const tracers = await target.readFile(`${inst}/available_tracers`);
    if (tracers === null) throw new Error(`${inst}/available_tracers could not be read: whether instances offer function_graph is unknown`);
    if (tracers.trim().split(/\s+/).includes('function_graph')) return { dir: inst, instance: true };
    await run(target, ['rmdir', inst]);
  }
  await takeGlobalTracer(target, cleanup, tracefs);
  return { dir: tracefs, instance: false };
}

/** Sets function_graph up on the acquired tracer: filter, options, a pid nobody has; tracing off until start(). */
export async function openGraphSession(
  target: Target, cleanup: Cleanup, tracer: GraphTracer, filter: string[],
): Promise<GraphSession> {
  if (filter.length === 0 || !filter.every((f) => validFunctionName(f) || /^:mod:[A-Za-z0-9_]+$/.test(f) || /^[A-Za-z_][A-Za-z0-9_]*\*$/.test(f))) {
    throw new UsageError('function filter: function names only');
  }
  const { dir, instance } = tracer;
  // Registered first, so undone last: tracing comes back on only once function_graph, its filter
  // and its pid are gone (else the global tracer would trace everything for a moment).
  const opts = ['funcgraph-proc', 'funcgraph-cpu', 'funcgraph-duration', 'funcgraph-irqs', 'function-fork'];
  const want: Record<string, string> = { 'funcgraph-proc': '1', 'funcgraph-cpu': '1', 'funcgraph-duration': '1', 'funcgraph-irqs': '0', 'function-fork': '0' };
  // An option this kernel does not have (no file) is left alone; one it has must be readable.
  const settings = await readSettings(target, [`${dir}/tracing_on`, ...opts.map((o) => `${dir}/options/${o}`)], [`${dir}/tracing_on`]);
  const wasOn = settings.get(`${dir}/tracing_on`)!;
  cleanup.undoWith(`${dir}/tracing_on=${wasOn}`, target, [{ argv: ['tee', `${dir}/tracing_on`], input: `${wasOn}\n` }]);
  for (const o of opts) {
    const path = `${dir}/options/${o}`;
    const was = settings.get(path);
    if (was === undefined || was === want[o]) continue;
    cleanup.undoWith(`restore ${path}=${was}`, target, [{ argv: ['tee', path], input: was + '\n' }]);
    await cleanup.making(`${path}=${want[o]}`, () => writeTracefs(target, path, want[o]!));
  }
  // `tee FILE` with empty input truncates it: an empty filter, no pid filter.
  cleanup.undoWith(`clear ${dir}/set_ftrace_filter`, target, [{ argv: ['tee', `${dir}/set_ftrace_filter`], input: '' }]);
  cleanup.undoWith(`clear ${dir}/set_ftrace_pid`, target, [{ argv: ['tee', `${dir}/set_ftrace_pid`], input: '' }]);
  cleanup.undoWith(`${dir}/current_tracer=nop`, target, [{ argv: ['tee', `${dir}/current_tracer`], input: 'nop\n' }]);

  await cleanup.making(`${dir}/tracing_on=0`, () => writeTracefs(target, `${dir}/tracing_on`, '0\n'));
  await cleanup.making(`${dir}/set_ftrace_filter`, () => writeTracefs(target, `${dir}/set_ftrace_filter`, filter.join('\n') + '\n'));
  // A pid nobody has until the sender writes its own: nothing is traced before the test packet.
  // A failed write is an error: any fallback pid is somebody's (PID 1 was traced that way).
  const pid = await unusedPid(target);
  await cleanup.making(`${dir}/set_ftrace_pid`, () => writeTracefs(target, `${dir}/set_ftrace_pid`, `${pid}\n`));
  await cleanup.making(`${dir}/current_tracer=function_graph`, () => writeTracefs(target, `${dir}/current_tracer`, 'function_graph\n'));
  await cleanup.making(`clear ${dir}/trace`, () => writeTracefs(target, `${dir}/trace`, ''));

  return {
    dir,
    instance,
    pidFile: `${dir}/set_ftrace_pid`,
    start: () => cleanup.making(`${dir}/tracing_on=1`, () => writeTracefs(target, `${dir}/tracing_on`, '1\n')),
    stop: () => cleanup.making(`${dir}/tracing_on=0`, () => writeTracefs(target, `${dir}/tracing_on`, '0\n')),
    // A trace that could not be read is not an empty one (no call seen).
    read: async () => {
      const t = await target.readFile(`${dir}/trace`);
      if (t === null) throw new Error(`${dir}/trace could not be read: the call graph was not observed`);
      return t;
    },
  };
}

/**
 * The global tracer, only when nobody uses it: nop tracer, no function
 * filter, no pid filter, no events. Then it is left exactly so.
 */
async function takeGlobalTracer(target: Target, cleanup: Cleanup, tracefs: string): Promise<void> {
  await lockTracing(target, cleanup, 'function_graph');
  const busy: string[] = [];
  const tracer = await readSetting(target, `${tracefs}/current_tracer`);
  if (tracer !== 'nop') busy.push(`current_tracer is ${tracer}`);
  const filt = await readSetting(target, `${tracefs}/set_ftrace_filter`);
  if (filt && !filt.startsWith('####')) busy.push('set_ftrace_filter is set');
  const pid = await readSetting(target, `${tracefs}/set_ftrace_pid`);
  if (pid && pid !== 'no pid') busy.push(`set_ftrace_pid is ${pid}`);
  const events = await readSetting(target, `${tracefs}/set_event`);
  if (events) busy.push(`events are enabled (${events.split('\n').slice(0, 3).join(', ')})`);
  if (busy.length) {
    throw new CapabilityError(
      `the global tracer is in use (${busy.join('; ')}), and this kernel has no function_graph in ftrace instances: ` +
        'nfscope will not take it over. Stop that tracing first (e.g. trace-cmd reset).',
    );
  }
}
