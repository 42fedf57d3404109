import { Command, Option } from 'commander';
import { createRequire } from 'node:module';
import { DEFAULT_KERNEL } from './lib/kernel-spec.js';
import { PARSE_KINDS } from './model/parse-kinds.js';

/**
 * The command registry. Each action lazy-imports its module, so `nfscope
 * --version` loads commander and nothing else.
 */
export function buildCli(): Command {
  const pkg = createRequire(import.meta.url)('../package.json') as { version: string };
  const program = new Command('nfscope')
    .description('See what netfilter and conntrack really do to a packet, on a real kernel.')
    .version(pkg.version)
    .showHelpAfterError()
    .exitOverride();
  // Shared options are checked before any action: exit 2, nothing touched.
  program.hook('preAction', async (_root, action) => {
    const { checkCommonOptions } = await import('./commands/common-options.js');
    checkCommonOptions(action.opts());
  });

  const target = (def = 'local') => new Option('--target <target>',
    'where to run: local | qemu (micro-VM) | vagrant | ssh://[user@]host[:port] | auto (here if this kernel can show every step, else the micro-VM) | replay:FILE (a run recorded with NFSCOPE_RECORD=FILE)').default(def);
  const kernel = () => new Option('--kernel <kernel>', 'kernel for --target qemu: 5.10, 6.1, 6.12, latest, SUITE/PACKAGE or a linux-image-… package').default(DEFAULT_KERNEL);

  program
    .command('doctor')
    .description('what the target kernel and tools can do, and what nfscope will use')
    .addOption(target())
    .addOption(kernel())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/doctor.js')).runDoctor(o));

  program
    .command('hooks')
    .description('every netfilter callback per family and hook, in invocation order')
    .option('--netns <ns>', 'a network namespace: a name (ip netns list), pid:N, a namespace file (/proc/PID/ns/net, a bind mount), podman:NAME, docker:NAME or cri:ID')
    .option('--all-netns', 'the current namespace and every named one')
    .option('--family <family>', 'ipv4|ipv6|arp|bridge|netdev|all', 'all')
    .option('--backend <backend>', 'auto|bpftrace|drgn|nft', 'auto')
    .option('--lint', 'judge the hook table against the rules (nft, iptables-legacy): findings, exit 1 on a warning')
    .option('--diff <listings...>', 'compare two listings A B, each a saved `hooks --json` file or netns:NAME listed live, or one file against this run\'s: exit 1 when they differ')
    .addOption(new Option('--target <target>', 'where to run (default local): local | qemu (micro-VM) | qemu:KERNEL | vagrant | ssh://[user@]host[:port] | auto (here if this kernel can show every step, else the micro-VM) | replay:FILE; '
      + 'repeat it (or --targets-file) for a fleet: each listed and linted, one table, each against the first that answered (exit 1 when any fails, warns or differs)')
      .argParser((v: string, prev: string[] | undefined) => [...(prev ?? []), v]))
    .option('--targets-file <file>', 'the fleet\'s targets, one a line (# comments)')
    .option('--parallel <n>', 'fleet: targets open at once (1-64; default 4)')
    .option('--deadline <s>', 'fleet: seconds each target may take to open and answer (1-3600; default 180)')
    .option('--baseline <file>', 'fleet: a saved `hooks --json` listing to compare each target with (default: the first target that answered)')
    .addOption(kernel())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/hooks.js')).runHooks(o));

  program
    .command('follow')
    .description('every netfilter decision real packets meet, passively: drops, nf_tables rule verdicts, conntrack events')
    .option('--port <port>', 'source or destination port (1-65535)')
    .option('--proto <proto>', 'tcp|udp|icmp')
    .option('--host <addr>', 'source or destination address, IPv4 or IPv6 (filtered in the kernel)')
    .option('--netns <ns>', 'a network namespace: a name (ip netns list), pid:N, a namespace file, podman:NAME, docker:NAME or cri:ID (default: the current one)')
    .option('--iface <name>', 'only packets in or out of this interface (nf_tables trace)')
    .option('--count <n>', 'stop after N packets printed (1-1000000)')
    .option('--duration <s>', 'stop after S seconds (1-86400; default 60 without --count)')
    .option('--nftrace', 'add a table of nfscope\'s own with a `meta nftrace set 1` rule to see rule verdicts (removed at the end; every packet is printed then)')
    .option('--every-packet', 'print every packet; by default a path is printed the first time it is taken and whenever a hook ends in anything but ACCEPT, and its repeats are counted in the kernel')
    .option('--ct-events', 'conntrack -E also while paths are kept in the kernel (off by default then: a message per state change of every connection)')
    .option('--ready-file <path>', 'written once every probe is attached')
    .option('--color <when>', 'auto|always|never', 'auto')
    .addOption(target())
    .addOption(kernel())
    .option('--json', 'NDJSON: one object per packet, then the summary')
    .option('--diff <runs...>', 'two saved `follow --json` runs compared path by path: where a kind of packet went another way (exit 1 when one did)')
    .action(async (o) => (await import('./commands/follow.js')).runFollow(o));

  program
    .command('trace-syn')
    .description('why a SYN dropped by the firewall leaves no conntrack entry, observed step by step')
    .option('--port <port>', 'TCP destination port to drop (1-65535)')
    .option('--family <family>', 'ipv4|ipv6', 'ipv4')
    .option('--count <n>', 'SYNs to send (1-1000)', '1')
    .option('--firewall <fw>', 'iptables|nft', 'iptables')
    .option('--after-confirm', 'drop in an nft chain at priority 2147483647 registered before conntrack (observation 4)')
    .option('--in-place', "the target's own namespace and firewall are the server (classroom VM); every rule is undone after")
    .option('--netns <ns>', 'with --in-place: this namespace is the server: a name from ip netns list, pid:N, a namespace file, docker:NAME, podman:NAME or cri:ID')
    .addOption(target())
    .addOption(kernel())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/trace-syn.js')).runTraceSyn(o));

  program
    .command('graph')
    .description('the function_graph call tree of conntrack for one dropped SYN, and the drop\'s kernel stacks')
    .option('--port <port>', 'TCP destination port to drop (1-65535)')
    .option('--family <family>', 'ipv4|ipv6', 'ipv4')
    .option('--firewall <fw>', 'iptables|nft', 'iptables')
    .option('--root <functions>', 'comma-separated functions to root the trees at (default: the PRE_ROUTING conntrack callbacks and the skb free path)')
    .option('--max-depth <depth>', 'cut the rendered trees below this depth (0-64)')
    .addOption(target())
    .addOption(kernel())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/graph.js')).runGraph(o));

  program
    .command('lifetimes')
    .description('the life of conntrack entries: allocated, confirmed, freed unconfirmed, alive; lifetimes and causes of death')
    .option('--port <port>', 'entries whose original destination port is this (1-65535)')
    .option('--all', 'every entry')
    .option('--duration <seconds>', 'how long to trace (1-3600)', '10')
    .option('--netns <ns>', 'only entries of this network namespace: a name (ip netns list), pid:N, a namespace file, podman:NAME, docker:NAME or cri:ID')
    .addOption(target())
    .addOption(kernel())
    .option('--json', 'machine-readable output (histograms as buckets)')
    .action(async (o) => (await import('./commands/lifetimes.js')).runLifetimes(o));

  program
    .command('lab')
    .description('the classroom walkthrough: the four observations of the experiment, each claim confirmed, refuted or not observable, with evidence')
    .option('--scenario <name>', 'which experiment: syn-drop (the article\'s, the default), early-chain, equal-priority, notrack, mixed-backends, stale-udp, invalid-rst, or all (every one but syn-drop, in one session); lab --list says what each shows')
    .option('--list', 'list the scenarios, one line each (with --json: their catalogue)')
    .option('--port <port>', 'the TCP port of the dropped SYN (of the scenario\'s traffic)', '2570')
    .option('--burst <n>', 'SYNs of the lifetimes step (1-100000)', '100')
    .option('--report <file>', 'also write the lesson as one self-contained FILE.md or FILE.html')
    .option('--explain', 'print the commands to run each step by hand')
    .addOption(target('auto'))
    .addOption(kernel())
    .option('--json', 'machine-readable output: {schemaVersion, kernel, target, claims: [{id, claim, status, evidence, reason?}]}')
    .action(async (o) => (await import('./commands/lab.js')).runLab(o));

  program
    .command('parse')
    .description(`offline analysis of saved output: ${PARSE_KINDS.join(' | ')}`)
    .argument('<kind>', PARSE_KINDS.join(' | '))
    .argument('[file]', 'the saved output, or - for stdin', '-')
    .option('--max-depth <depth>', 'cut rendered call trees below this depth (0-64)')
    .option('--json', 'machine-readable output')
    .action(async (kind: string, file: string, o) => (await import('./commands/parse.js')).runParse(kind, file, o));

  program
    .command('cleanup')
    .description('undo what killed nfscope runs left behind (netns, links, rules, tracer settings, tracers), from their journals')
    .option('--dry-run', 'show what would be undone, change nothing')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/cleanup.js')).runCleanup(o));

  const vm = program.command('vm').description('the qemu micro-VM: a real, full-featured kernel on demand');
  vm.command('run')
    .description('boot the VM, run one command in it, print its output, shut it down')
    .addOption(kernel())
    .option('--timeout <seconds>', 'the guest command is killed after this long, and vm run says so (exit 124)', '3600')
    .option('--concurrent-cpus', "the guest's two vCPUs run at the same moment, a host thread each (under TCG on qemu before 9.1 this races the guest's live code patching: README, The micro-VM)")
    .option('--json', 'print {bootMs, exitCode, stdout, stderr} as JSON')
    .argument('<argv...>', 'the command and its arguments (after --)')
    .action(async (argv: string[], o) => (await import('./commands/vm.js')).runVmRun(argv, o));
  vm.command('up')
    .description('boot the VM and leave it running: --target qemu then uses it without booting')
    .addOption(kernel())
    .option('--ttl <seconds>', 'the VM stops by itself after this long', '3600')
    .option('--concurrent-cpus', "the guest's two vCPUs run at the same moment, a host thread each (under TCG on qemu before 9.1 this races the guest's live code patching: README, The micro-VM)")
    .action(async (o) => (await import('./commands/vm.js')).runVmUp(o));
  vm.command('down')
    .description('shut down the VM left running by vm up')
    .action(async () => (await import('./commands/vm.js')).runVmDown());
  vm.command('debuginfo')
    .description("fetch and cache the kernel's debug info (the -dbg package) so drgn works in the VM")
    .addOption(kernel())
    .action(async (o) => (await import('./commands/vm.js')).runVmDebuginfo(o));
  vm.command('kernels')
    .description('the kernel aliases (5.10, 6.1, 6.12, latest): the Debian package each resolves to, and whether it is cached')
    .option('--refresh', "fetch the suites' package lists now (else when older than a day)")
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/vm.js')).runVmKernels(o));
  vm.command('status')
    .description('kernels in the cache, VMs running')
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/vm.js')).runVmStatus(o));

  return program;
}
