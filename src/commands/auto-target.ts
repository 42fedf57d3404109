/**
 * --target auto: where every step of the experiment can be observed. This
 * kernel if it has what each step needs, else the micro-VM; the choice and its
 * reason are said in one line. Resolved here, in commands/, before any target
 * opens; targets/ only opens what it is told.
 */
export async function resolveTarget(spec: string | undefined, progress: (m: string) => void): Promise<string | undefined> {
  if (spec !== 'auto') return spec;
  const { LocalTarget } = await import('../targets/local.js');
  const { probeCapabilities } = await import('../kernel/capabilities.js');
  const { chooseAutoTarget } = await import('../judges/auto-target.js');
  const caps = await probeCapabilities(new LocalTarget(), { tools: 'session' });
  const choice = chooseAutoTarget(caps.caps, caps.kernel);
  progress(choice.why);
  return choice.target;
}
