import type { HooksQuery } from '../experiments/hooks.js';

/** `nfscope hooks`' options as commander gives them: one target's listing, lint or diff, or a fleet. */
export interface HooksOptions extends HooksQuery {
  /** One or more (--target repeated): more than one, or --targets-file, is a fleet (commands/hooks-fleet.ts). */
  target?: string | string[];
  targetsFile?: string;
  parallel?: string;
  deadline?: string;
  baseline?: string;
  kernel?: string;
  json?: boolean;
  lint?: boolean;
  /** One or two saved `hooks --json` files; with one, this run's listing is the second. */
  diff?: string[];
}
