import { execa, type ResultPromise } from 'execa';
import { access, readFile, readdir } from 'node:fs/promises';
import { constants } from 'node:fs';
import { delimiter, join, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ExecOptions, RawRun, Running, Target } from './target.js';

/** The package root (…/nfscope), found from this file in src/ or dist/. */
export const PACKAGE_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

function toRaw(argv: string[], r: {
  stdout?: unknown; stderr?: unknown; exitCode?: number | undefined; signal?: string | undefined;
  timedOut?: boolean; durationMs?: number;
}): RawRun {
  return {
    argv,
    stdout: typeof r.stdout === 'string' ? r.stdout : '',
    stderr: typeof r.stderr === 'string' ? r.stderr : '',
    exitCode: r.exitCode ?? null,
    signal: r.signal,
    timedOut: r.timedOut ?? false,
    durationMs: r.durationMs ?? 0,
  };
}

/** The machine nfscope runs on. argv goes straight to execve: no shell. */
export class LocalTarget implements Target {
  readonly name = 'local';

  async exec(argv: string[], opts: ExecOptions = {}): Promise<RawRun> {
    const [file, ...args] = argv;
    if (!file) throw new Error('empty argv');
    const r = await execa(file, args, {
      reject: false,
      timeout: opts.timeoutMs,
      input: opts.input,
      env: opts.env,
      stdin: opts.input === undefined ? 'ignore' : 'pipe',
      stripFinalNewline: false,
      killSignal: 'SIGKILL',
    });
    return toRaw(argv, r);
  }

  spawn(argv: string[], opts: ExecOptions = {}): Running {
    const [file, ...args] = argv;
    if (!file) throw new Error('empty argv');
    const child: ResultPromise = execa(file, args, {
      reject: false,
      timeout: opts.timeoutMs,
      env: opts.env,
      stdin: 'ignore',
      stripFinalNewline: false,
      killSignal: 'SIGKILL',
      // Own process group: a Ctrl-C at the terminal reaches nfscope, which
      // then stops the tracer itself, in order, instead of racing it.
      detached: true,
      cleanup: true,
    });
    const listeners: ((l: string) => void)[] = [];
    let partial = '';
    child.stdout?.on('data', (chunk: Buffer) => {
      const text = partial + chunk.toString('utf8');
      const lines = text.split('\n');
      partial = lines.pop() ?? '';
      for (const l of lines) for (const cb of listeners) cb(l);
    });
    const done = child.then((r) => toRaw(argv, r));
    let stopping: Promise<RawRun> | null = null;
    return {
      argv,
      done,
      onLine: (cb) => listeners.push(cb),
      stop: (graceMs = 3000) => {
        stopping ??= (async () => {
          if (child.exitCode === null && child.signalCode === null) {
            child.kill('SIGINT');
            const t = setTimeout(() => child.kill('SIGKILL'), graceMs);
            const r = await done;
            clearTimeout(t);
            return r;
          }
          return done;
        })();
        return stopping;
      },
    };
  }

  async readFile(path: string): Promise<string | null> {
    try {
      return await readFile(path, 'utf8');
    } catch {
      return null;
    }
  }

  async readFileBuffer(path: string): Promise<Buffer | null> {
    try {
      return await readFile(path);
    } catch {
      return null;
    }
  }

  async listDir(path: string): Promise<string[] | null> {
    try {
      return await readdir(path);
    } catch {
      return null;
    }
  }

  async exists(path: string): Promise<boolean> {
    try {
      await access(path);
      return true;
    } catch {
      return false;
    }
  }

  async which(program: string): Promise<string | null> {
    const dirs = (process.env.PATH ?? '').split(delimiter).concat(['/usr/sbin', '/sbin', '/usr/bin', '/bin']);
    for (const d of dirs) {
      if (!d) continue;
      const p = join(d, program);
      try {
        await access(p, constants.X_OK);
        return p;
      } catch {
        /* next */
      }
    }
    return null;
  }

  async bundled(rel: string): Promise<string> {
    return join(PACKAGE_ROOT, rel);
  }
}
