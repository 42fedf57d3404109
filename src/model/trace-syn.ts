import type { HookList } from './hooks.js';

export const TRACE_SYN_SCHEMA_VERSION = 1;

export interface CallbackHit {
  hook: string;
  priority: number | null;
  callback: string;
  hits: number;
}

export interface DropObservation {
  hook: string | null;
  priority: number | null;
  callback: string | null;
  reason: string;
  reasonCode: number;
  location: string;
  /** How hook/priority/callback were attributed (stack frames, hook listing). */
  evidence: string[];
  stack: string[];
  count: number;
  ruleCounter: { rule: string; packets: number } | null;
}

export interface Unconfirmed {
  allocated: number;
  confirmed: number;
  freedUnconfirmed: number;
  lifetimeUs: { min: number; p50: number; max: number } | null;
  destroyStack: string[];
  allocatedIn: string[];
}

export interface TraceSynReport {
  schemaVersion: number;
  kernel: string;
  target: string;
  family: 'ipv4' | 'ipv6';
  port: number;
  firewall: 'iptables' | 'nft';
  afterConfirm: boolean;
  synsSent: number;
  sandbox: { client: string; server: string; inPlace: boolean; clientAddr: string; serverAddr: string } | null;
  callbacks: CallbackHit[];
  drop: DropObservation | null;
  /** How many flows to the port the table holds (one per SYN with --after-confirm). */
  conntrackEntries: number;
  conntrackEntry: null | { state: string | null; original: string; reply: string; flags: string[] };
  unconfirmed: Unconfirmed | null;
  /** The server netns's hooks for the family, as registered during the run. */
  hooks: HookList[];
  unavailable: { observation: string; reason: string }[];
  verdict: string;
}
