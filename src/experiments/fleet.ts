/**
 * One piece of work on many targets at once (`hooks --target A --target B …`): at most `parallel`
 * at a time, each within its deadline. A target that fails or runs out of time is an outcome with
 * its reason, never a hole in the answer, and never stops the others.
 */
import type { Target } from '../targets/target.js';
import { withTarget } from '../targets/index.js';

export interface FleetOutcome<T> {
  target: string;
  status: 'ok' | 'failed' | 'timed out';
  reason?: string;
  durationMs: number;
  value?: T;
}

export interface FleetRun {
  parallel: number;
  /** From the start of a target's opening to the end of its work; its teardown (a VM's shutdown) is not counted. */
  deadlineMs: number;
  /** --kernel for a `qemu` target given without one. */
  kernel?: string;
  progress: (m: string) => void;
}

/** After a deadline, how long the closed session may take to end what it ran before its slot is given back. */
const SETTLE_MS = 150_000;

/** The first lines of an error, as a reason: what the tool or the transport said. */
function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 4).join(' / ').slice(0, 600);
}

/**
 * The target as the work sees it: once its deadline has passed, every further call fails at once,
 * so work that was between two calls goes no further (closing the session stops the calls in flight).
 */
function fenced(t: Target, late: () => boolean): Target {
  return new Proxy(t, {
    get(obj, prop) {
      const v: unknown = Reflect.get(obj, prop, obj);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        if (late()) {
          const e = new Error(`${obj.name}: past its deadline`);
          // spawn returns a handle, not a promise: it throws; every other call fails as a promise does.
          if (prop === 'spawn') throw e;
          return Promise.reject(e);
        }
        return (v as (...a: unknown[]) => unknown).apply(obj, args);
      };
    },
  });
}

async function one<T>(spec: string, o: FleetRun, work: (t: Target) => Promise<T>): Promise<FleetOutcome<T>> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  let opened: Target | null = null;
  let late = false;
  let workEnded!: (r: { value: T } | { error: unknown }) => void;
  const ended = new Promise<{ value: T } | { error: unknown }>((res) => (workEnded = res));
  const run = withTarget(spec, { kernel: o.kernel, progress: (m) => o.progress(`${spec}: ${m}`) }, async (t) => {
    opened = t;
    // Opened after its deadline (a VM that booted slowly): nothing is asked of it.
    if (late) throw new Error('opened after its deadline');
    try {
      const value = await work(fenced(t, () => late));
      workEnded({ value });
      return value;
    } catch (error) {
      workEnded({ error });
      throw error;
    }
  });
  // A target that could not be opened never reaches the work: its failure ends the wait as well.
  run.catch((error: unknown) => workEnded({ error }));
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((res) => (timer = setTimeout(() => res('deadline'), o.deadlineMs)));
  const first = await Promise.race([ended, deadline]);
  clearTimeout(timer);
  if (first !== 'deadline') {
    // The work is over; the teardown is waited for (bounded by its own steps: agent shutdown, VM
    // power-off), so that no more than `parallel` targets are ever open.
    const [end] = await Promise.allSettled([run]);
    if ('error' in first) return { target: spec, status: 'failed', reason: reasonOf(first.error), durationMs: ms() };
    // The work answered, then what came after it failed (a recorded run not as recorded): not ok.
    if (end!.status === 'rejected') return { target: spec, status: 'failed', reason: `after its answer: ${reasonOf(end!.reason)}`, durationMs: ms() };
    return { target: spec, status: 'ok', durationMs: ms(), value: first.value };
  }
  late = true;
  // Closing its session stops what it ran there (ssh and the VM: the agent kills its children; a
  // VM is shut down); the work, fenced, asks nothing more. Both are waited for, each bounded by its own steps.
  let closeWhy = '';
  const target = opened as Target | null;
  const closing = target
    ? Promise.resolve().then(() => target.close()).catch((e: unknown) => { closeWhy = `; closing its session failed: ${reasonOf(e)}`; })
    : Promise.resolve();
  // Bounded: a session's close is at most ~80 s (the agent's hello, its shutdown, the kill), a VM
  // still booting at most its boot deadline; past SETTLE_MS the slot is given back and the row says so.
  const settled = await Promise.race([
    Promise.allSettled([run, closing]).then(() => true),
    new Promise<false>((res) => setTimeout(() => res(false), SETTLE_MS).unref()),
  ]);
  const unsettled = settled ? '' : `; what it ran had not ended ${SETTLE_MS / 1000} s after`;
  return { target: spec, status: 'timed out', reason: `no answer within the deadline of ${o.deadlineMs / 1000} s${closeWhy}${unsettled}`, durationMs: ms() };
}

/** Every target's outcome, in the order given. */
export async function overFleet<T>(specs: readonly string[], o: FleetRun, work: (t: Target) => Promise<T>): Promise<FleetOutcome<T>[]> {
  const out: FleetOutcome<T>[] = new Array(specs.length);
  let next = 0;
  const worker = async () => {
    while (next < specs.length) {
      const i = next++;
      out[i] = await one(specs[i]!, o, work);
      o.progress(`${specs[i]}: ${out[i]!.status}${out[i]!.reason ? ` (${out[i]!.reason})` : ''}, ${(out[i]!.durationMs / 1000).toFixed(1)} s`);
    }
  };
  await Promise.all(Array.from({ length: Math.min(o.parallel, specs.length) }, worker));
  return out;
}
