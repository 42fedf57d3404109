/** What `nfscope parse KIND` reads: one list for the CLI's help and the command's validation. */
export const PARSE_KINDS = ['function-graph', 'kstack', 'bpftrace-json', 'conntrack', 'nft-hooks', 'hooks', 'trace-prerouting'] as const;
