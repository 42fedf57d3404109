/**
 * The lab's scenarios (issue 29): the classic conntrack and netfilter pitfalls, each a sandbox of
 * its own, its traffic, its claims in plain words judged from the evidence (judges/scenarios/),
 * and the fix shown by the same traffic after the change, judged again. The article's experiment
 * is the scenario `syn-drop` (the lab's default, model/lab.ts). This file holds what a reader and
 * the schema need: the catalogue, the report, and each scenario's observations (the judges' input,
 * captured as fixtures).
 */
import type { CtEntry } from './conntrack.js';
import type { HookList } from './hooks.js';
import type { ClaimStatus, Evidence } from './lab.js';

/** 1: first format. 2: a report's durationS; a set's failed. */
export const SCENARIO_SCHEMA_VERSION = 2;

export const SCENARIO_IDS = ['syn-drop', 'early-chain', 'equal-priority', 'notrack', 'mixed-backends', 'stale-udp', 'invalid-rst', 'table-full', 'udp-race'] as const;
export type ScenarioId = (typeof SCENARIO_IDS)[number];
/** The scenarios besides the article's experiment: what `lab --scenario all` runs. */
export type PitfallId = Exclude<ScenarioId, 'syn-drop'>;
export const PITFALL_IDS = SCENARIO_IDS.filter((s): s is PitfallId => s !== 'syn-drop');

export interface ScenarioInfo {
  id: ScenarioId;
  title: string;
  /** One line for `lab --list`. */
  summary: string;
  /** The public reports it reproduces. */
  grounding: string[];
  /** What a target must have to judge every claim. */
  needs: string;
  /** Its traffic needs two CPUs running at the same moment (a micro-VM is booted so). */
  concurrentCpus?: true;
}

export const SCENARIOS: readonly ScenarioInfo[] = [
  {
    id: 'syn-drop',
    title: 'Conntrack turns a blind eye to dropped SYNs',
    summary: "the article's experiment: a SYN dropped by the filter leaves no conntrack entry, and why (the default)",
    grounding: ['https://blog.cloudflare.com/conntrack-turns-a-blind-eye-to-dropped-syns/'],
    needs: 'kprobes and function_graph for every claim (a micro-VM gives them); the hook listing needs bpftrace and BTF',
  },
  {
    id: 'early-chain',
    title: 'A chain before conntrack sees no state',
    summary: 'a prerouting chain at priority -300 matching `ct state established` never matches: it runs before conntrack (-200); at -190 it does',
    grounding: ['nft-geo-filter #5 (a geo filter at -300 that could not let established flows through; fixed at -190)'],
    needs: 'nft with the ct expression, conntrack (module or built in); the hook listing needs bpftrace and BTF',
  },
  {
    id: 'equal-priority',
    title: 'Two chains at one priority run in reverse order of registration',
    summary: 'two base chains at the same priority on one hook: the one registered last runs first, and reloading one reverses them; distinct priorities fix the order',
    grounding: ['openNDS #579 (the order of two chains at one priority changed after a reload)', "the article's priority trick depends on it"],
    needs: 'nft; the hook listing needs bpftrace and BTF',
  },
  {
    id: 'notrack',
    title: 'Untracked packets skip NAT',
    summary: 'a notrack rule before conntrack: the packets match `ct state untracked`, conntrack keeps no entry, and DNAT never applies to them',
    grounding: ['the raw table\'s NOTRACK documentation (iptables-extensions CT --notrack)', 'nfscope hooks --lint NFS004 (a notrack placed after conntrack)'],
    needs: 'nft with notrack and NAT, conntrack (module or built in)',
  },
  {
    id: 'mixed-backends',
    title: 'iptables-legacy and iptables-nft on one hook',
    summary: 'a legacy DROP and an nft ACCEPT on one hook: the packet is dropped, and iptables-nft shows no drop at all',
    grounding: ['kube-router #1069', 'cilium #28260', 'kubernetes #109811'],
    needs: 'iptables-legacy and iptables-nft (Debian\'s iptables package); the hook listing needs bpftrace and BTF',
  },
  {
    id: 'stale-udp',
    title: 'A live UDP flow keeps its old backend',
    summary: 'a DNAT target changed while a UDP flow is live: the flow keeps going to the old backend until its conntrack entry is deleted; new flows take the new one',
    grounding: ['kubernetes #45976 (UDP to a Service kept going to a deleted backend)'],
    needs: 'nft with NAT, conntrack (the tool, to delete the entry)',
  },
  {
    id: 'invalid-rst',
    title: 'An INVALID segment escapes DNAT and resets the connection',
    summary: 'an out-of-window segment of a DNATed connection is INVALID, untranslated, and draws a RST that kills the connection; drop invalid, or be liberal',
    grounding: ['kubernetes #74839 (connection reset by peer through a Service)', 'kubernetes #117924', 'kubernetes #94861'],
    needs: 'nft with NAT, conntrack (module or built in), python3 with TCP_REPAIR and raw sockets (root)',
  },
  {
    id: 'table-full',
    title: 'A full conntrack table drops new flows',
    summary: 'at nf_conntrack_max, conntrack drops new flows\' first packets itself; early_drop evicts only entries that never saw a reply, never an established one; raise the max (micro-VM only: the max is the whole machine\'s)',
    grounding: ['the kernel\'s "nf_conntrack: table full, dropping packet" (net/netfilter/nf_conntrack_core.c)', 'Documentation/networking/nf_conntrack-sysctl.rst (nf_conntrack_max, nf_conntrack_buckets)'],
    needs: 'a machine nfscope booted for the run (--target qemu): nf_conntrack_max is one value for the whole machine, changed only there; nft, conntrack (the tool, for -S and -C)',
  },
  {
    id: 'udp-race',
    title: 'Two datagrams of a new UDP flow race to conntrack',
    summary: 'two datagrams of one new UDP flow from two CPUs at once (A and AAAA from one socket) both pass conntrack unconfirmed and clash; what this kernel does with the loser; one socket per query',
    grounding: ['kubernetes #56903 (5-second DNS delays)', 'weave #3287'],
    needs: 'two CPUs running at the same moment (a micro-VM under TCG is booted with a host thread per vCPU); nft with NAT and numgen, conntrack (the tool, for -S and -C)',
    concurrentCpus: true,
  },
];

