/**
 * Every bpftrace program nfscope runs, filled as nfscope fills it for the
 * target's kernel, compiled with `bpftrace --emit-elf` (a dry run: parse,
 * semantic checks, codegen; nothing is loaded or attached). The fills come
 * from the kernel under test: chain symbols from its kallsyms, ct_syn's
 * callbacks from a real hook listing of a sandbox with nfscope's rules.
 */
import type { Target } from '../../src/targets/target.js';
import { Session } from '../../src/experiments/session.js';
import { chainProbe } from '../../src/kernel/nft-chains.js';
import { callbackTracerPoints, chooseProbes } from '../../src/kernel/probe-points.js';
import { fillNfHooks, listingPrograms } from '../../src/programs/nf_hooks.js';
import { ALL_FAMILIES, hookServerProgram } from '../../src/programs/nf_hooks_server.js';
import { ctSynProgram } from '../../src/programs/ct_syn.js';
import { followCbProgram, pathsKeptInKernel } from '../../src/programs/follow_cb.js';
import { followDropProgram } from '../../src/programs/follow_drop.js';
import { ctLifeProgram } from '../../src/programs/ct_life.js';
import { readTemplate } from '../../src/programs/templates.js';
import { withEnv } from '../../src/programs/program.js';
import { needsKernelBtf } from '../../src/programs/btf-subset.js';

export interface Compiled {
  name: string;
  exitCode: number | null;
  error: string;
  /** Compiled as nfscope runs it: with BPFTRACE_BTF at the program's BTF subset (kernel/bpftrace-btf.ts). */
  subset: boolean;
  /**
   * With a subset: whether bpftrace, compiling once more on the kernel's own BTF, wrote the same ELF
   * byte for byte (`cmp`): the subset changes how fast it compiles, never what it compiles. null
   * where either compile failed.
   */
  sameElf: boolean | null;
  /** An fentry program: it gets no subset (kernel/bpftrace-btf.ts), by design. */
  fentry: boolean;
}

/**
 * `primaries: false` leaves out what the feature tests compile, load and run on the same kernels
 * (VM_KERNELS: follow.vm, qemu.vm's trace-syn and hooks, lifetimes.vm): follow_drop, follow_cb with
 * nf_queue, ct_syn, kfree_skb_syn, ct_life. What is left are the variants nfscope runs only when
 * something is missing (no chain symbols, no listing server, nf_queue not probe-able), which no
 * other test reaches there. Every compile is seconds under qemu TCG.
 */
