/**
 * bpf/nf_hooks.bt cut into the parts a listing needs. Pure: program text in,
 * program text out; each cut checks its anchors and fails loudly when the
 * template changed shape.
 *
 * The netdev walk (devices' ingress and egress hooks) and the walk of the 18
 * family hook slots are independent, and each is about half of what bpftrace
 * compiles and the verifier checks (6.18: 172k and 144k instructions). As two
 * programs they compile side by side on two CPUs: `hooks --family all` took
 * 0.14 s less (issue 14).
 */
export class TemplateError extends Error {}

const NETDEV_START = '  if (($mask & 16) != 0) {\n';
const SLOTS_START = '  $s = (uint64)0;\n  while ($s < 18) {\n';

function netdevBlock(p: string): [number, number] {
  const start = p.indexOf(NETDEV_START);
  const end = p.indexOf('\n  }\n', start);
  if (start < 0 || end < 0 || p.indexOf(NETDEV_START, start + 1) >= 0) throw new TemplateError('nf_hooks.bt: the netdev walk is not where expected');
  return [start, end + 5];
}

/** The program without its netdev walk. */
export function withoutNetdev(p: string): string {
  const [start, end] = netdevBlock(p);
  return p.slice(0, start) + p.slice(end);
}

/** The program with only its netdev walk (and the N record before it). */
export function netdevOnly(p: string): string {
  const [start] = netdevBlock(p);
  const slots = p.indexOf(SLOTS_START);
  if (slots < 0 || slots > start || p.indexOf(SLOTS_START, slots + 1) >= 0) throw new TemplateError('nf_hooks.bt: the hook slot walk is not where expected');
  return p.slice(0, slots) + p.slice(start);
}

/**
 * The programs that list the families of `mask` (nf_hooks.bt's $1), each with its own mask: one,
 * or the slot walk and the netdev walk apart when the mask asks for both.
 */
export function listingPrograms(p: string, mask: number): { text: string; mask: number }[] {
  if ((mask & 16) === 0) return [{ text: withoutNetdev(p), mask }];
  if ((mask & 15) === 0) return [{ text: netdevOnly(p), mask }];
  return [{ text: withoutNetdev(p), mask: mask & 15 }, { text: netdevOnly(p), mask: 16 }];
}
