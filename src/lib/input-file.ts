/** A file a user names as input (`parse KIND FILE`, `hooks --diff A B`): checked, then read in bounded memory. */
import { stat } from 'node:fs/promises';
import { ParseError, UsageError } from './errors.js';
import { StringDecoder } from 'node:string_decoder';
import { feedChunks } from './chunks.js';
import { LineSplitter } from './bounded.js';

/** Inputs parsed whole are read up to this size (memory stays far under 256 MB). */
export const WHOLE_LIMIT = 32 << 20;

/** The input, checked before anything is read: "-" or an existing regular file (or FIFO). */
export async function checkInput(file: string): Promise<void> {
  if (file === '-') return;
  if (file.length > 4096 || file.includes('\0')) throw new UsageError('invalid file name');
  // A stat that fails is said as such, exit 2 below: the input is not there (or not readable).
  const st = await stat(file).catch(() => null);
  if (!st) throw new UsageError(`no such file: ${JSON.stringify(file.slice(0, 200))}`);
  if (!st.isFile() && !st.isFIFO()) throw new UsageError(`not a regular file: ${JSON.stringify(file.slice(0, 200))}`);
}

/** Reads a whole input, refusing past WHOLE_LIMIT: memory stays bounded for adversarial files. */
export async function readWhole(file: string, what: string): Promise<string> {
  const parts: Buffer[] = [];
  let n = 0;
  await feedChunks(file, (c) => {
    n += c.length;
    if (n > WHOLE_LIMIT) throw new ParseError(what, 0, '', `input larger than ${WHOLE_LIMIT >> 20} MiB`);
    parts.push(c);
  });
  return Buffer.concat(parts).toString('utf8');
}

/**
 * Hands each line of an input to `take` as it is read: memory holds one line (at most maxLine;
 * a longer one is a ParseError naming it, never a line cut short).
 */
export async function forEachLine(file: string, what: string, take: (line: string, lineNo: number) => void, maxLine = 4 << 20): Promise<void> {
  let lineNo = 0;
  const lines = new LineSplitter((l) => take(l, ++lineNo), maxLine);
  const dec = new StringDecoder('utf8');
  const overlong = () => {
    if (lines.overlong) throw new ParseError(what, lineNo + 1, '', `a line longer than ${maxLine >> 20} MiB`);
  };
  await feedChunks(file, (c) => {
    lines.push(dec.write(c));
    overlong();
  });
  lines.push(dec.end());
  lines.end();
  overlong();
}
