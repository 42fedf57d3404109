import { resolveTarget } from './auto-target.js';
import { PassThroughExit, UsageError } from '../lib/errors.js';
import { checkReportTarget, writeReport } from '../lib/safe-write.js';
import { choiceOption, intOption } from '../lib/validate.js';
import { withTarget } from '../targets/index.js';
import { requireRoot } from '../tools/root.js';
import type { ScenarioSetReport } from '../model/scenario.js';

export interface LabOptions {
  port: string;
  scenario?: string;
  list?: boolean;
  burst: string;
  report?: string;
  explain?: boolean;
  target?: string;
  kernel?: string;
  json?: boolean;
}

/**
 * --report: a .md or .html file name in a directory only root and we can
 * change; an existing file is replaced only if it is a regular file (never
 * through a symlink). Checked here, before anything runs, and again at write time.
 */
export async function checkReportPath(p: string | undefined): Promise<'md' | 'html' | null> {
  if (p === undefined) return null;
  if (p.includes('\0') || p.length > 4096 || /[\n\r]/.test(p)) throw new UsageError('invalid --report file name');
  const kind = /\.md$/i.test(p) ? 'md' : /\.html?$/i.test(p) ? 'html' : null;
  if (!kind) throw new UsageError(`--report ${JSON.stringify(p.slice(0, 80))}: the file name must end in .md or .html`);
  await checkReportTarget(p);
  return kind;
}

export async function runLab(o: LabOptions): Promise<void> {
  const { SCENARIO_IDS, SCENARIOS } = await import('../model/scenario.js');
  if (o.list) {
    // --target and --kernel have defaults, so only the options that would ask for a run are refused.
    if (o.scenario !== undefined || o.report !== undefined || o.explain) {
      throw new UsageError('--list takes no --scenario, --report or --explain: it lists the scenarios, and runs none');
    }
    const { renderScenarioList } = await import('../render/scenario.js');
    process.stdout.write((o.json ? JSON.stringify({ scenarios: SCENARIOS }, null, 2) : renderScenarioList(SCENARIOS)) + '\n');
    return;
  }
  const scenario = choiceOption('--scenario', o.scenario ?? 'syn-drop', [...SCENARIO_IDS, 'all'] as const);
  const spec = { port: intOption('--port', o.port, 1, 65535), burst: intOption('--burst', o.burst, 1, 100000) };
  if (scenario === 'all' && o.report !== undefined) throw new UsageError('--report writes one scenario\'s report: with --scenario all, run each scenario with its own --report');
  const kind = await checkReportPath(o.report);
  const t0 = Date.now();
  const progress = (m: string) => process.stderr.write(`[${((Date.now() - t0) / 1000).toFixed(1).padStart(5)} s] ${m}\n`);
  if (scenario === 'all') {
    const { runScenarios, scenarioFailure } = await import('../experiments/scenarios/index.js');
    const { PITFALL_IDS, scenarioVmGroups, SCENARIO_SCHEMA_VERSION } = await import('../model/scenario.js');
    const { isTearingDown, RunEndedError } = await import('../lib/cleanup.js');
    const targetSpec = await resolveTarget(o.target, progress);
    // A micro-VM boots per group (model/scenario.ts scenarioVmGroups); any other target runs them all in one session.
    const groups = /^qemu(:|$)/.test(targetSpec ?? '') ? scenarioVmGroups(PITFALL_IDS) : [{ ids: [...PITFALL_IDS], concurrentCpus: false }];
    const set: ScenarioSetReport = { schemaVersion: SCENARIO_SCHEMA_VERSION, reports: [], failed: [] };
    for (const g of groups) {
      try {
        const part = await withTarget(targetSpec, { kernel: o.kernel, concurrentCpus: g.concurrentCpus, progress }, async (target) => {
          await requireRoot(target);
          return runScenarios(target, g.ids, spec.port, progress);
        });
        set.reports.push(...part.reports);
        set.failed.push(...part.failed);
      } catch (e) {
        // A later group's VM that did not come up fails its scenarios; the reports that stand are
        // kept, as when one scenario fails (experiments/scenarios eachScenario). A signal ends them all.
        if (set.reports.length + set.failed.length === 0 || e instanceof RunEndedError || isTearingDown()) throw e;
        set.failed.push(...g.ids.map((id) => scenarioFailure(id, e)));
        progress(`${g.ids.join(', ')} failed: ${set.failed.at(-1)!.error.split('\n')[0]}`);
      }
    }
    const order = (id: string) => PITFALL_IDS.indexOf(id as (typeof PITFALL_IDS)[number]);
    set.reports.sort((a, b) => order(a.scenario) - order(b.scenario));
    set.failed.sort((a, b) => order(a.scenario) - order(b.scenario));
    const render = await import('../render/scenario.js');
    if (o.json) process.stdout.write(JSON.stringify(set, null, 2) + '\n');
    else process.stdout.write(render.renderScenarioSetText(set, { explain: o.explain }) + '\n');
    // The reports that stand are printed; the run still fails, with the first failure's code.
    if (set.failed.length) throw new PassThroughExit(set.failed[0]!.exitCode);
    return;
  }
  if (scenario !== 'syn-drop') {
    const { runScenario } = await import('../experiments/scenarios/index.js');
    const { scenarioVmGroups } = await import('../model/scenario.js');
    const concurrentCpus = scenarioVmGroups([scenario]).some((g) => g.concurrentCpus);
    const report = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, concurrentCpus, progress }, async (target) => {
      await requireRoot(target);
      return runScenario(target, scenario, spec.port, progress);
    });
    const render = await import('../render/scenario.js');
    if (o.report && kind) {
      await writeReport(o.report, kind === 'md' ? render.renderScenarioMarkdown(report) : render.renderScenarioHtml(report));
      progress(`report written to ${o.report}`);
    }
    if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
    else process.stdout.write(render.renderScenarioText(report, { explain: o.explain }) + '\n');
    return;
  }
  const { lab } = await import('../experiments/lab.js');
  const report = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (target) => {
    await requireRoot(target);
    return lab(target, spec, progress);
  });
  const render = await import('../render/lab.js');
  if (o.report && kind) {
    await writeReport(o.report, kind === 'md' ? render.renderLabMarkdown(report) : render.renderLabHtml(report));
    progress(`report written to ${o.report}`);
  }
  if (o.json) process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  else process.stdout.write(render.renderLabText(report, { explain: o.explain }) + '\n');
}
