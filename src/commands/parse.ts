import { ParseError, UsageError } from '../lib/errors.js';
import { choiceOption, intOption } from '../lib/validate.js';
import { feedChunks } from '../lib/chunks.js';
import { checkInput, readWhole } from '../lib/input-file.js';
import type { CtEntry } from '../model/conntrack.js';
import { PARSE_SCHEMA_VERSION as V, type ParseBpftraceJsonReport, type ParseFunctionGraphReport, type ParseHooksReport, type ParseKstackReport, type ParseTracePreroutingReport } from '../model/parse-report.js';

import { PARSE_KINDS } from '../model/parse-kinds.js';

/** Flows of `parse conntrack` per text table: a table needs all its rows for its column widths. */
const TEXT_BATCH = 5000;


export interface ParseOptions {
  maxDepth?: string;
  json?: boolean;
}

export async function runParse(kindArg: string, file: string, o: ParseOptions): Promise<void> {
  const kind = choiceOption('KIND', kindArg, PARSE_KINDS);
  const maxDepth = o.maxDepth === undefined ? undefined : intOption('--max-depth', o.maxDepth, 0, 64);
  await checkInput(file);
  const out = (s: string): void => {
    process.stdout.write(s);
  };
  const json = (v: unknown) => out(JSON.stringify(v, null, 2) + '\n');
  // The text renderers are loaded only for text, as the parsers are only for their kind.
  const render = () => import('../render/parse.js');

  switch (kind) {
    case 'function-graph': {
      const { FunctionGraphParser, PathAggregate } = await import('../parsers/function-graph.js');
      const agg = new PathAggregate();
      const p = new FunctionGraphParser(agg);
      let bytes = 0;
      try {
        bytes = await feedChunks(file, (c) => p.push(c));
      } catch (e) {
        if (e instanceof RangeError) throw new ParseError('function_graph trace', p.stats.lines, '', e.message);
        throw e;
      }
      const stats = p.end();
      const roots = agg.roots.reduce((n, r) => n + r.count, 0);
      const report: ParseFunctionGraphReport = { schemaVersion: V, kind, bytes, roots, stats, tree: agg.roots };
      return o.json ? json(report) : out((await render()).renderFunctionGraph(report, maxDepth));
    }
    case 'kstack': {
      const { parseKstacks, kstackTree } = await import('../parsers/kstack.js');
      const { stacks, skipped } = parseKstacks(await readWhole(file, 'bpftrace kstack map'));
      const tree = kstackTree(stacks);
      const total = stacks.reduce((s, k) => s + k.count, 0);
      const maps = [...new Set(stacks.map((s) => s.map))];
      const report: ParseKstackReport = { schemaVersion: V, kind, stacks: stacks.length, total, skippedLines: skipped, maps, tree };
      if (o.json) return json(report);
      const perMap = maps.map((map) => {
        const mine = stacks.filter((s) => s.map === map);
        return { map, events: mine.reduce((s, k) => s + k.count, 0), tree: kstackTree(mine) };
      });
      return out((await render()).renderKstack(report, perMap, maxDepth));
    }
    case 'bpftrace-json': {
      const { parseBpftraceJson, printfLines, lostEvents } = await import('../parsers/bpftrace-json.js');
      const events = parseBpftraceJson(await readWhole(file, 'bpftrace json'));
      if (events.length === 0) throw new ParseError('bpftrace json', 0, '', 'empty input');
      const byType: Record<string, number> = {};
      for (const e of events) byType[e.type] = (byType[e.type] ?? 0) + 1;
      const maps = events.filter((e) => e.type === 'map').flatMap((e) => Object.keys(e.data as object));
      const report: ParseBpftraceJsonReport = { schemaVersion: V, kind, events: byType, lostEvents: lostEvents(events), maps, printf: printfLines(events) };
      return o.json ? json(report) : out((await render()).renderBpftraceJson(report, events.length));
    }
    case 'conntrack': {
      // Streamed (issue 26: 32 MiB of text reached 958 MB RSS, 1.5 GB with --json): each line is
      // parsed as it is read, and under --json written as it is parsed, in the bytes
      // JSON.stringify(report, null, 2) gives. Text keeps TEXT_BATCH flows per table.
      const { parseConntrackLine } = await import('../parsers/conntrack.js');
      const { LineSplitter } = await import('../lib/bounded.js');
      const { StringDecoder } = await import('node:string_decoder');
      const table = o.json ? () => '' : (await render()).renderFlowTable;
      let pending = '';
      const flush = async (force = false) => {
        if (!force && pending.length < 1 << 16) return;
        const ok = process.stdout.write(pending);
        pending = '';
        if (!ok) await new Promise<void>((r) => process.stdout.once('drain', () => r()));
      };
      let n = 0;
      let batch: CtEntry[] = [];
      let batches = 0;
      let lineNo = 0;
      const take = (line: string) => {
        const e = parseConntrackLine(line, ++lineNo);
        if (!e) return;
        if (o.json) pending += `${n ? ',\n' : '\n'}    ${JSON.stringify(e, null, 2).replace(/\n/g, '\n    ')}`;
        else batch.push(e);
        n++;
      };
      const lines = new LineSplitter(take, 1 << 20);
      const dec = new StringDecoder('utf8');
      const overlong = () => {
        if (lines.overlong) throw new ParseError('conntrack -L', lineNo + 1, '', 'a line longer than 1 MiB');
      };
      if (o.json) pending = `{\n  "schemaVersion": ${V},\n  "kind": "conntrack",\n  "flows": [`;
      await feedChunks(file, async (c) => {
        lines.push(dec.write(c));
        overlong();
        if (!o.json && batch.length >= TEXT_BATCH) {
          pending += `${table(batch)}\n`;
          batch = [];
          batches++;
        }
        await flush();
      });
      lines.push(dec.end());
      lines.end();
      overlong();
      if (o.json) {
        pending += n ? '\n  ]\n}\n' : ']\n}\n';
        return flush(true);
      }
      // Up to TEXT_BATCH flows, the count and then one table, as ever; past it, tables as they fill, and the count last.
      if (batches === 0) pending += `${n} flow(s)\n${table(batch)}\n`;
      else pending += `${batch.length ? `${table(batch)}\n` : ''}${n} flow(s)\n`;
      return flush(true);
    }
    case 'nft-hooks':
    case 'hooks': {
      const text = await readWhole(file, kind === 'hooks' ? 'hook listing' : 'nft list hooks');
      // `hooks` reads nfscope's drgn helper (JSON lines) and the article's list-nf-hooks (🪝 sections) alike.
      const article = kind === 'hooks' && !text.trimStart().startsWith('{') && text.includes('🪝');
      const what = kind === 'nft-hooks' ? 'nft list hooks' : article ? 'list-nf-hooks output' : 'drgn nf_hooks.py output';
      let warnings: string[] = [];
      let hooks;
      if (article) ({ hooks, warnings } = (await import('../parsers/article-tools.js')).parseListNfHooks(text));
      else hooks = kind === 'hooks' ? (await import('../parsers/drgn-hooks.js')).parseDrgnHooks(text) : (await import('../parsers/nft-hooks.js')).parseNftHooks(text);
      if (hooks.length === 0) throw new ParseError(what, 0, text.slice(0, 80), 'no hooks in the input');
      const report: ParseHooksReport = { schemaVersion: V, kind, source: kind === 'nft-hooks' ? 'nft list hooks' : article ? 'list-nf-hooks' : 'nf_hooks.py', hooks, warnings };
      return o.json ? json(report) : out((await render()).renderParsedHooks(report));
    }
    case 'trace-prerouting': {
      // The article's trace-conntrack-prerouting.bt: which PRE_ROUTING callbacks saw SYNs to port 2570.
      const { parseTraceConntrackPrerouting } = await import('../parsers/article-tools.js');
      const { classify } = await import('../model/owners.js');
      const hits = parseTraceConntrackPrerouting(await readWhole(file, 'trace-conntrack-prerouting.bt output'));
      const by = new Map<string, { hook: string; callback: string; owner: string; conntrack: boolean; hits: number }>();
      for (const h of hits) {
        const c = classify(h.callback, 0);
        const e = by.get(h.callback) ?? { hook: 'PRE_ROUTING', callback: h.callback, owner: c.owner, conntrack: c.conntrack, hits: 0 };
        e.hits++;
        by.set(h.callback, e);
      }
      const callbacks = [...by.values()];
      const flows = [...new Set(hits.map((h) => `${h.src} > ${h.dst}`))];
      const report: ParseTracePreroutingReport = { schemaVersion: V, kind, callbacks, flows, hits };
      return o.json ? json(report) : out((await render()).renderTracePrerouting(report));
    }
  }
}
