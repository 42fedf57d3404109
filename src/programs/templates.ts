/**
 * The one reader of the bundled bpftrace templates (bpf/X.bt): every fill in
 * programs/ takes the text read here, so a program's source is found in one
 * place. The only module of programs/ that does I/O (test/unit/layers.test.ts).
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { PACKAGE_ROOT } from '../lib/paths.js';

/** The bundled programs: bpf/X.bt ↔ src/programs/X.ts. */
export const BUNDLED_PROGRAMS = ['nf_hooks', 'ct_syn', 'kfree_skb_syn', 'ct_life', 'follow_cb', 'follow_drop'] as const;
export type BundledProgram = (typeof BUNDLED_PROGRAMS)[number];

/** The template's path relative to the package root (what Target.bundled takes). */
export function templatePath(name: BundledProgram): string {
  return `bpf/${name}.bt`;
}

/** The template's text, from the package nfscope runs from. */
export function readTemplate(name: BundledProgram): Promise<string> {
  return readFile(join(PACKAGE_ROOT, templatePath(name)), 'utf8');
}
