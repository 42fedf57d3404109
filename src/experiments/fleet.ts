/**
 * One piece of work on many targets at once (`hooks --target A --target B …`): at most `parallel`
 * open at a time, each with its own deadline. A target that fails or runs out of time is an outcome
 * with its reason, never a hole in the answer, and never stops the others.
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

export interface FleetOptions {
  parallel: number;
  deadlineMs: number;
  /** --kernel for a `qemu` target given without one. */
  kernel?: string;
  progress: (m: string) => void;
}

/** After a deadline, how long the closed session may take to give its work back before nfscope moves on. */
const SETTLE_MS = 30_000;

/** The first lines of an error, as a reason: what the tool or the transport said. */
function reasonOf(e: unknown): string {
  const m = e instanceof Error ? e.message : String(e);
  return m.split('\n').map((l) => l.trim()).filter(Boolean).slice(0, 4).join(' / ').slice(0, 600);
}

async function one<T>(spec: string, o: FleetOptions, work: (t: Target) => Promise<T>): Promise<FleetOutcome<T>> {
  const t0 = performance.now();
  const ms = () => Math.round(performance.now() - t0);
  let opened: Target | null = null;
  let late = false;
  const run = withTarget(spec, { kernel: o.kernel, progress: (m) => o.progress(`${spec}: ${m}`) }, async (t) => {
    opened = t;
    // Opened after its deadline (a VM that booted slowly): nothing more is asked of it.
    if (late) throw new Error('opened after its deadline');
    return work(t);
  });
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<'deadline'>((res) => (timer = setTimeout(() => res('deadline'), o.deadlineMs)));
  const first = await Promise.race([run.then((value) => ({ value }), (error: unknown) => ({ error })), deadline]);
  clearTimeout(timer);
  if (first !== 'deadline') {
    return 'error' in first
      ? { target: spec, status: 'failed', reason: reasonOf(first.error), durationMs: ms() }
      : { target: spec, status: 'ok', durationMs: ms(), value: first.value };
  }
  late = true;
  // Its session is closed, which stops what it ran there (ssh: the agent kills its children and
  // goes; a VM is shut down); withTarget's own close after that finds it closed.
  const closing = (opened as Target | null)?.close();
  const settled = await Promise.race([
    Promise.allSettled([run, closing]).then(() => true),
    new Promise<false>((res) => setTimeout(() => res(false), SETTLE_MS).unref()),
  ]);
  const why = `no answer within the deadline of ${o.deadlineMs / 1000} s`;
  return { target: spec, status: 'timed out', reason: settled ? why : `${why}; its session did not close within ${SETTLE_MS / 1000} s more`, durationMs: ms() };
}

/** Every target's outcome, in the order given. */
export async function overFleet<T>(specs: readonly string[], o: FleetOptions, work: (t: Target) => Promise<T>): Promise<FleetOutcome<T>[]> {
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
