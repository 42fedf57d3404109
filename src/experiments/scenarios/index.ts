/**
 * The scenarios nfscope runs besides the article's experiment (the lab's default, syn-drop): each
 * an experiment giving its observations, and the judge that turns them into claims. Adding one:
 * its words and rulesets in model/scenarios/NAME.ts and its catalogue line in model/scenario.ts,
 * its judge in judges/scenarios/NAME.ts, its experiment here beside the others, one entry below.
 */
import { judgeEarlyChain } from '../../judges/scenarios/early-chain.js';
import { judgeEqualPriority } from '../../judges/scenarios/equal-priority.js';
import { judgeNotrack } from '../../judges/scenarios/notrack.js';
import { judgeMixedBackends } from '../../judges/scenarios/mixed-backends.js';
import { judgeStaleUdp } from '../../judges/scenarios/stale-udp.js';
import { SCENARIO_SCHEMA_VERSION, SCENARIOS, type ScenarioClaim, type ScenarioId, type ScenarioReport } from '../../model/scenario.js';
import { EARLY_CHAIN_FIX } from '../../model/scenarios/early-chain.js';
import { EQUAL_PRIORITY_FIX } from '../../model/scenarios/equal-priority.js';
import { NOTRACK_FIX } from '../../model/scenarios/notrack.js';
import { MIXED_FIX } from '../../model/scenarios/mixed-backends.js';
import { STALE_UDP_FIX } from '../../model/scenarios/stale-udp.js';
import { captureFixture } from '../../lib/fixture-capture.js';
import type { Target } from '../../targets/target.js';
import { Session } from '../session.js';
import { earlyChain } from './early-chain.js';
import { equalPriority } from './equal-priority.js';
import { notrack } from './notrack.js';
import { mixedBackends } from './mixed-backends.js';
import { staleUdp } from './stale-udp.js';

/** A scenario's run, its observations kept beside the judge that reads them. */
type Runner = (session: Session, port: number, progress: (m: string) => void) => Promise<{ inputs: unknown; judge: () => ScenarioClaim[] }>;

function scenario<I>(run: (session: Session, port: number, progress: (m: string) => void) => Promise<I>, judge: (inputs: I) => ScenarioClaim[]): Runner {
  return async (session, port, progress) => {
    const inputs = await run(session, port, progress);
    return { inputs, judge: () => judge(inputs) };
  };
}

const RUNNERS: Record<Exclude<ScenarioId, 'syn-drop'>, { run: Runner; fix: string }> = {
  'early-chain': { run: scenario(earlyChain, judgeEarlyChain), fix: EARLY_CHAIN_FIX },
  'equal-priority': { run: scenario(equalPriority, judgeEqualPriority), fix: EQUAL_PRIORITY_FIX },
  notrack: { run: scenario(notrack, judgeNotrack), fix: NOTRACK_FIX },
  'mixed-backends': { run: scenario(mixedBackends, judgeMixedBackends), fix: MIXED_FIX },
  'stale-udp': { run: scenario(staleUdp, judgeStaleUdp), fix: STALE_UDP_FIX },
};

export async function runScenario(target: Target, id: Exclude<ScenarioId, 'syn-drop'>, port: number, progress: (m: string) => void): Promise<ScenarioReport> {
  const s = RUNNERS[id];
  const info = SCENARIOS.find((x) => x.id === id)!;
  const session = await Session.open(target, `the ${id} scenario`, ['ipv4']);
  const { inputs, judge } = await s.run(session, port, progress);
  // NFSCOPE_CAPTURE_DIR: the judge's whole input, as observed, for the fixture-in tests of its judge.
  await captureFixture('scenario', session.kernel, id, { 'inputs.json': JSON.stringify(inputs, null, 2) + '\n' }, {
    argv: `nfscope lab --scenario ${id} --port ${port}`,
    tool: `nfscope lab --scenario ${id}: the observations its judge reads (nft -j counters, conntrack -L, the hook listing)`,
    setup: `the scenario's own sandbox on ${target.name}`,
  });
  return {
    schemaVersion: SCENARIO_SCHEMA_VERSION, scenario: id, title: info.title, kernel: session.kernel, target: target.name,
    port, claims: judge(), fix: s.fix, grounding: info.grounding,
  };
}
