/**
 * Many small files read in one command: `LC_ALL=C grep -a -H '' -- FILE...` prints every line of
 * every file as `FILE:LINE` (GNU grep 3.8 and 3.11 alike). On a guest under qemu TCG a command is
 * about 90 ms whatever it does, so the 60-odd net.netfilter sysctls cost 5-6 s read one `cat` at a
 * time, and a tenth of a second this way. Pure.
 *
 * What grep cannot say in its output is said on stderr, one line a file, which is read here too: a
 * file gone since it was listed ("No such file or directory", "No such device": its module went)
 * is reported as gone; any other message (a read error, a file grep would not read) is an error the
 * caller fails on. A file with no line at all is read as empty.
 */
export interface GrepFiles {
  values: Map<string, string>;
  gone: string[];
  /** stderr lines that are not a file gone: the read failed. */
  errors: string[];
}

const GONE = /^grep: (.+): (No such file or directory|No such device)$/;

export function parseGrepFiles(paths: readonly string[], stdout: string, stderr: string): GrepFiles {
  const gone: string[] = [];
  const errors: string[] = [];
  for (const line of stderr.split('\n').filter((l) => l.trim())) {
    const m = GONE.exec(line);
    if (m && paths.includes(m[1]!)) gone.push(m[1]!);
    else errors.push(line);
  }
  // Longest first: of two paths where one with its colon begins the other (`/a` and `/a:b`), a line
  // of the longer is never taken for the shorter's.
  const byLength = [...paths].sort((a, b) => b.length - a.length);
  const lines = new Map<string, string[]>(paths.filter((p) => !gone.includes(p)).map((p) => [p, []]));
  const text = stdout.endsWith('\n') ? stdout.slice(0, -1) : stdout;
  for (const line of text ? text.split('\n') : []) {
    const path = byLength.find((p) => line.startsWith(`${p}:`));
    const into = path === undefined ? undefined : lines.get(path);
    if (into === undefined) {
      errors.push(`a line of no file asked for: ${JSON.stringify(line.slice(0, 120))}`);
      continue;
    }
    into.push(line.slice(path!.length + 1));
  }
  const values = new Map([...lines].map(([p, ls]) => [p, ls.map((l) => `${l}\n`).join('')]));
  return { values, gone, errors };
}
