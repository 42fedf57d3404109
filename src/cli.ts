import { Command, Option } from 'commander';
import { createRequire } from 'node:module';

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

  const target = () => new Option('--target <target>', 'where to run: local (more with issue 4)').default('local');

  program
    .command('doctor')
    .description('what the target kernel and tools can do, and what nfscope will use')
    .addOption(target())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/doctor.js')).runDoctor(o));

  program
    .command('hooks')
    .description('every netfilter callback per family and hook, in invocation order')
    .option('--netns <name>', 'a named network namespace (ip netns list)')
    .option('--all-netns', 'the current namespace and every named one')
    .option('--family <family>', 'ipv4|ipv6|arp|bridge|netdev|all', 'all')
    .option('--backend <backend>', 'auto|bpftrace|drgn|nft', 'auto')
    .addOption(target())
    .option('--json', 'machine-readable output')
    .action(async (o) => (await import('./commands/hooks.js')).runHooks(o));

  return program;
}
