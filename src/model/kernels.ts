/** The Debian suites nfscope keeps an apt state of its own for. */
export const SUITES = ['bullseye', 'bookworm', 'trixie', 'sid'] as const;
export type Suite = (typeof SUITES)[number];

/** `nfscope vm kernels --json`: each alias with what it resolves to now, and whether it is cached. */
export interface VmKernelsReport {
  schemaVersion: number;
  aliases: {
    alias: string;
    suite: string;
    /** The linux-image-VERSION package, or null when it could not be resolved. */
    package: string | null;
    parts: string[];
    debVersion: string | null;
    /** The kernel release (uname -r) when cached. */
    release: string | null;
    cached: boolean;
    /** Why it could not be resolved. */
    error?: string;
  }[];
  /** When each suite's lists were fetched (nfscope's own apt state). */
  lists: Record<string, string | null>;
}

/** nfscope vm kernels --json format. */
export const VM_KERNELS_SCHEMA_VERSION = 1;