/**
 * `lab --scenario all` on a micro-VM: the scenarios whose traffic needs two CPUs at once run in a
 * VM of their own, booted so; the others in one whose vCPUs take turns (vm/qemu-argv.ts: a thread
 * per vCPU races the guest's code patching on qemu 7.2). Each group keeps the scenarios' order.
 */
export function scenarioVmGroups(ids: readonly PitfallId[]): { ids: PitfallId[]; concurrentCpus: boolean }[] {
  const at = (id: PitfallId) => SCENARIOS.find((s) => s.id === id)?.concurrentCpus === true;
  const groups = [
    { ids: ids.filter((id) => !at(id)), concurrentCpus: false },
    { ids: ids.filter(at), concurrentCpus: true },
  ];
  return groups.filter((g) => g.ids.length > 0);
}

export interface ScenarioClaim {
  /** Stable per scenario: `<scenario>/<name>`. */
  id: string;
  /** The pitfall itself, or the fix shown by the same traffic after the change. */
  phase: 'problem' | 'fix';
  claim: string;
  status: ClaimStatus;
  evidence: Evidence[];
  reason?: string;
  /** Commands a student can run by hand to see the same (--explain). */
  commands: string[];
}

export interface ScenarioReport {
  schemaVersion: number;
  scenario: ScenarioId;
  title: string;
  kernel: string;
  target: string;
  port: number;
  /**
   * How long the scenario's run took (its sandbox, traffic, reads and undo), in seconds; not a VM's
   * boot nor the session's capability probe. What the session starts when first needed (the hook
   * listing server's compile) falls in the first scenario that needs it, and a scenario run alone
   * also unloads at its end the modules its run loaded.
   */
  durationS: number;
  claims: ScenarioClaim[];
  /** The fix, in one sentence. */
  fix: string;
  grounding: string[];
}

/** The ports a scenario sends a port's traffic on to (DNAT backends): the next ones, or the ones below at the top of the range. */
export function backendPorts(port: number): [number, number] {
  return port <= 65533 ? [port + 1, port + 2] : [port - 1, port - 2];
}

/** `lab --scenario all --json`: every scenario but the article's, run in one session, in order. */
export interface ScenarioSetReport {
  schemaVersion: number;
  reports: ScenarioReport[];
  /** Scenarios whose run failed (a command, the guest): their error, and the exit code it carries; the others' reports stand. */
  failed: { scenario: PitfallId; error: string; exitCode: number }[];
}

/** Rule counters of one chain, by the rule's comment (the scenario names every rule it reads). */
export type Counts = Record<string, number>;

