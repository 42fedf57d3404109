import { resolveTarget } from './auto-target.js';
import { probeCapabilities } from '../kernel/capabilities.js';
import { withTarget } from '../targets/index.js';
import { DOCTOR_SCHEMA_VERSION, type DoctorReport } from '../model/doctor.js';
import { renderDoctor } from '../render/doctor.js';

export async function runDoctor(o: { target?: string; kernel?: string; json?: boolean }): Promise<void> {
  const progress = (m: string) => process.stderr.write(`… ${m}\n`);
  const { c, target } = await withTarget(await resolveTarget(o.target, progress), { kernel: o.kernel, progress }, async (t) => ({ c: await probeCapabilities(t), target: t.name }));
  if (o.json) {
    const report: DoctorReport = { schemaVersion: DOCTOR_SCHEMA_VERSION, target, ...c };
    process.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    process.stdout.write(renderDoctor(c) + '\n');
  }
}
