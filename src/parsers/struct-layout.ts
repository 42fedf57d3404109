/**
 * Parses payload/drgn/ct_types.py's output: one JSON object a line, a struct's
 * size and the offset, size and type of the members asked for. Pure.
 */
export interface MemberLayout {
  /** The member designator as asked: status, tuplehash[0].tuple.dst.u.all, ct_net.net. */
  name: string;
  offset: number;
  size: number;
  /** The C type: an integer type, or a pointer (`struct net *`). */
  type: string;
  /** An integer's sign, where the source says it (BTF's encoding); else read from `type`'s name. */
  signed?: boolean;
  /** A bitfield: `width` bits from bit `shift` of the `size`-byte little-endian word at `offset`. */
  bits?: { shift: number; width: number };
}

export interface StructLayout {
  struct: string;
  size: number;
  members: MemberLayout[];
  /** The debug info file it was read from. */
  source: string;
}

export function parseStructLayouts(text: string): { layouts: StructLayout[]; errors: string[] } {
  const layouts: StructLayout[] = [];
  const errors: string[] = [];
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      errors.push(`not JSON: ${line.slice(0, 120)}`);
      continue;
    }
    const r = o as Partial<StructLayout> & { error?: unknown };
    if (typeof r.error === 'string') {
      errors.push(r.error);
      continue;
    }
    const okMember = (m: Partial<MemberLayout>) =>
      typeof m.name === 'string' && Number.isInteger(m.offset) && m.offset! >= 0 && [1, 2, 4, 8].includes(m.size!) && typeof m.type === 'string';
    if (typeof r.struct !== 'string' || !Number.isInteger(r.size) || !Array.isArray(r.members) || !r.members.every(okMember) || typeof r.source !== 'string') {
      errors.push(`unexpected record: ${line.slice(0, 120)}`);
      continue;
    }
    layouts.push({ struct: r.struct, size: r.size!, members: r.members, source: r.source });
  }
  return { layouts, errors };
}
