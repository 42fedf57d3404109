import { ToolMissingError } from './errors.js';
import type { Host } from './target.js';

/** What the lookup needs of a target: its PATH search. */
type Target = Pick<Host, 'which'>;

/** Which distribution package provides each program nfscope drives. */
export const PACKAGES = {
  bpftrace: { debian: 'bpftrace', fedora: 'bpftrace' },
  'trace-cmd': { debian: 'trace-cmd', fedora: 'trace-cmd' },
  conntrack: { debian: 'conntrack', fedora: 'conntrack-tools' },
  nft: { debian: 'nftables', fedora: 'nftables' },
  iptables: { debian: 'iptables', fedora: 'iptables-nft' },
  ip6tables: { debian: 'iptables', fedora: 'iptables-nft' },
  'iptables-legacy': { debian: 'iptables', fedora: 'iptables-legacy' },
  'iptables-nft': { debian: 'iptables', fedora: 'iptables-nft' },
  ip: { debian: 'iproute2', fedora: 'iproute' },
  nsenter: { debian: 'util-linux', fedora: 'util-linux' },
  drgn: { debian: 'python3-drgn', fedora: 'drgn' },
  sleep: { debian: 'coreutils', fedora: 'coreutils' },
  python3: { debian: 'python3', fedora: 'python3' },
  docker: { debian: 'docker.io', fedora: 'moby-engine' },
  podman: { debian: 'podman', fedora: 'podman' },
  // Kubernetes' own package (pkgs.k8s.io on Debian; Fedora ships it).
  crictl: { debian: 'cri-tools', fedora: 'cri-tools' },
  'qemu-system-x86_64': { debian: 'qemu-system-x86', fedora: 'qemu-system-x86-core' },
} as const;

export type Program = keyof typeof PACKAGES;

/** Absolute path of a program on the target, or a ToolMissingError naming the package. */
export async function requireTool(target: Target, program: Program): Promise<string> {
  const p = await target.which(program);
  if (!p) throw new ToolMissingError(program, PACKAGES[program]);
  return p;
}
