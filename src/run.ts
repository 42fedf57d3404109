/**
 * argv → exit code: parse, run, map errors to exit codes. Nothing else sets one.
 *   0 ok · 1 unexpected · 2 usage · 3 tool missing · 4 not root · 5 command
 *   failed · 6 parse error · 7 capability missing · 130/143 SIGINT/SIGTERM
 */
import { CommanderError } from 'commander';
import { buildCli } from './cli.js';

/** Commands that do not warn about a stale journal (cleanup handles it; help and version stay instant). */
const QUIET = new Set(['cleanup', '--version', '-V', '--help', '-h', 'help', 'parse']);

async function warnStaleJournals(argv: string[]): Promise<void> {
  if (argv.length <= 2 || QUIET.has(argv[2]!)) return;
  const { staleJournals } = await import('./lib/journal.js');
  const stale = staleJournals();
  if (stale.length === 0) return;
  const n = stale.reduce((s, j) => s + j.pending.length, 0);
  process.stderr.write(
    `nfscope: warning: ${stale.length} killed run(s) left ${n} change(s) behind (${stale.map((j) => `pid ${j.header.pid}`).join(', ')}): ` +
      'run `nfscope cleanup` to undo them\n',
  );
}

export async function runCli(argv: string[]): Promise<number> {
  if (argv[2] !== '--version' && argv[2] !== '-V') (await import('./lib/cleanup.js')).installSignalHandlers();
  await warnStaleJournals(argv);
  const program = buildCli();
  try {
    await program.parseAsync(argv);
    return 0;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help/--version exit 0; commander already printed its message.
      if (err.exitCode === 0) return 0;
      return 2;
    }
    const e = err as Error & { exitCode?: number };
    if (e.name === 'PassThroughExit' && typeof e.exitCode === 'number') return e.exitCode;
    process.stderr.write(`nfscope: ${e.message}\n`);
    if (typeof e.exitCode === 'number' && e.name !== 'Error') return e.exitCode;
    if (process.env.NFSCOPE_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}
