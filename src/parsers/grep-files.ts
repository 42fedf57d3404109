/**
 * Many small files read in one command: `LC_ALL=C grep -a -H '' -- FILE...` prints every line of
 * every file as `FILE:LINE` (GNU grep 3.8 and 3.11 alike). On a guest under qemu TCG a command is
 * about 90 ms whatever it does, so the 60-odd net.netfilter sysctls cost 5-6 s read one `cat` at a
 * time, and a tenth of a second this way. Pure.
 *
 * What grep cannot say in its output is said on stderr, one line a file, which is read here too: a
 * file gone since it was listed ("No such file or directory", "No such device": its module went)
 * is reported as gone; any other message (a read error, a file grep would not read) is an error.
 * grep's exit status is read with it: 0 lines printed, 1 none at all, 2 a file it could not read
 * (an error unless every such file is gone); anything else, or no status (a timeout), an error.
 * A file with no line at all is listed as empty. Each value ends in a newline, as grep prints one
 * after a last line that had none.
 */
export interface GrepFiles {
  values: Map<string, string>;
  gone: string[];
  /** Files that printed no line. */
  empty: string[];
  /** Why the read cannot be taken as it is (none: the values and gone files are all there is). */
  errors: string[];
}

const GONE = /^grep: (.+): (No such file or directory|No such device)$/;

export function parseGrepFiles(paths: readonly string[], run: { exitCode: number | null; stdout: string; stderr: string; timedOut?: boolean }): GrepFiles {
  const gone: string[] = [];
  const errors: string[] = [];
  if (run.timedOut) errors.push('grep timed out');
  if (run.exitCode === null || ![0, 1, 2].includes(run.exitCode)) errors.push(`grep exited ${run.exitCode ?? 'on a signal'}`);
  for (const line of run.stderr.split('\n').filter((l) => l.trim())) {
    const m = GONE.exec(line);
    if (m && paths.includes(m[1]!)) gone.push(m[1]!);
    else errors.push(line);
  }
  if (run.exitCode === 2 && gone.length === 0 && errors.length === 0) errors.push('grep exited 2 and said of no file why');
  // Longest first: of two paths where one with its colon begins the other (`/a` and `/a:b`), a line
  // of the longer is never taken for the shorter's.
  const byLength = [...paths].sort((a, b) => b.length - a.length);
  const lines = new Map<string, string[]>(paths.filter((p) => !gone.includes(p)).map((p) => [p, []]));
  const text = run.stdout.endsWith('\n') ? run.stdout.slice(0, -1) : run.stdout;
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
  const empty = [...lines].filter(([, ls]) => ls.length === 0).map(([p]) => p);
  return { values, gone, empty, errors };
}
