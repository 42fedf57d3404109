import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (…/nfscope), found from this file in src/lib or dist/lib.
 * One low module, so that vm/, experiments/ and targets/ need not import a
 * transport to find bpf/ and scripts/.
 */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
