/**
 * `nfscope follow --diff A B`: two saved `follow --json` runs compared by the paths their packets
 * took. Packets are grouped by kind (family, protocol, TCP flags, the service port and the
 * direction to it), a kind's paths counted; where the two runs' usual paths part, the first step
 * that differs is shown with what both shared before it.
 */
export const FOLLOW_DIFF_SCHEMA_VERSION = 1;

/** One run as the diff read it. */
export interface FollowDiffSide {
  source: string;
  /** From the run's summary line; null when the file has none (a run cut short). */
  kernel: string | null;
  target: string | null;
  packets: number;
  /** The sources that observed (summary.sources available), or null without a summary. */
  observed: string[] | null;
}

/** A path and how many packets of the kind took it. */
export interface FollowPathCount {
  count: number;
  /** The first packet (its id in the run) that took it. */
  firstPacket: number;
  steps: string[];
}

export interface FollowDiffKind {
  /** e.g. "ipv4 tcp syn to port 2571". */
  kind: string;
  /** Most frequent first; at most MAX_PATHS_PER_KIND kept (the report's notKept counts the rest's packets). */
  a: FollowPathCount[];
  b: FollowPathCount[];
  /**
   * same: the same paths on both sides, the same one the most frequent; differs: a path one side
   * has and the other has not, or another most frequent path; or the kind is in one run only.
   */
  verdict: 'same' | 'differs' | 'only in a' | 'only in b';
  /**
   * Where the paths part: a path one side has and the other has not (b's first), against the
   * other side's path that shares the longest beginning with it; else the two most frequent paths.
   * The first step index that differs, each side's step there (null: its path ended), and the step
   * both had before it.
   */
  firstDifference: { index: number; a: string | null; b: string | null; after: string | null } | null;
}

export interface FollowDiffReport {
  schemaVersion: number;
  a: FollowDiffSide;
  b: FollowDiffSide;
  /** What the paths are made of, from what both runs observed (a step one run could not see is left out of both). */
  compared: { callbacks: boolean; nftrace: boolean };
  kinds: FollowDiffKind[];
  /** Kinds past MAX_KINDS, and packets of paths past MAX_PATHS_PER_KIND: counted only. */
  notKept: { kinds: number; packets: number };
  notes: string[];
}
