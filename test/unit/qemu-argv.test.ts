import { describe, expect, it } from 'vitest';
import { qemuArgv, tcgPatchingSafe } from '../../src/vm/qemu-argv.js';
import { parseVersion } from '../../src/parsers/versions.js';

const base = { qemu: 'q', vmlinuz: 'k', initramfs: 'i', kernelVersion: 'v', packageRoot: '/p', consoleLog: '/c', agentSocket: '/s', memoryMb: 256, cpus: 2 };

describe('qemu argv: how the vCPUs run', () => {
  it('TCG takes one host thread for every vCPU unless the run needs them at the same moment', () => {
    const at = (argv: string[]) => argv[argv.indexOf('-accel') + 1];
    expect(at(qemuArgv({ ...base, accel: 'tcg', concurrentCpus: false }))).toBe('tcg,thread=single');
    expect(at(qemuArgv({ ...base, accel: 'tcg', concurrentCpus: true }))).toBe('tcg,thread=multi');
    expect(at(qemuArgv({ ...base, accel: 'kvm', concurrentCpus: false }))).toBe('kvm');
  });
  it('a qemu that is not the system\'s finds its own firmware first (-L, right after the binary)', () => {
    expect(qemuArgv({ ...base, accel: 'tcg', concurrentCpus: true, datadir: '/c/qemu/v/root/usr/share/qemu' }).slice(0, 3)).toEqual([base.qemu, '-L', '/c/qemu/v/root/usr/share/qemu']);
    expect(qemuArgv({ ...base, accel: 'tcg', concurrentCpus: true })).not.toContain('-L');
  });
  it('multi-threaded TCG is safe from qemu 9.1 and 8.2.6 on (the version text as this machine\'s qemu prints it)', () => {
    // `qemu-system-x86_64 --version`, Debian 12 (the package 1:7.2+dfsg-7+deb12u18+b3).
    const debian12 = 'QEMU emulator version 7.2.22 (Debian 1:7.2+dfsg-7+deb12u18+b3)\nCopyright (c) 2003-2022 Fabrice Bellard and the QEMU Project developers\n';
    expect(parseVersion(debian12)).toBe('7.2.22');
    expect(tcgPatchingSafe(parseVersion(debian12)!)).toBe(false);
    expect(tcgPatchingSafe('8.1.0')).toBe(false);
    expect(tcgPatchingSafe('8.2.5')).toBe(false);
    expect(tcgPatchingSafe('8.2.6')).toBe(true);
    expect(tcgPatchingSafe('9.0.1')).toBe(false);
    expect(tcgPatchingSafe('9.1.0')).toBe(true);
    expect(tcgPatchingSafe('10.0.2')).toBe(true);
  });
});
