/** Types of machine-state.mjs (a plain script, shared by scripts/fault/inject.mjs and the tests). */
export interface Owned { name: string; foreign: boolean }
export interface TracefsState { mount: string; currentTracer: string; kprobeEvents: string; ftraceFilter: string; setEvent: string; instances: string[] }
export interface ProcessState { pid: number; cmd: string; zombie: boolean; foreign: boolean }
export interface MachineState {
  netns: Owned[];
  links: string[];
  nftTables: string[];
  nftRuleset: string[];
  iptables: string[];
  ip6tables: string[];
  tracefs: TracefsState[];
  tracingLock: { held: boolean; foreign: boolean };
  tracefsUsers: Owned[];
  journals: Owned[];
  processes: ProcessState[];
}
export const OWNER: string;
export const OWNER_TAG: string;
export function machineState(): MachineState;
export function stateDiff(before: MachineState, after: MachineState): string[];