/** A hook listing, or why there is none: a listing that failed is not an empty hook table. */
export type Listing = { hooks: HookList[] } | { failure: string };

/** early-chain: one prerouting chain of counters, at one priority, on a live TCP connection. */
export interface EarlyChainPhase {
  priority: number;
  /** The connection's client → server packets counted by rules "seen", "established", "new", "invalid", "untracked". */
  counts: Counts;
  /** conntrack -L of the server netns for the connection, after the packets. */
  conntrack: CtEntry[];
  listing: Listing;
  /** The rules as loaded (nft -f text), for the evidence. */
  ruleset: string;
}

export interface EarlyChainInputs {
  port: number;
  /** The chain at -300, then the same chain at -190, on the same connection. */
  early: EarlyChainPhase;
  fixed: EarlyChainPhase;
}

/**
 * equal-priority: two chains (tables a and b) on prerouting; each counts the SYNs it saw first
 * (rule "first": mark still 0) and then marks them. Counts are per round of SYNs.
 */
export interface EqualPriorityRound {
  /** What changed before the round, in words (the order tables were added or reloaded in). */
  change: string;
  priorities: { a: number; b: number };
  sent: number;
  /** SYNs each chain saw while the mark was still 0: it ran first for those. */
  first: { a: number; b: number };
  listing: Listing;
}

export interface EqualPriorityInputs {
  port: number;
  /** a added, then b; both at one priority. */
  registered: EqualPriorityRound;
  /** a deleted and added again: the newer registration now. */
  reloaded: EqualPriorityRound;
  /** The fix: a at a lower priority than b, added before b; then b reloaded. */
  fixed: EqualPriorityRound;
  fixedReloaded: EqualPriorityRound;
}

/** notrack: SYNs to a port DNATed to another, with a notrack chain before conntrack, then without. */
export interface NotrackPhase {
  notrack: boolean;
  /** The notrack chain's priority where it is loaded: before conntrack (-300) or after it (-150). */
  notrackPriority: number | null;
  sent: number;
  /** What came back: a listener waits on the new port only, so a translated SYN connects and an untranslated one is refused. */
  syns: SynOutcome;
  /** By comment: "dnat" (nat prerouting), "untracked", "to-port", "to-new-port" (input), and "notrack" where the raw chain is loaded. */
  counts: Counts;
  /** conntrack -L of the server netns, tcp, after the SYNs. */
  conntrack: CtEntry[];
  ruleset: string;
}

export interface NotrackInputs {
  port: number;
  newPort: number;
  problem: NotrackPhase;
  /** The notrack chain after conntrack (hooks --lint NFS004). */
  late: NotrackPhase;
  fixed: NotrackPhase;
}

/** What syn.py says of its SYNs: each attempt connected, refused (a RST came back), or neither (no answer). */
export interface SynOutcome {
  sent: number;
  connected: number;
  refused: number;
}

/** mixed-backends: a legacy DROP and an nft ACCEPT on one hook, then the legacy rules flushed. */
export interface MixedPhase {
  syns: SynOutcome;
  /** The legacy DROP rule's packet count, and the nft ACCEPT rule's during this phase (iptables-legacy-save -c, iptables-nft-save -c). */
  legacyDrop: number | null;
  nftAccept: number;
  /** iptables-nft-save -t filter as an operator reads it: its rule lines, and a warning line about legacy tables where it prints one. */
  nftSave: string[];
  listing: Listing;
}

export interface MixedBackendsInputs {
  port: number;
  mixed: MixedPhase;
  /** After `iptables-legacy -F INPUT`. */
  flushed: MixedPhase;
}

/** stale-udp: one window of the live UDP flow, the counts at the old and the new backend port. */
export interface StaleUdpWindow {
  what: string;
  /** Datagrams that reached the old backend's port and the new one's during the window (input counters). */
  old: number;
  new: number;
  /** conntrack -L -p udp of the server netns for the client, after the window. */
  conntrack: CtEntry[];
}

export interface StaleUdpInputs {
  port: number;
  oldPort: number;
  newPort: number;
  /** DNAT to the old backend, the flow running. */
  before: StaleUdpWindow;
  /** The DNAT rule changed to the new backend; the flow goes on. */
  stale: StaleUdpWindow;
  /** A new flow (a new socket) while the old one goes on. */
  newFlow: StaleUdpWindow & { sent: number };
  /** The flows' entries deleted (conntrack -D); the old flow goes on. */
  deleted: StaleUdpWindow & { deleteOutput: string };
}

