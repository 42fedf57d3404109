import { execa } from 'execa';
import { afterEach, beforeEach, expect } from 'vitest';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';
import { machineState, OWNER_TAG, stateDiff, type MachineState } from '../../scripts/fault/machine-state.mjs';

export { machineState, OWNER_TAG, stateDiff, type MachineState };

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CLI = join(ROOT, 'dist', 'main.js');

/** Runs argv (no shell); throws with stderr on failure. */
export async function sh(argv: string[]): Promise<string> {
  const [f, ...a] = argv;
  const r = await execa(f!, a, { reject: false });
  if (r.exitCode !== 0) throw new Error(`${argv.join(' ')} → ${r.exitCode}: ${r.stderr}`);
  return r.stdout;
}

/** Runs the built CLI; never throws. */
export async function nfscope(args: string[], opts: { timeoutMs?: number } = {}) {
  return execa('node', [CLI, ...args], { reject: false, timeout: opts.timeoutMs ?? 120_000 });
}

/** Test netns names carry this prefix, so a leftover is recognisable. */
export const TEST_PREFIX = 'nfst-';

/**
 * Creates a named netns for a test; remove it with dropNetns (afterEach). The name carries this
 * test process's owner tag (scripts/fault/machine-state.mjs), so that another suite's netns
 * created meanwhile is not taken for ours.
 */
export async function makeNetns(): Promise<string> {
  const name = TEST_PREFIX + OWNER_TAG + randomBytes(2).toString('hex');
  await sh(['ip', 'netns', 'add', name]);
  await sh(['ip', '-n', name, 'link', 'set', 'lo', 'up']);
  return name;
}

export async function dropNetns(name: string): Promise<void> {
  await execa('ip', ['netns', 'del', name], { reject: false });
}

export async function inNs(ns: string, argv: string[]): Promise<string> {
  return sh(['ip', 'netns', 'exec', ns, ...argv]);
}

/**
 * What this test made and left: the machine now against `before` (machineState() taken when the
 * test began). State that was there before (a classroom VM's netns) or that another run on the
 * machine owns is not counted. Processes need a moment to go after their parent (pdeathsig), so a
 * non-empty answer is asked again for up to settleMs before it is returned.
 */
export async function leftoversSince(before: MachineState, { settleMs = 3000 } = {}): Promise<string[]> {
  const end = Date.now() + settleMs;
  for (;;) {
    const left = stateDiff(before, machineState());
    if (left.length === 0 || Date.now() >= end) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/**
 * For the calling test file: the machine's state taken before each test, and after it the test's
 * namespaces deleted and nothing else of the test's left (leftoversSince). `fresh` makes a
 * namespace deleted after the test (tracked the moment it exists); `drop` deletes one now.
 */
export function netnsPerTest(): { fresh: () => Promise<string>; drop: (name: string) => Promise<void> } {
  let ns: string[] = [];
  let before: MachineState;
  beforeEach(() => {
    before = machineState();
  });
  afterEach(async () => {
    for (const n of ns) await dropNetns(n);
    ns = [];
    expect(await leftoversSince(before)).toEqual([]);
  });
  return {
    fresh: async () => {
      const n = await makeNetns();
      ns.push(n);
      return n;
    },
    drop: async (name) => {
      await dropNetns(name);
      ns = ns.filter((x) => x !== name);
    },
  };
}
