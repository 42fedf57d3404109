import { execa } from 'execa';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

export const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p)) ?? null;

/**
 * Opens a file in headless Chromium: its DOM after load, a screenshot, and
 * the page's console errors (Chromium logs them as "CONSOLE" lines on stderr
 * with --enable-logging=stderr).
 */
export async function openInChromium(file: string, screenshot: string): Promise<{ dom: string; consoleErrors: string[]; shot: boolean }> {
  if (!CHROMIUM) throw new Error('chromium is not installed (scripts/setup.sh installs it)');
  // The screenshot's directory (test/artifacts) is made here: a file run alone has no test.sh to make it.
  mkdirSync(dirname(screenshot), { recursive: true });
  const common = ['--headless', '--no-sandbox', '--disable-gpu', '--hide-scrollbars', '--enable-logging=stderr', '--v=0'];
  const dom = await execa(CHROMIUM, [...common, '--dump-dom', `file://${file}`], { reject: false, timeout: 60_000 });
  const shot = await execa(CHROMIUM, [...common, '--window-size=1200,2200', `--screenshot=${screenshot}`, `file://${file}`], { reject: false, timeout: 60_000 });
  const consoleErrors = [dom.stderr, shot.stderr].join('\n').split('\n').filter((l) => /CONSOLE|Uncaught|Failed to load resource/.test(l));
  return { dom: dom.stdout, consoleErrors, shot: shot.exitCode === 0 && existsSync(screenshot) };
}
