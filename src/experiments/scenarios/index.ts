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
import { judgeInvalidRst } from '../../judges/scenarios/invalid-rst.js';
import { judgeTableFull } from '../../judges/scenarios/table-full.js';
import { judgeUdpRace } from '../../judges/scenarios/udp-race.js';
import { SCENARIO_SCHEMA_VERSION, SCENARIOS, type PitfallId, type ScenarioClaim, type ScenarioReport, type ScenarioSetReport } from '../../model/scenario.js';
import { EARLY_CHAIN_FIX } from '../../model/scenarios/early-chain.js';
import { EQUAL_PRIORITY_FIX } from '../../model/scenarios/equal-priority.js';
import { NOTRACK_FIX } from '../../model/scenarios/notrack.js';
import { MIXED_FIX } from '../../model/scenarios/mixed-backends.js';
import { STALE_UDP_FIX } from '../../model/scenarios/stale-udp.js';
import { INVALID_RST_FIX } from '../../model/scenarios/invalid-rst.js';
import { TABLE_FULL_FIX } from '../../model/scenarios/table-full.js';
import { UDP_RACE_FIX } from '../../model/scenarios/udp-race.js';
import { captureFixture } from '../../lib/fixture-capture.js';
import { isTearingDown, RunEndedError } from '../../lib/cleanup.js';
import type { Target } from '../../targets/target.js';
import { Session } from '../session.js';
import { earlyChain } from './early-chain.js';
import { equalPriority } from './equal-priority.js';
import { notrack } from './notrack.js';
import { mixedBackends } from './mixed-backends.js';
import { staleUdp } from './stale-udp.js';
import { invalidRst } from './invalid-rst.js';
import { tableFull } from './table-full.js';
import { udpRace } from './udp-race.js';

/** A scenario's run, its observations kept beside the judge that reads them. */
type Runner = (session: Session, port: number, progress: (m: string) => void) => Promise<{ inputs: unknown; judge: () => ScenarioClaim[] }>;

function scenario<I>(run: (session: Session, port: number, progress: (m: string) => void) => Promise<I>, judge: (inputs: I) => ScenarioClaim[]): Runner {
  return async (session, port, progress) => {
    const inputs = await run(session, port, progress);
    return { inputs, judge: () => judge(inputs) };
  };
}

const RUNNERS: Record<PitfallId, { run: Runner; fix: string }> = {
  'early-chain': { run: scenario(earlyChain, judgeEarlyChain), fix: EARLY_CHAIN_FIX },
  'equal-priority': { run: scenario(equalPriority, judgeEqualPriority), fix: EQUAL_PRIORITY_FIX },
  notrack: { run: scenario(notrack, judgeNotrack), fix: NOTRACK_FIX },
  'mixed-backends': { run: scenario(mixedBackends, judgeMixedBackends), fix: MIXED_FIX },
  'stale-udp': { run: scenario(staleUdp, judgeStaleUdp), fix: STALE_UDP_FIX },
  'invalid-rst': { run: scenario(invalidRst, judgeInvalidRst), fix: INVALID_RST_FIX },
  'table-full': { run: scenario(tableFull, judgeTableFull), fix: TABLE_FULL_FIX },
  'udp-race': { run: scenario(udpRace, judgeUdpRace), fix: UDP_RACE_FIX },
};

/** One scenario in an open session: its run, its observations kept (NFSCOPE_CAPTURE_DIR), its report. */
async function runOne(session: Session, target: Target, id: PitfallId, port: number, progress: (m: string) => void): Promise<ScenarioReport> {
  const s = RUNNERS[id];
  const info = SCENARIOS.find((x) => x.id === id)!;
  const t0 = performance.now();
  const { inputs, judge } = await s.run(session, port, progress);
  const durationS = Math.round((performance.now() - t0) / 100) / 10;
  // NFSCOPE_CAPTURE_DIR: the judge's whole input, as observed, for the fixture-in tests of its judge.
  await captureFixture('scenario', session.kernel, id, { 'inputs.json': JSON.stringify(inputs, null, 2) + '\n' }, {
    argv: `nfscope lab --scenario ${id} --port ${port}`,
    tool: `nfscope lab --scenario ${id}: the observations its judge reads (nft -j counters, conntrack -L, the hook listing)`,
    setup: `the scenario's own sandbox on ${target.name}`,
  });
  return {
    schemaVersion: SCENARIO_SCHEMA_VERSION, scenario: id, title: info.title, kernel: session.kernel, target: target.name,
    port, durationS, claims: judge(), fix: s.fix, grounding: info.grounding,
  };
}

export async function runScenario(target: Target, id: PitfallId, port: number, progress: (m: string) => void): Promise<ScenarioReport> {
  const session = await Session.open(target, `the ${id} scenario`, ['ipv4']);
  return runOne(session, target, id, port, progress);
}

/**
 * Several scenarios in one session (one capability probe, one VM boot, one listing server): an outer
 * run holds them, so each scenario's run is nested, its sandbox undone at its end, and the modules
 * the kernel loaded for them unloaded once, after the last.
 */
export async function runScenarios(target: Target, ids: readonly PitfallId[], port: number, progress: (m: string) => void): Promise<ScenarioSetReport> {
  const session = await Session.open(target, 'the lab scenarios', ['ipv4']);
  const { reports, failed } = await session.run(() => eachScenario(ids, (id, p) => runOne(session, target, id, port, p), progress));
  return { schemaVersion: SCENARIO_SCHEMA_VERSION, reports, failed };
}

/** A scenario that failed, as a set keeps it: the error's words and its exit code (1 when it has none). */
export function scenarioFailure(id: PitfallId, e: unknown): ScenarioSetReport['failed'][number] {
  const error = e instanceof Error ? e.message : String(e);
  const code = (e as { exitCode?: unknown }).exitCode;
  return { scenario: id, error, exitCode: typeof code === 'number' && code > 0 ? code : 1 };
}

/**
 * Runs each scenario in turn; one that fails is said and kept with its error, and the next runs
 * (each undid its own changes when its run ended). A run torn down by a signal is not a scenario's
 * failure: it ends them all.
 */
export async function eachScenario(
  ids: readonly PitfallId[], one: (id: PitfallId, progress: (m: string) => void) => Promise<ScenarioReport>, progress: (m: string) => void,
): Promise<Pick<ScenarioSetReport, 'reports' | 'failed'>> {
  const reports: ScenarioReport[] = [];
  const failed: ScenarioSetReport['failed'] = [];
  for (const [k, id] of ids.entries()) {
    progress(`scenario ${k + 1}/${ids.length}: ${id}`);
    try {
      reports.push(await one(id, (m) => progress(`  ${m}`)));
    } catch (e) {
      // A signal's teardown makes the running scenario fail somehow (its netns gone under it): that
      // is the teardown, not the scenario's failure, and nothing more may start.
      if (e instanceof RunEndedError || isTearingDown()) throw e;
      const f = scenarioFailure(id, e);
      failed.push(f);
      progress(`  ${id} failed: ${f.error.split('\n')[0]}`);
    }
  }
  return { reports, failed };
}
