/**
 * `nfscope follow`: one record per real packet that matched the filter, and a
 * summary of flows at the end. NDJSON under --json: each packet object, then
 * the summary object, each with schemaVersion and a `type`.
 */
export const FOLLOW_SCHEMA_VERSION = 1;

/** follow --nftrace's trace chains: before every chain follow watches (NF_IP_PRI_FIRST is INT_MIN; one above it). */
export const TRACE_PRIORITY = -2147483647;

export type FollowProto = 'tcp' | 'udp' | 'icmp';

export interface FollowFilter {
  proto: FollowProto | null;
  /** Source or destination port. */
  port: number | null;
  /** Source or destination address, IPv4 or IPv6 (RFC 5952 text). */
  host: string | null;
  netns: string;
  iface: string | null;
}

export interface PacketTuple {
  family: 'ipv4' | 'ipv6' | null;
  proto: string | null;
  src: string | null;
  dst: string | null;
  sport: number | null;
  dport: number | null;
  /** TCP flags as nft prints them (syn, ack, ...), when known. */
  tcpFlags: string[] | null;
}

/** One step of nf_tables' trace: a rule that matched, or a chain's policy. */
export interface NftStep {
  family: string;
  table: string;
  chain: string;
  /** The netfilter hook of the base chain, from the ruleset (LOCAL_IN, ...); null when the chain is not a base chain or unknown. */
  hook: string | null;
  /** 'rule': a rule whose verdict is given; 'policy': the base chain's policy decided. */
  kind: 'rule' | 'policy';
  handle: number | null;
  /** The rule as nft prints it (iptables-nft rules included); null when nft could not print it. */
  rule: string | null;
  verdict: string;
}

export interface DropObservation {
  /** Reason name from the tracepoint's format (NETFILTER_DROP, ...); null before 5.17. */
  reason: string | null;
  reasonCode: number | null;
  location: string;
  /** Innermost frame first. */
  stack: string[];
  /** The hook whose callback was on the stack when the packet was freed (from the NF_HOOK call site), or null. */
  hook: string | null;
  skb: string;
  /** Kernel time of the drop, ns (bpftrace nsecs). */
  nsecs: number;
}

export type Fate =
  | { kind: 'dropped'; hook: string | null; by: string | null; reason: string | null }
  | { kind: 'stolen'; hook: string | null; by: string }
  | { kind: 'queued'; hook: string | null; by: string }
  /** hook: where it was last accepted (every callback of that hook, or the last nf_tables decision); null unknown. Absent from runs saved before it. */
  | { kind: 'accepted'; detail: string; hook?: string | null }
  | { kind: 'unknown'; detail: string };

/** One callback at one hook, in the order the kernel calls them. */
export interface CallbackStep {
  /** From the hook listing; null for a callback the listing did not hold (registered while following). */
  priority: number | null;
  callback: string;
  owner: string;
  conntrack: boolean;
  /** ACCEPT, DROP, STOLEN, QUEUE, REPEAT; 'not reached' after a callback that ended the packet's path;
   * 'not seen' when the probe did not fire for it (skipped by the kernel); 'not probed' for an entry
   * the tracer had no probe on (not traceable, or registered while following), or 'accepted (not
   * probed: a callback after it ran)' when a probed callback after it began. */
  verdict: string;
}

export interface HookPass {
  hook: string;
  family: string;
  callbacks: CallbackStep[];
  /**
   * Paths mode: this pass was not printed for this packet. The kernel counted it under the same
   * signature as a pass printed before (its hook, callbacks, verdicts, conntrack's view, addresses
   * and service port are that pass's); what is shown is that pass's record. Absent otherwise.
   */
  counted?: true;
}

/**
 * follow's default mode keeps paths in the kernel: a packet is printed from the first hook whose
 * pass had a signature not seen before (or that ended in anything but ACCEPT). The hooks before it
 * were counted under the signature of a pass printed earlier.
 */
export interface CountedPart {
  /** The hooks counted, in order (their passes are in `hooks`, marked counted, where they were known). */
  hooks: string[];
  /** The packet first printed with that pass, where it was shown in this run. */
  asPacket: number | null;
  /** What this means for the packet's record, in words. */
  note: string;
}

/** follow's paths: each distinct path the packets took, and how many took it. */
export interface PathSummary {
  /** 'paths': the kernel printed a path once and counted its repeats; 'every-packet': one record per hook pass. */
  mode: 'paths' | 'every-packet';
  /** Why the run used that mode (the default, --every-packet, or --nftrace). */
  why: string;
  /**
   * Hook passes the kernel counted instead of printing (@pn at its exit). null: unknown, the tracer
   * did not reach its END (the reason is in unavailable), or no callback tracer ran.
   */
  countedPasses: number | null;
  /** Distinct paths by where they ended, first seen first; empty in every-packet mode. */
  list: PathEntry[];
  /** Printed passes past the MAX_PATHS paths kept (their paths are not listed). */
  notKept: number;
  /** Why the packets per path are not known (null: they are): the counts were not read, or a pass's record was lost. */
  countsUnknown: string | null;
}

export interface PathEntry {
  /** Each hook met, in order: "PRE_ROUTING ACCEPT", "LOCAL_IN DROP by nft_do_chain_inet". */
  hooks: string[];
  /** proto src > dst:port as its first packet had it, the client's port as *. */
  flow: string;
  /** Packets whose path ended here: printed plus counted, less those that went on to another hook. null: unknown (countsUnknown says why). */
  packets: number | null;
  /** The packet printed with this path's last pass, where it was shown. */
  firstPacket: number | null;
}

