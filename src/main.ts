#!/usr/bin/env node
/** The edge: the process's argv in, its exit code out (see run.ts). */
import './prestart.js';
import { dropPrestarted } from './targets/local.js';

// Loaded after prestart.ts has run: a static import would be read and compiled before it.
const { runCli } = await import('./run.js');
process.exitCode = await runCli(process.argv);
dropPrestarted();
