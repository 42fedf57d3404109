import { execa } from 'execa';

/** Kernels the VM suite boots: Debian's 6.1 (ipv4_confirm era) and 6.12 (nf_confirm era). */
export const VM_KERNELS = [
  { pkg: 'linux-image-amd64', era: '6.1', confirm: 'ipv4_confirm', confirm6: 'ipv6_confirm' },
  { pkg: 'linux-image-6.12-amd64', era: '6.12', confirm: 'nf_confirm', confirm6: 'nf_confirm' },
] as const;

/** qemu processes on the host: the suite must leave none. */
export async function qemuProcesses(): Promise<string[]> {
  const r = await execa('pgrep', ['-a', '-f', 'qemu-system'], { reject: false });
  return r.stdout.split('\n').filter((l) => l.trim() && !l.includes('pgrep'));
}
