#!/usr/bin/env node
/**
 * The edge: parse argv, run, map errors to exit codes. Nothing else sets one.
 *   0 ok · 1 unexpected · 2 usage · 3 tool missing · 4 not root · 5 command
 *   failed · 6 parse error · 7 capability missing · 130/143 SIGINT/SIGTERM
 */
import { CommanderError } from 'commander';
import { buildCli } from './cli.js';

async function main(argv: string[]): Promise<number> {
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
    process.stderr.write(`nfscope: ${e.message}\n`);
    if (typeof e.exitCode === 'number' && e.name !== 'Error') return e.exitCode;
    if (process.env.NFSCOPE_DEBUG) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

process.exitCode = await main(process.argv);
