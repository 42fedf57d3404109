import { ParseError } from '../lib/errors.js';

/** A JSON object (not an array, not null). */
export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Deeper than any tool nfscope reads ever nests (bpftrace maps: 3; nft -j: 8). */
export const MAX_JSON_DEPTH = 64;
/** A longer single JSON text is not a tool's output line (bpftrace's largest maps are a few MiB). */
export const MAX_JSON_LINE = 32 << 20;

/**
 * JSON.parse with bounds: before parsing, one linear pass with no allocation
 * measures the nesting depth (strings skipped), so adversarial input such as
 * 60 MB of `[` ends in a ParseError at once instead of gigabytes of RSS and a
 * RangeError from V8's recursion (issue 15: 2.8 GB, 21–30 s).
 */
export function parseJsonBounded(text: string, what: string, lineNo: number, maxDepth = MAX_JSON_DEPTH): unknown {
  const excerpt = () => text.slice(0, 80);
  if (text.length > MAX_JSON_LINE) throw new ParseError(what, lineNo, excerpt(), `a JSON text longer than ${MAX_JSON_LINE >> 20} MiB`);
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c /* \ */) i++;
      else if (c === 0x22 /* " */) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x5b /* [ */ || c === 0x7b /* { */) {
      if (++depth > maxDepth) throw new ParseError(what, lineNo, excerpt(), `JSON nested deeper than ${maxDepth}`);
    } else if (c === 0x5d /* ] */ || c === 0x7d /* } */) depth--;
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new ParseError(what, lineNo, excerpt(), `not JSON (${(e as Error).message.slice(0, 100)})`);
  }
}
