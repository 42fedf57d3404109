/**
 * bpf/follow_cb.bt: follow's callbacks and their verdicts (kprobes on every callback of the
 * netns's hook listing). Pure. Parameters: $1 the netns's inode, $2-$9 the filter
 * (programs/follow-filter.ts), $10 nf_hook_slow's length (SPAN: a callback counts only when
 * nf_hook_slow itself called it).
 */
import type { FollowFilter } from '../model/follow.js';
import { fillCallbackProbes } from './callback-probes.js';
import { followFilterParams } from './follow-filter.js';
import type { BpfProgram } from './program.js';

/**
 * follow_cb.bt's QUEUE_PROBE block: kprobe:nf_queue where the kernel lets it be probed, else
 * gone, and a hook that returned 0 is then left without a verdict (STOLEN and QUEUE look alike).
 */
export function fillQueueProbe(text: string, queueProbed: boolean): string {
  if (queueProbed) return text.replace(/^QUEUE_PROBE$/m, 'kprobe:nf_queue');
  return text.replace(/^QUEUE_PROBE\n\{[\s\S]*?\n\}\n/m, '').replace(/^.*\/\* queue \*\/\n/gm, '').replace(/^( *)\$stop = 2;$/m, '$1$stop = 255;');
}

export function followCbProgram(
  template: string,
  v: { callbacks: string[]; queue: boolean; inode: string; filter: FollowFilter; ifindex: number; span: number },
): BpfProgram {
  return {
    text: fillQueueProbe(fillCallbackProbes(template, v.callbacks), v.queue),
    params: [v.inode, ...followFilterParams(v.filter, v.ifindex), String(v.span)],
  };
}


/**
 * follow_cb.bt as filled, with paths kept in the kernel (follow's default; --every-packet runs the
 * template as it is): each hook pass gets a signature, chained to the pass before it of the same
 * skb (@last, keyed by the skb's address: under GRO a list of packets passes PRE_ROUTING one after
 * another before any reaches LOCAL_IN, so a thread's last pass is not its packet's). PRE_ROUTING
 * and LOCAL_OUT begin a packet (one that does not match the filter there takes the skb's @last
 * entry away: a later hook of it that matches, after NAT, has no parent known, 1); LOCAL_IN,
 * POST_ROUTING and any verdict but ACCEPT end it, and its @last entry goes with it. The H record is
 * printed the first time a signature is seen and whenever the hook ended in anything but ACCEPT
 * (drop, steal, queue: never counted away), followed by an S record: the skb, the signature, the
 * parent's and when the parent's hook and this one began (the pair is told by skb and time, and a
 * pass continues the packet printed before only if that packet's last pass is the parent, by time).
 * Every other pass is counted by signature (@pn, printed in END, then an END record). A signature
 * holds the hook, the verdict, the callbacks that ran and which rewrote, conntrack's view, the hook's
 * entries (a rule added changes them), the addresses, and of each port pair the lower one (the
 * service's, against a client's ephemeral port), before and after a rewrite: the packets one
 * signature counts differ at most in the higher port. Pure: a text edit of the template, which fails
 * loudly if the template changed shape.
 */
export function pathsKeptInKernel(text: string): string {
  const start = text.indexOf('      printf("H ');
  const end = text.indexOf(');\n', start);
  if (start < 0 || end < 0 || text.indexOf('      printf("H ', start + 1) >= 0) throw new Error('follow_cb.bt: its one H printf is not where expected');
  // bpftrace 0.17 types a map where it is first written: these two are read before their writes.
  const begin = 'BEGIN\n{\n  printf("READY\\n");\n';
  if (!text.includes(begin)) throw new Error('follow_cb.bt: its BEGIN is not where expected');
  if (!/^END\n\{\n/m.test(text)) throw new Error('follow_cb.bt: its END is not where expected');
  // When the hook began: the H printf's first argument (after its format).
  const nsecs = /^\s*([^,\n]+),/.exec(text.slice(text.indexOf('\\n",', start) + 4, end))?.[1]?.trim();
  if (!nsecs) throw new Error('follow_cb.bt: its H printf\'s first argument (when the hook began) is not where expected');
  // The entry probe's filter: a packet that does not match at a hook that begins one takes @last away.
  const okAt = text.indexOf('    if ($ok) {\n');
  if (okAt < 0 || text.indexOf('    if ($ok) {\n', okAt + 1) >= 0) throw new Error('follow_cb.bt: its one `if ($ok)` is not where expected');
  const unmatched = '    if (!$ok && ($st->hook == 0 || $st->hook == 3)) { delete(@last[arg0]); }\n';
  // The signature in a record of its own: more arguments to the H printf passed the BPF stack limit
  // (bpftrace 0.17's LLVM: "the BPF stack limit of 512 bytes is exceeded").
  const printf = text.slice(start, end + 3) + `      printf("S %lx %lx %lx %lu %lu\\n", $skbp, $g, $par, $pns, ${nsecs});\n`;
  const mix = (v: string) => `      $g = ($g ^ (uint64)(${v})) * 0x100000001b3;\n`;
  const sig = '      /* The pass\'s signature, chained to the one before it of this skb (1: a hook that does not begin a packet, none known). */\n' +
    '      $par = (uint64)0; $pns = (uint64)0;\n' +
    '      if (($h & 0xff) != 0 && ($h & 0xff) != 3) { $lt = @last[$skbp]; $par = $lt.0; $pns = $lt.1; if ($par == 0) { $par = 1; } }\n' +
    '      $pd = ($h >> 32) & 0xffff; $psp = ($h >> 48) & 0xffff;\n' +
    '      $svc = $pd; if ($psp < $pd) { $svc = $psp; }\n' +
    '      $xd = $xp & 0xffff; $xs = ($xp >> 16) & 0xffff;\n' +
    '      $xsvc = $xd; if ($xs < $xd) { $xsvc = $xs; }\n' +
    '      $g = $par ^ 0xcbf29ce484222325;\n' +
    ['$h & 0xffffffff', '$r', '$q & 0xff', '$stop', '$c', '$ct', '$e', '$a0', '$a1', '$a2', '$a3', '$svc', '$x0', '$x1', '$x2', '$x3', '$xsvc'].map(mix).join('') +
    '      /* 0 and 1 are no signature\'s: they say "none" and "not known" as a parent. */\n' +
    '      if ($g < 2) { $g = $g + 2; }\n' +
    '      /* LOCAL_IN and POST_ROUTING end a packet\'s path, as any verdict but ACCEPT does. */\n' +
    `      if (($h & 0xff) == 1 || ($h & 0xff) == 4 || $r != 1) { delete(@last[$skbp]); } else { @last[$skbp] = ($g, ${nsecs}); }\n` +
    '      if (@ps[$g] == 0 || $r != 1) {\n        @ps[$g] = 1;\n  ' + printf.replace(/\n/g, '\n  ').replace(/ {2}$/, '') + '      } else {\n        @pn[$g] = count();\n      }\n';
  const head = text.slice(0, okAt).replace(begin, `${begin}  @last[(uint64)0] = ((uint64)0, (uint64)0);\n  @ps[(uint64)0] = (uint64)0;\n`) + unmatched + text.slice(okAt, start);
  // The counts, then a record that says they were all printed: without END follow knows they are
  // missing (bpftrace killed before its exit), not that they are 0 (an empty map prints nothing).
  return head + sig + text.slice(end + 3).replace(/^END\n\{\n/m, 'END\n{\n  clear(@last);\n  clear(@ps);\n  print(@pn);\n  clear(@pn);\n  printf("END\\n");\n');
}
