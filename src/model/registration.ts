/**
 * Observation 0 (the article's opening): conntrack registers its hooks only
 * when something needs it. Data from experiments/registration.ts; judged by
 * judgeRegistration (pure).
 */
import type { HookList } from './hooks.js';

/** What the judge needs of a `conntrack -L` flow (model/conntrack.ts's CtEntry has it). */
export interface FlowSeen {
  state: string | null;
  original: Record<string, string>;
}

/**
 * What `conntrack -L` gave: the flows it listed, or why it gave none (the run failed: its argv,
 * exit status and stderr). A failed listing is not "no flow".
 */
export type FlowsSeen = FlowSeen[] | { failure: string };

export type ModuleReload =
  | { status: 'observed'; command: string; hooks: HookList[] }
  | { status: 'not-observable'; reason: string };

export interface RegistrationObservation {
  byRule: {
    hooksBefore: HookList[];
    /** conntrack -L in the server netns, flows to the port, while the flow runs and before the rule. */
    flowsBefore: FlowsSeen;
    rule: string;
    hooksAfter: HookList[];
    flowsAfter: FlowsSeen;
    unavailable: { observation: string; reason: string }[];
    /** What the listing after the rule said beside its hooks (an unnamed address, a failed lookup). Absent in captures made before it was kept. */
    listingWarnings?: string[];
  };
  byModule: ModuleReload;
}

export interface RegistrationVerdict {
  status: 'confirmed' | 'refuted' | 'not-observable';
  /** One line per fact the verdict rests on. */
  facts: string[];
  reason?: string;
}
