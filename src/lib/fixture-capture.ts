/**
 * NFSCOPE_CAPTURE_DIR=test/fixtures: a live run keeps its tool's raw output
 * as a parser fixture, test/fixtures/<tool>/<kernel>/<case>/, with meta.json
 * (argv, tool version, kernel, how the run was set up) beside it.
 * NFSCOPE_CAPTURE_CASE and NFSCOPE_CAPTURE_SETUP override the case name and
 * the setup text (a capture script's own load). Does nothing without the variable.
 */
export async function captureFixture(
  tool: string, kernel: string, caseName: string, files: Record<string, string>,
  /** tool: the versions, or how to ask them (asked only when capturing: a process start each). */
  meta: { argv: string; tool: string | (() => Promise<string>); setup: string } & Record<string, unknown>,
): Promise<void> {
  const root = process.env.NFSCOPE_CAPTURE_DIR;
  if (!root) return;
  const { mkdir, writeFile } = await import('node:fs/promises');
  const { join } = await import('node:path');
  const dir = join(root, tool, kernel, process.env.NFSCOPE_CAPTURE_CASE ?? caseName);
  await mkdir(dir, { recursive: true });
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const full = { ...meta, tool: typeof meta.tool === 'string' ? meta.tool : await meta.tool(), kernel, captured: new Date().toISOString(), setup: process.env.NFSCOPE_CAPTURE_SETUP ?? meta.setup };
  await writeFile(join(dir, 'meta.json'), JSON.stringify(full, null, 2) + '\n');
}
