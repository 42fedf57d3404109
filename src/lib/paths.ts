import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The package root (…/nfscope), found from this file in src/lib or dist/lib.
 * One low module, so that vm/, experiments/ and targets/ need not import a
 * transport to find bpf/ and payload/.
 */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

/**
 * Where the micro-VM guest sees the package root: a read-only 9p export of its
 * own, at a fixed path. Not the host path: the guest mounts a tmpfs on /tmp
 * (and /run), which hid a clone under /tmp, agent.py included (issue 11).
 */
export const GUEST_PACKAGE_ROOT = '/opt/nfscope';
