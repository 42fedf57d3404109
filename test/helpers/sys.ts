import { execa } from 'execa';
import { randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

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

/** Creates a named netns for a test; remove it with dropNetns (afterEach). */
export async function makeNetns(): Promise<string> {
  const name = TEST_PREFIX + randomBytes(4).toString('hex');
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

/** What the before-stop hook checks: nothing of ours may be left behind. */
export async function leftovers(): Promise<string[]> {
  const out: string[] = [];
  const ns = (await execa('ip', ['netns', 'list'], { reject: false })).stdout;
  for (const l of ns.split('\n')) if (l.startsWith('nfs')) out.push(`netns ${l.split(' ')[0]}`);
  const links = (await execa('ip', ['-o', 'link'], { reject: false })).stdout;
  for (const l of links.split('\n')) if (/: nfs[a-z0-9]*[@:]/.test(l)) out.push(`link ${l.split(':')[1]?.trim()}`);
  const procs = (await execa('pgrep', ['-a', '-f', 'bpftrace|trace-cmd|qemu-system'], { reject: false })).stdout;
  for (const l of procs.split('\n')) if (l.trim() && !l.includes('pgrep')) out.push(`process ${l}`);
  return out;
}
