import type { RawRun } from '../lib/target.js';
import { stderrExcerpt } from '../lib/run-result.js';

/**
 * What a guest console says about a guest that died or stopped answering: the
 * kernel's own words (a panic, an oops, a soft lockup, an RCU stall, a hung
 * task), picked out of the console text. Pure: the text comes from
 * vm/console-keeper.ts.
 */

/** A kind of trouble the kernel reports on its console, and the line that starts its report. */
const TROUBLE: readonly { kind: TroubleKind; re: RegExp }[] = [
  { kind: 'panic', re: /Kernel panic - not syncing/ },
  { kind: 'oops', re: /\bOops: |BUG: unable to handle|BUG: kernel NULL pointer|general protection fault|kernel BUG at|invalid opcode: / },
  { kind: 'soft lockup', re: /BUG: soft lockup|watchdog: BUG: soft lockup/ },
  { kind: 'hard lockup', re: /Watchdog detected hard LOCKUP|NMI watchdog: .*hard LOCKUP/ },
  { kind: 'RCU stall', re: /rcu: INFO: rcu_\w+ (self-)?detected stalls?|rcu_\w+ self-detected stall|rcu: INFO: .*detected stall/ },
  { kind: 'hung task', re: /INFO: task .* blocked for more than \d+ seconds/ },
  { kind: 'BUG', re: /\bBUG: / },
  { kind: 'warning', re: /WARNING: CPU: \d+ PID: \d+ at / },
  { kind: 'out of memory', re: /Out of memory: Killed process|invoked oom-killer/ },
];

export type TroubleKind = 'panic' | 'oops' | 'soft lockup' | 'hard lockup' | 'RCU stall' | 'hung task' | 'BUG' | 'warning' | 'out of memory';

export interface ConsoleEvidence {
  /** The kinds of trouble found, in the order they first appear. Empty: the console reports none. */
  kinds: TroubleKind[];
  /** The first line of the gravest trouble (a panic before an oops before a lockup…), or null. */
  headline: string | null;
  /** The lines to show: each trouble report's first lines, or the console's last lines when none matched. */
  lines: string[];
}

/** A line that starts one of the kernel's trouble reports. */
export function isTrouble(line: string): boolean {
  return TROUBLE.some((t) => t.re.test(line));
}

/** Terminal noise a console carries (carriage returns, colour codes) that would garble a report. */
function clean(line: string): string {
  // eslint-disable-next-line no-control-regex
  return line.replace(/\x1b\[[0-9;?]*[A-Za-z]/g, '').replace(/\r/g, '').replace(/[\x00-\x08\x0b-\x1f\x7f]/g, '');
}

/**
 * Picks the lines that matter out of a console. A trouble report is its first
 * line and up to `blockLines` after it (registers and call trace: where the
 * kernel was); reports that repeat (a soft lockup every 20 s) are shown once
 * each kind, plus the last line of that kind, so a flood shows both its start
 * and how long it went on. With no trouble, the last `tailLines` lines.
 */
export function consoleEvidence(text: string, o: { blockLines?: number; tailLines?: number; maxLines?: number } = {}): ConsoleEvidence {
  const blockLines = o.blockLines ?? 30;
  const tailLines = o.tailLines ?? 25;
  const maxLines = o.maxLines ?? 120;
  const lines = text.split('\n').map(clean);
  while (lines.length && !lines[lines.length - 1]!.trim()) lines.pop();
  const firstAt = new Map<TroubleKind, number>();
  const lastAt = new Map<TroubleKind, number>();
  lines.forEach((l, i) => {
    const t = TROUBLE.find((k) => k.re.test(l));
    if (!t) return;
    if (!firstAt.has(t.kind)) firstAt.set(t.kind, i);
    lastAt.set(t.kind, i);
  });
  if (!firstAt.size) return { kinds: [], headline: null, lines: lines.slice(-tailLines) };
  const kinds = [...firstAt.entries()].sort((a, b) => a[1] - b[1]).map(([k]) => k);
  const grave = TROUBLE.map((t) => t.kind).find((k) => firstAt.has(k))!;
  const shown = new Set<number>();
  for (const k of kinds) {
    const from = firstAt.get(k)!;
    for (let i = from; i < Math.min(lines.length, from + 1 + blockLines); i++) shown.add(i);
    shown.add(lastAt.get(k)!);
  }
  // The console's very last lines: what the guest printed just before it went away.
  for (let i = Math.max(0, lines.length - 3); i < lines.length; i++) shown.add(i);
  const out: string[] = [];
  let prev = -1;
  for (const i of [...shown].sort((a, b) => a - b)) {
    if (prev >= 0 && i > prev + 1) out.push(`[… ${i - prev - 1} lines …]`);
    out.push(lines[i]!);
    prev = i;
  }
  return { kinds, headline: lines[firstAt.get(grave)!]!.trim(), lines: out.length > maxLines ? [...out.slice(0, maxLines - 1), `[… ${out.length - maxLines + 1} more lines …]`] : out };
}

/** What the console says, in one clause: the gravest trouble and its first line. */
export function guestSays(ev: ConsoleEvidence): string {
  if (!ev.kinds.length) return 'the guest console shows no panic, oops, lockup or stall';
  const others = ev.kinds.filter((k) => k !== 'panic');
  if (ev.kinds.includes('panic')) return `the guest kernel panicked: "${ev.headline}"${others.length ? ` (its console also shows: ${others.join(', ')})` : ''}`;
  return `the guest kernel reported ${ev.kinds.join(', ')}: "${ev.headline}"`;
}

/** qemu's exit, in one clause (null: it has not exited). */
export function qemuStatus(r: RawRun | null, waitedMs: number): string {
  if (!r) return `qemu has not exited ${waitedMs / 1000} s after the guest hung up`;
  if (r.signal) return `qemu was killed by ${r.signal}`;
  // panic=-1 turns a panic into a reboot and -no-reboot a reboot into qemu's exit, with status 0
  // (qemu 7.2), as a power-off does: the console tells the two apart.
  if (r.exitCode === 0) return 'qemu exited with status 0 (the guest powered off or rebooted)';
  const err = stderrExcerpt(r.stderr);
  return `qemu exited with status ${r.exitCode ?? '?'}${err ? `: ${err}` : ''}`;
}