export async function compileAll(target: Target, opts: { primaries: boolean } = { primaries: true }): Promise<Compiled[]> {
  const session = await Session.open(target, 'the compile check');
  const bpftrace = await session.tool('bpftrace');
  return session.run(async (r) => {
    const dir = (await target.exec(['mktemp', '-d', '/run/nfscope-compile.XXXXXX'])).stdout.trim();
    r.cleanup.push(`rm -r ${dir}`, async () => {
      await target.exec(['rm', '-r', '--', dir]);
    });
    const template = await readTemplate('nf_hooks');
    const programs: [string, string, string[]][] = [
      ['nf_hooks.bt', template, ['31']],
      ['nf_hooks.bt as the listing server (all families)', hookServerProgram(template, ALL_FAMILIES, '12345'), []],
      ['nf_hooks.bt as the listing server (ipv4)', hookServerProgram(template, 1, '12345'), []],
    ];
    if (opts.primaries) {
      programs.push(
        ['kfree_skb_syn.bt', await readTemplate('kfree_skb_syn'), ['2571', '1']],
      );
      // Both address filters: a parameter that is 0 leaves its branch out of the compiled program.
      for (const host of ['127.0.0.1', 'fd00:79::2']) {
        const drop = followDropProgram(await readTemplate('follow_drop'), { inode: '1', filter: { proto: 'tcp', port: 2571, host, netns: 'x', iface: null }, ifindex: 2 });
        programs.push([`follow_drop.bt --host ${host}`, await r.program(drop.text), drop.params]);
      }
    }
    const probe = await chainProbe(target);
    // As `nfscope hooks` runs it: the hook slots and the devices apart (programs/nf_hooks.ts).
    const filled = 'symbols' in probe ? fillNfHooks(template, probe.symbols) : template;
    for (const part of listingPrograms(filled, 31)) {
      programs.push([`nf_hooks.bt${filled === template ? '' : ' with chain names'}, mask ${part.params[0]}`, await r.program(part.text), part.params]);
    }
    if ('symbols' in probe) programs.push(['nf_hooks.bt with chain names, as the listing server', hookServerProgram(filled, ALL_FAMILIES, '12345'), []]);
    if (session.cap('kprobes').available) {
      // ct_syn's callbacks: the ones this kernel registered for nfscope's sandbox, as trace-syn picks them.
      const sb = await r.sandbox({ family: 'ipv4', port: 2571, firewall: 'iptables', afterConfirm: false });
      const hooks = await r.serverHooks(sb, 'ipv4', [], () => {});
      const probes = await chooseProbes(target, r.tracefs, hooks, 'ipv4');
      if ('failure' in probes) throw new Error(probes.failure);
      // Once in a whole suite run (6.12 under TCG, 2026-12-01) no callback came back here, and the
      // file passed alone right after: say what the listing and the tracefs grep gave, next time.
      if (!probes.callbacks.length) {
        const listed = hooks.filter((h) => h.family === 'ipv4').map((h) => `${h.hook}: ${h.entries.map((e) => e.callback).join(' ')}`);
        throw new Error(`no callback to probe: listing ${JSON.stringify(listed)}, not in available_filter_functions: ${probes.missing.join(' ')}`);
      }
      const syn = ctSynProgram(await readTemplate('ct_syn'), { callbacks: probes.callbacks, port: 2571, serverInode: sb.serverInode });
      if (opts.primaries) programs.push([`ct_syn.bt with ${probes.callbacks.join(', ')}`, syn.text, syn.params]);
      const cbTemplate = await readTemplate('follow_cb');
      const points = await callbackTracerPoints(target, r.tracefs);
      if ('failure' in points) throw new Error(points.failure);
      const { span } = points;
      if (span === null) throw new Error("nf_hook_slow's length is not in /proc/kallsyms: follow_cb.bt's SPAN is unknown");
      // With kprobe:nf_queue, as follow fills it where the kernel lets it be probed, and without.
      // The variant without nf_queue filters an IPv6 host, the other an IPv4 one: a filter parameter
      // of 0 leaves its branch out of the program, and follow.vm runs only an IPv4 --host.
      for (const queue of opts.primaries ? [true, false] : [false]) {
        const host = queue ? '127.0.0.1' : 'fd00:79::2';
        const cb = followCbProgram(cbTemplate, { callbacks: probes.callbacks, queue, inode: sb.serverInode, filter: { proto: 'tcp', port: 2571, host, netns: 'server', iface: null }, ifindex: 2, span });
        programs.push([`follow_cb.bt with ${probes.callbacks.join(', ')}${queue ? ' and nf_queue' : ''} --host ${host}`, await r.program(cb.text), cb.params]);
        // The same with paths kept in the kernel (issue 30's design, measured by follow-rate.mjs --paths).
        if (queue) programs.push([`follow_cb.bt with paths kept in the kernel --host ${host}`, await r.program(pathsKeptInKernel(cb.text)), cb.params]);
      }
      const life = ctLifeProgram(await readTemplate('ct_life'), { style: 'kprobe', port: 2571, netnsInode: null });
      if (opts.primaries) programs.push(['ct_life.bt (kprobes)', life.text, life.params]);
    }
    if (opts.primaries && session.cap('fentry').available) {
      const life = ctLifeProgram(await readTemplate('ct_life'), { style: 'fentry', port: 2571, netnsInode: null });
      programs.push(['ct_life.bt (fentry)', life.text, life.params]);
    }
    // Two at a time: a compile is one thread (LLVM). Both kernels' fallbacks: 200 s two at a time,
    // 299 s one at a time (2026-12-05). (Two follows at once gained nothing: 170 s together, 85 s each.)
    const out: Compiled[] = new Array(programs.length);
    let next = 0;
    const worker = async () => {
      for (let i = next++; i < programs.length; i = next++) {
        const [name, text, args] = programs[i]!;
        const env = await r.btfEnv(text);
        const res = await target.exec([...withEnv([bpftrace], env), '--emit-elf', `${dir}/${i}.elf`, '-e', text, ...args], { timeoutMs: 300_000 });
        const error = res.stderr.split('\n').filter((l) => /ERROR|error:/.test(l) && !/RLIMIT_MEMLOCK/.test(l)).join('\n');
        let sameElf: boolean | null = null;
        if (env.length && res.exitCode === 0) {
          const own = await target.exec([bpftrace, '--emit-elf', `${dir}/${i}.full.elf`, '-e', text, ...args], { timeoutMs: 300_000 });
          if (own.exitCode === 0) {
            const cmp = await target.exec(['cmp', '--', `${dir}/${i}.elf`, `${dir}/${i}.full.elf`]);
            // cmp: 0 the same, 1 they differ, anything else it could not tell (a failure, not "differ").
            if (cmp.exitCode !== 0 && cmp.exitCode !== 1) throw new Error(`cmp failed (${cmp.exitCode}): ${cmp.stderr}`);
            sameElf = cmp.exitCode === 0;
          }
        }
        out[i] = { name, exitCode: res.exitCode, error: res.timedOut ? `timed out after 300 s: ${error}` : error, subset: env.length > 0, sameElf, fentry: needsKernelBtf(text) };
      }
    };
    await Promise.all([worker(), worker()]);
    return out;
  });
}
