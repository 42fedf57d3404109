import { UsageError } from './errors.js';

/**
 * What `--kernel` may name (issue 12): an alias for a Debian release's newest
 * amd64 kernel, SUITE/PACKAGE, or a package name. Pure: validated before any
 * apt state is touched or a VM boots.
 */

import { SUITES, type Suite } from '../model/kernels.js';
export { SUITES, type Suite };

/**
 * Each suite's archive entries. The security suites carry the newest kernel of
 * a stable release (bullseye: 5.10.262 in bullseye-security vs 5.10.223 in
 * bullseye; bookworm: 6.1.192 vs 6.1.176, the one the system's apt gives).
 */
export const SUITE_SOURCES: Record<Suite, { uri: string; suite: string }[]> = {
  bullseye: [
    { uri: 'http://deb.debian.org/debian', suite: 'bullseye' },
    { uri: 'http://deb.debian.org/debian-security', suite: 'bullseye-security' },
  ],
  bookworm: [
    { uri: 'http://deb.debian.org/debian', suite: 'bookworm' },
    { uri: 'http://deb.debian.org/debian-security', suite: 'bookworm-security' },
  ],
  trixie: [{ uri: 'http://deb.debian.org/debian', suite: 'trixie' }],
  sid: [{ uri: 'http://deb.debian.org/debian', suite: 'sid' }],
};

/** `--kernel` aliases: the newest amd64 kernel of a release. */
export const KERNEL_ALIASES = { '5.10': 'bullseye', '6.1': 'bookworm', '6.12': 'trixie', latest: 'sid' } as const satisfies Record<string, Suite>;
export type KernelAlias = keyof typeof KERNEL_ALIASES;

/** The metapackage that names a release's current kernel. */
export const KERNEL_METAPACKAGE = 'linux-image-amd64';

/** The default kernel: Debian 12's, the release the project is developed on. */
export const DEFAULT_KERNEL = '6.1';

/**
 * A Debian kernel image package name. The linux-image- prefix is required:
 * apt-cache takes a name with regex characters for a pattern ("1.5" matched
 * coinor-libcoinmp1v5, found by the option fuzz test).
 */
export const KERNEL_PACKAGE = /^linux-image-[a-z0-9][a-z0-9.+~-]{0,90}$/;

export type KernelSpec =
  | { kind: 'alias'; text: string; alias: KernelAlias; suite: Suite; package: string }
  | { kind: 'suite'; text: string; suite: Suite; package: string }
  | { kind: 'package'; text: string; package: string };

const SUITE_NAMES: Record<string, Suite> = { bullseye: 'bullseye', bookworm: 'bookworm', trixie: 'trixie', sid: 'sid', unstable: 'sid' };

export function parseKernelSpec(text: string): KernelSpec {
  if (Object.hasOwn(KERNEL_ALIASES, text)) {
    const alias = text as KernelAlias;
    return { kind: 'alias', text, alias, suite: KERNEL_ALIASES[alias], package: KERNEL_METAPACKAGE };
  }
  const slash = text.indexOf('/');
  if (slash > 0) {
    const suite = SUITE_NAMES[text.slice(0, slash)];
    const pkg = text.slice(slash + 1);
    if (!suite) throw badKernel(text, `unknown suite '${text.slice(0, slash).slice(0, 20)}' (expected ${Object.keys(SUITE_NAMES).join(', ')})`);
    if (!KERNEL_PACKAGE.test(pkg)) throw badKernel(text, 'the package after the suite must be a linux-image-… name');
    return { kind: 'suite', text, suite, package: pkg };
  }
  if (KERNEL_PACKAGE.test(text)) return { kind: 'package', text, package: text };
  throw badKernel(text, '');
}

function badKernel(text: string, why: string): UsageError {
  return new UsageError(
    `invalid --kernel ${JSON.stringify(text.slice(0, 60))}${why ? `: ${why}` : ''}; ` +
      `expected ${Object.keys(KERNEL_ALIASES).join(', ')}, SUITE/linux-image-… (suites: ${SUITES.join(', ')}) or a package name like linux-image-amd64`,
  );
}
