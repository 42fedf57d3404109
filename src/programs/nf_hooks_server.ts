/**
 * bpf/nf_hooks.bt as a listing server: one bpftrace start serves every hook
 * listing of a run. Under qemu TCG one start of nf_hooks.bt costs 11-22 s
 * (LLVM codegen of its loops; a bare `BEGIN { exit(); }` is 1.4 s), and the
 * lab listed hooks six times (issue 14: 110 of its 216 s).
 *
 * The same walk runs in a syscall tracepoint instead of BEGIN: a request is a
 * process inside the netns to list that renames itself "nfshk<10 digits>"
 * (prctl PR_SET_NAME) and then calls prctl again (payload/hooks-request.py);
 * the walk reads curtask's netns, as BEGIN does for bpftrace's own, and the
 * answer is framed by "B <name>" and "Z <name>". Only root's requests are
 * served (uid == 0). The request travels in the task's name, not in the
 * tracepoint's arguments: reading `args` makes bpftrace 0.17 build the
 * tracepoint's struct through clang, 7 of the 15 s this program took to
 * compile under qemu TCG (6.1; 8 s without). The families are fixed per
 * server (the session knows which it will ask for).
 *
 * Callbacks are printed as addresses, not ksym(): bpftrace resolves kernel
 * symbols through bcc's KSyms, which reads /proc/kallsyms once per process
 * (bcc src/cc/bcc_syms.cc, KSyms::refresh loads only when empty). A module
 * loaded or reloaded after the first listing (the lab reloads nf_conntrack)
 * would be named after whatever symbol preceded its new address. nfscope
 * names the addresses from /proc/kallsyms read after each listing
 * (parsers/hook-addresses.ts). Pure: template text in, program text out.
 * The hook listing server program has no .bt of its own: it is nf_hooks.bt rewritten.
 */

import type { ChainSymbols } from '../model/hooks.js';
import { fillNfHooks, TemplateError, withoutNetdev } from './nf_hooks.js';
import type { BpfProgram } from './program.js';
import type { StructLayout } from '../parsers/struct-layout.js';

/**
 * What a request names itself: this prefix, the server's token (5 digits), then 5 digits of its
 * own (a task name holds 15 characters). A server answers its own token only: every run's server
 * used to walk for every root task named nfshk*, and two walks at once on two CPUs interleave
 * their lines (bpftrace reads one buffer per CPU), so another run's request could put its hooks
 * inside this run's answer.
 */
export const REQUEST_PREFIX = 'nfshk';

/** A server's token: 5 digits nfscope draws (never user input), written into the program. */
export const TOKEN_DIGITS = 5;

export { TemplateError };

/** Each edit must apply exactly once: a changed template fails loudly here (and in the unit test). */
function edit(text: string, from: string | RegExp, to: string, what: string): string {
  const n = typeof from === 'string' ? text.split(from).length - 1 : (text.match(new RegExp(from.source, `${from.flags.replace('g', '')}g`)) ?? []).length;
  if (n !== 1) throw new TemplateError(`nf_hooks.bt: expected one ${what}, found ${n}`);
  return text.replace(from, to);
}

/** Family bits of nf_hooks.bt (1 ipv4, 2 ipv6, 4 arp, 8 bridge, 16 netdev). */
export const ALL_FAMILIES = 31;

/**
 * nf_hooks.bt (chain names filled or not) → the server program. Positional
 * parameters: none. `serves` is the mask of families it lists: the code for
 * the others is left out, which shortens the compile (the lab needs ipv4
 * only; the netdev walk is a third of the program), and a request for them
 * is refused by the caller (backends/hook-server.ts), never answered with an
 * empty listing.
 */
export function hookServerProgram(filled: string, serves: number, token: string): string {
  if (!new RegExp(`^\\d{${TOKEN_DIGITS}}$`).test(token)) throw new TemplateError(`listing server token: ${TOKEN_DIGITS} digits, not ${JSON.stringify(token)}`);
  const prefix = `${REQUEST_PREFIX}${token}`;
  let p = (serves & 16) === 0 ? withoutNetdev(filled) : filled;
  // Slots 0-4 ipv4, 5-9 ipv6, 10-12 arp, 13-17 bridge: the loop stops after the last family served.
  const slots = (serves & 8) ? 18 : (serves & 4) ? 13 : (serves & 2) ? 10 : 5;
  p = edit(p, 'while ($s < 18) {', `while ($s < ${slots}) {`, 'slot loop');
  p = edit(p, /^BEGIN \{\n  \$mask = \(uint64\)\$1;\n/m,
    'BEGIN {\n  printf("READY\\n");\n}\n\n' +
    `tracepoint:syscalls:sys_enter_prctl /uid == 0 && strncmp(comm, "${prefix}", ${prefix.length}) == 0/ {\n` +
    `  $mask = (uint64)${serves};\n  printf("B %s\\n", comm);\n`,
    'BEGIN probe reading the mask from $1');
  // The walk ends with exit(): here it ends the answer, and the server waits for the next request.
  p = edit(p, /\n  printf\("Z\\n"\);\n  exit\(\);\n\}\s*$/, '\n  printf("Z %s\\n", comm);\n}\n', 'final Z record and exit()');
  p = edit(p, 'printf("E %d %s\\n", ((struct nf_hook_ops *)*(uint64 *)($o + $i * 8))->priority, ksym($fn));',
    'printf("E %d 0x%lx\\n", ((struct nf_hook_ops *)*(uint64 *)($o + $i * 8))->priority, $fn);', 'E record');
  if (serves & 16) {
    p = edit(p, 'printf("D %d %lu %d %s %s\\n",', 'printf("D %d %lu %d 0x%lx %s\\n",', 'D record format');
    p = edit(p, 'ksym(*(uint64 *)($e + 8 + $i * 16)), $dev->name);', '*(uint64 *)($e + 8 + $i * 16), $dev->name);', 'D record callback');
  }
  if (p.includes('printf("n %lu %d %s\\n"')) {
    p = edit(p, 'printf("n %lu %d %s\\n", $w, ((struct nf_hook_ops *)*(uint64 *)($ne + 8 + $nc * 16 + $y * 8))->priority, ksym($nfn));',
      'printf("n %lu %d 0x%lx\\n", $w, ((struct nf_hook_ops *)*(uint64 *)($ne + 8 + $nc * 16 + $y * 8))->priority, $nfn);', 'n record');
  }
  if (/ksym\(/.test(p)) throw new TemplateError('nf_hooks.bt: a ksym() is left in the server program');
  return p;
}

/**
 * The server program from the template: chain names filled where the kernel gave their
 * addresses (null: none), then rewritten (hookServerProgram). Not yet adapted to the kernel's
 * shape (the session does that last, as for every program); no positional parameter.
 */
export function nfHooksServerProgram(template: string, v: { symbols: ChainSymbols | null; layouts?: readonly StructLayout[]; serves: number; token: string }): BpfProgram {
  return { text: hookServerProgram(v.symbols ? fillNfHooks(template, v.symbols, v.layouts) : template, v.serves, v.token), params: [] };
}
