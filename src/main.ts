#!/usr/bin/env node
/** The edge: the process's argv in, its exit code out (see run.ts). */
import { runCli } from './run.js';

process.exitCode = await runCli(process.argv);