/** What payload/net/inject.py saw: the connection's source port and sequence, the segment it sent, and whether a RST came back. */
export interface InjectOutcome {
  sport: number;
  snd_nxt: number;
  injected_seq: number;
  reset: boolean;
  error: string | null;
}

/** One packet conntrack logged as INVALID (payload/net/nflog.py): the logger's prefix holds conntrack's reason. */
export interface InvalidLogLine {
  prefix: string | null;
  ip_len: number | null;
  proto: number | null;
  sport: number | null;
  dport: number | null;
}

/** invalid-rst: one connection through DNAT and its out-of-window segment, in a sandbox of its own. */
export interface InvalidRstPhase {
  fix: 'none' | 'drop-invalid' | 'be-liberal';
  /**
   * What conntrack logged as INVALID in the server netns during the phase (nf_conntrack_log_invalid=6,
   * the netns's IPv4 logger nfnetlink_log, read by nflog.py), or why it could not be read.
   */
  invalidLog: { lines: InvalidLogLine[] } | { failure: string };
  /** By comment: "dnat" (connections translated), "invalid" (after conntrack), "to-port" (untranslated), "segment-translated" (the segment at the backend's port), "rst" (the server's RSTs from the old port). */
  counts: Counts;
  inject: InjectOutcome;
  ruleset: string;
}

export interface InvalidRstInputs {
  port: number;
  newPort: number;
  problem: InvalidRstPhase;
  dropInvalid: InvalidRstPhase;
  beLiberal: InvalidRstPhase;
}

/** `conntrack -S` of the server netns (summed over CPUs) and `conntrack -C`, at one moment. */
export interface CtTableState {
  count: number;
  /** drop, early_drop, insert_failed, …: what this kernel reports. */
  stats: Record<string, number>;
  /** `conntrack -S` as printed. */
  statsLines: string[];
}

/** table-full: SYNs sent against a conntrack table in one state. */
export interface TableFullPhase {
  what: string;
  /** nf_conntrack_max during the phase (written in the initial netns; every netns counts its own entries against it). */
  max: number;
  /** The server netns's table before the SYNs and after. */
  before: CtTableState;
  after: CtTableState;
  syns: SynOutcome;
  /** By comment, during the phase: "syn-seen" (prerouting, before conntrack), "syn-past" (input, ct state new: got past conntrack). */
  counts: Counts;
  /** conntrack -L of the server netns after the SYNs: the held connections' entries, or the unreplied flows'. */
  conntrack: CtEntry[];
}

export type TableFullInputs =
  | {
      port: number;
      /** Why the scenario changed nothing here (a machine nfscope did not boot), with what it read. */
      notRun: string;
    }
  | {
      port: number;
      /** nf_conntrack_max and nf_conntrack_buckets as found (put back at the end). */
      found: { max: number; buckets: number };
      /** Established connections held open (ASSURED entries) for the first two phases. */
      held: number;
      /** The table full of established connections: max = their count. */
      assured: TableFullPhase;
      /** The fix: max back to what it was, the connections still held. */
      raised: TableFullPhase;
      /** The table full of unreplied UDP flows (not ASSURED), buckets at `buckets`, max = their count. */
      unassured: TableFullPhase & { buckets: number; udpSent: number };
    };

/** udp-race: FLOWS flows, two datagrams each from two CPUs at once, through DNAT to one or two backends. */
export interface UdpRacePhase {
  what: string;
  /** race.py's mode: one socket a flow (the race), or a socket per datagram (the fix). */
  sockets: 'one' | 'two';
  backends: number[];
  sent: number;
  /** Sockets race.py made: the flows. */
  flows: number;
  /** Datagrams each backend's socket received (udpsink.py): what got past conntrack's confirmation. */
  received: Record<string, number>;
  /** By comment: "dnat" (the NAT rule's evaluations: one per new entry). */
  counts: Counts;
  before: CtTableState;
  after: CtTableState;
}

export type UdpRaceInputs =
  | {
      port: number;
      /** Why the race could not be run here (one CPU), with what the run read. */
      notRun: string;
    }
  | {
      port: number;
      /** The CPUs the two senders were pinned to. */
      cpus: number[];
      oneBackend: UdpRacePhase;
      twoBackends: UdpRacePhase;
      socketPerQuery: UdpRacePhase;
    };
