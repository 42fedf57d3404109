/**
 * The text of one of a scenario's nft tables (`nft -f -` input), from its chains: one shape for
 * every scenario's ruleset, so a scenario writes only its rules. Pure; the values in it are
 * nfscope's own (table names with the run's id, validated ports, the sandbox's addresses).
 */
export interface NftChain {
  name: string;
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'output';
  priority: number;
  rules: string[];
}

export function nftTableText(table: string, chains: NftChain[]): string {
  return [
    `table ip ${table} {`,
    ...chains.flatMap((c) => [
      `  chain ${c.name} {`,
      `    type ${c.type} hook ${c.hook} priority ${c.priority}; policy accept;`,
      ...c.rules.map((r) => `    ${r}`),
      '  }',
    ]),
    '}',
  ].join('\n') + '\n';
}

/** The DNAT chain the NAT scenarios share: `match` to `server:newPort`, counted by the comment "dnat". */
export function dnatChain(match: string, server: string, newPort: number): NftChain {
  return { name: 'nat', type: 'nat', hook: 'prerouting', priority: -100, rules: [`${match} counter dnat to ${server}:${newPort} comment "dnat"`] };
}