/** Conntrack's view of the packet after its callbacks ran. */
export interface ConntrackView {
  /** After which callback (ipv4_conntrack_in, ...). */
  after: string;
  /** NEW, ESTABLISHED, RELATED, ESTABLISHED_REPLY, RELATED_REPLY, UNTRACKED, or INVALID (no entry). */
  ctinfo: string;
  /** confirmed, seen-reply, assured, ... (IPS_* bits set). */
  status: string[];
}

/**
 * What became of conntrack's entry for the packet, judged from its callbacks (the packet's own
 * path, so on any traffic): `created, never confirmed` is the article's case, an entry made (NEW)
 * whose packet was dropped before a confirm callback ran: it is freed with the packet, so conntrack
 * -E never reports it. conntrack's event ids cannot be joined to packets instead: an id is a
 * siphash of the entry's address under a key drawn at boot (nf_ct_get_id), which no probe
 * recomputes.
 */
export interface ConntrackEntryVerdict {
  kind: 'created, never confirmed' | 'confirmed' | 'created, confirmation not seen' | 'existing entry' | 'no entry' | 'untracked';
  /** The observations it rests on, in words. */
  evidence: string;
}

/**
 * The socket a packet delivered to the local stack went to, and the processes that hold it, from
 * `ss` in the packet's namespace when follow showed the packet (its settle time after it arrived):
 * a socket closed in between is not there, and is said so.
 */
export type SocketOwner =
  | {
    found: true;
    /** One, or several that share the port (SO_REUSEPORT): then which one the kernel chose is not observable, and `note` says so. */
    sockets: string[];
    processes: { comm: string; pid: number }[];
    /** When ss ran (seconds since follow was ready). */
    atS: number;
    note: string | null;
  }
  | { found: false; why: string };

export interface NatChange {
  hook: string;
  callback: string;
  before: { src: string; dst: string; sport: number; dport: number };
  after: { src: string; dst: string; sport: number; dport: number };
}

export interface FollowPacket {
  schemaVersion: number;
  type: 'packet';
  /** 1, 2, ... in the order the packets were first seen. */
  id: number;
  /** Seconds since follow was ready, when the first source saw it. */
  t: number;
  tuple: PacketTuple;
  iif: string | null;
  /** Flow key: proto src:sport > dst:dport (direction as seen). */
  flow: string;
  /** nf_tables' trace of the packet, in order; null when nft tracing is off. */
  nft: { traceId: string; steps: NftStep[] } | null;
  drop: DropObservation | null;
  /** Every hook it traversed with every registered callback and its verdict; null when not observable here. */
  hooks: HookPass[] | null;
  conntrack: ConntrackView | null;
  /** Judged from the callbacks and conntrack's view; null where they are not observable. (Absent from runs saved before it.) */
  entry?: ConntrackEntryVerdict | null;
  nat: NatChange[];
  fate: Fate;
  /** Where it was delivered to the local stack: its socket and that socket's processes; null otherwise. (Absent from runs saved before it.) */
  socket?: SocketOwner | null;
  /** Which sources saw this packet. */
  sources: string[];
  /** Paths mode: the hooks before the first printed one, counted by the kernel; null when none were. (Absent from runs saved before it.) */
  counted?: CountedPart | null;
}

export interface ConntrackEvent {
  /** Seconds since follow was ready (conntrack's own timestamp). */
  t: number | null;
  event: string;
  proto: string;
  state: string | null;
  original: Record<string, string>;
  reply: Record<string, string>;
  flags: string[];
  id: string | null;
}

export interface SourceStatus {
  name: 'kfree_skb' | 'nftrace' | 'conntrack-events' | 'callbacks';
  available: boolean;
  /** What it shows, or why it could not run here. */
  detail: string;
  /**
   * It ended before follow stopped it: when (seconds since ready), why (argv, exit status, stderr's
   * last lines), and what follow did then (went on without it, or ended).
   */
  ended?: { atS: number; reason: string; then: string };
}

export interface FlowSummary {
  flow: string;
  packets: number;
  /** Fates by count: "dropped at LOCAL_IN by ip filter INPUT handle 2" → 3. */
  fates: Record<string, number>;
  /** conntrack's events of the flow: its first ones and its last ones (FLOW_CT_FIRST, FLOW_CT_LAST). */
  conntrack: ConntrackEvent[];
  /** Events of the flow between those, not kept (a long flow makes an UPDATE per state change). */
  conntrackNotKept: number;
}

export interface FollowSummary {
  schemaVersion: number;
  type: 'summary';
  kernel: string;
  target: string;
  filter: FollowFilter;
  sources: SourceStatus[];
  packets: number;
  durationS: number;
  /** Events a source could not deliver (bpftrace lost events, drops past the printed ones). */
  lost: {
    kfreeSkb: number;
    callbacks: number;
    /**
     * Packets nf_tables traced (its trace rules' counters) whose trace never reached follow (netlink
     * dropped it); 0 without --nftrace. null: unknown, the counters could not be read (the reason is in unavailable).
     */
    nftrace: number | null;
    /** null: unknown, the drop tracer did not print its count at exit (killed; the reason is in unavailable). */
    dropsNotDetailed: number | null;
  };
  flows: FlowSummary[];
  /** The paths packets took (absent from runs saved before it). */
  paths?: PathSummary;
  /**
   * Flows past the MAX_FLOWS kept: their packets and conntrack events, counted only; and packets
   * not printed because the reader of the output had 16 MiB of it unread (counted in `packets`).
   */
  notKept: { flows: number; packets: number; conntrackEvents: number; notPrinted: number };
  /** Lines of a source that no parser took: counted, a few shown; never fatal. */
  malformed: { source: string; count: number; examples: string[] }[];
  unavailable: { observation: string; reason: string }[];
}
