import { expect } from 'vitest';
import { nfscope } from './sys.js';
import { expectSchema } from './schema.js';
import { btfHasName, kernelHasSymbol } from './kernel-facts.js';

/** Whether the bpftrace backend can name nf_tables chains here (struct nft_chain in BTF), from the kernel. */
export const chainsNamed = btfHasName('nft_chain') && kernelHasSymbol('nft_do_chain');

type Entry = { priority: number; chain?: unknown };
export type HooksJson = { netns: string; hooks: { hook: string; entries: Entry[] }[] };

/** `nfscope hooks --netns NS --family ipv4 --json`: exit 0, the schema, and the namespace as given. */
export async function ipv4HooksOf(netns: string): Promise<HooksJson> {
  const r = await nfscope(['hooks', '--netns', netns, '--family', 'ipv4', '--json']);
  expect(r.exitCode, r.stderr).toBe(0);
  const rep = JSON.parse(r.stdout) as HooksJson;
  expectSchema('hooks', rep);
  expect(rep.netns).toBe(netns);
  return rep;
}

/** A hook's entries, and [priority, chain] of those that name an nf_tables chain. */
export function entriesAt(rep: HooksJson, hook: string): { all: Entry[]; chains: [number, unknown][] } {
  const all = rep.hooks.find((h) => h.hook === hook)?.entries ?? [];
  return { all, chains: all.filter((e) => e.chain).map((e) => [e.priority, e.chain]) };
}
