/**
 * Before nfscope's modules load (200-300 ms of a 0.9 s `nfscope hooks` on the 2-core dev
 * machine, 6.18): start the listing programs the last identical command line ran
 * (lib/prestart-cache.ts), so that they compile while node loads the rest. The command
 * then computes its argv as ever and adopts a process only when its argv is exactly that.
 */
import { prestartArgvs, prestartKey } from './lib/prestart-cache.js';
import { prestart } from './targets/local.js';

export const PRESTART_KEY = prestartKey(process.argv.slice(2));
if (PRESTART_KEY) for (const argv of prestartArgvs(PRESTART_KEY)) prestart(argv);
