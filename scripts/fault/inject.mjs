#!/usr/bin/env node
// fault/inject.mjs - issue 7: run nfscope commands that change kernel state
// (trace-syn, graph) and interrupt each at a random moment with SIGINT,
// SIGTERM, SIGHUP (a closed terminal), SIGKILL, by closing the pipe its
// stdout and stderr go to (`nfscope … 2>&1 | head -1`, issue 15), or by a
// second SIGINT once its teardown has begun (an impatient Ctrl-C Ctrl-C,
// issue 26: the undo must still run to its end); after a SIGKILL,
// `nfscope cleanup` runs. After each run
// the machine must be as before: no netns, link, nft table, iptables rule,
// tracefs mount or setting, kprobe event, journal or process of ours, and the
// root namespace's `nft list ruleset` (and iptables-save) unchanged. The comparison is
// machine-state.mjs's: what appeared since the first run began, not counting another run's state.
// Usage: node scripts/fault/inject.mjs [--runs 100] [--seed N] [--json]
// The test suite imports faultRuns() for 30 runs (test/e2e/fault.host.test.ts).
import { spawn, spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { machineState, stateDiff } from './machine-state.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
const CLI = join(ROOT, 'dist', 'main.js');

const COMMANDS = [
  ['trace-syn', '--port', '2571', '--count', '3'],
  ['trace-syn', '--port', '2571', '--family', 'ipv6', '--firewall', 'nft'],
  ['trace-syn', '--port', '2572', '--after-confirm', '--count', '2'],
  ['graph', '--port', '2571', '--firewall', 'nft'],
  ['graph', '--port', '2573', '--family', 'ipv6'],
];
const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGKILL', 'PIPE', 'SIGINT2'];
/** 128 + signo; a closed pipe is SIGPIPE's 141; SIGINT2 (a second SIGINT during teardown) is SIGINT's. */
const EXIT = { SIGINT: 130, SIGTERM: 143, SIGHUP: 129, PIPE: 141, SIGINT2: 130 };
/** What nfscope prints when its teardown starts (lib/cleanup.ts), and at a signal during it. */
const TEARDOWN_STARTS = /nfscope: SIGINT: undoing (\d+) change\(s\)/;
const STILL_UNDOING = /still undoing/;

/** mulberry32: a seeded generator, so a failing run can be replayed with --seed. */
export function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function oneRun(argv, sig, delayMs, before) {
  const child = spawn(process.execPath, [CLI, ...argv, '--json'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d) => (stderr += d));
  child.stdout.resume();
  // PIPE: the reader goes away, as `| head -1` does: both pipes' read ends are closed.
  const interrupt = () => (sig === 'PIPE' ? (child.stdout.destroy(), child.stderr.destroy()) : child.kill(sig === 'SIGINT2' ? 'SIGINT' : sig));
  let exitedYet = false;
  const exited = new Promise((res) => child.on('exit', (code, signal) => { exitedYet = true; res({ code, signal }); }));
  // SIGINT2: the second SIGINT goes the moment the teardown says it started, while it undoes.
  let second = null;
  if (sig === 'SIGINT2') {
    child.stderr.on('data', () => {
      if (second === null && TEARDOWN_STARTS.test(stderr) && !exitedYet) {
        child.kill('SIGINT');
        second = { sentAtStderrBytes: stderr.length };
      }
    });
  }
  const early = await Promise.race([exited.then(() => true), sleep(delayMs).then(() => false)]);
  if (!early) interrupt();
  const timeout = sleep(90_000).then(() => ({ code: null, signal: 'timeout' }));
  const r = await Promise.race([exited, timeout]);
  if (r.signal === 'timeout') child.kill('SIGKILL');
  let cleanup = null;
  if (sig === 'SIGKILL' || r.code !== 0) {
    const c = spawnSync(process.execPath, [CLI, 'cleanup', '--json'], { encoding: 'utf8' });
    cleanup = { code: c.status, journals: c.status === 0 ? JSON.parse(c.stdout).journals.length : null, stderr: c.stderr };
  }
  // Children (syn.py, bpftrace under pdeathsig) need a moment to go after a SIGKILL.
  const stillRunning = () => stateDiff(before, machineState()).some((l) => l.startsWith('process '));
  for (let i = 0; i < 40 && stillRunning(); i++) await sleep(50);
  // Whether the second SIGINT reached a teardown still at work (it says so), or came as it ended.
  const secondSigint = second === null ? null : STILL_UNDOING.test(stderr.slice(second.sentAtStderrBytes)) ? 'during teardown' : 'as it ended';
  const teardownChanges = Number(TEARDOWN_STARTS.exec(stderr)?.[1] ?? NaN);
  return { finishedFirst: early, exit: r, cleanup, secondSigint, teardownChanges, stderrTail: stderr.split('\n').slice(-4).join('\n') };
}

export async function faultRuns({ runs = 30, seed = Date.now() % 100000, maxDelayMs = 2500, log = () => {} } = {}) {
  const rand = rng(seed);
  const before = machineState();
  const results = [];
  for (let i = 0; i < runs; i++) {
    const argv = COMMANDS[Math.floor(rand() * COMMANDS.length)];
    const sig = SIGNALS[i % SIGNALS.length]; // each way of ending a run, in turn
    const delayMs = Math.floor(rand() * maxDelayMs);
    const r = await oneRun(argv, sig, delayMs, before);
    const left = stateDiff(before, machineState());
    // A signal the run handled must end it with 128+signo (it may also have finished first: 0).
    // (Before node has installed nfscope's handlers, ~50 ms, the signal's default action ends it: same meaning.)
    const okExit = r.finishedFirst ? r.exit.code === 0
      // (A run that ends as the signal is sent exits 0: it finished first, which is fine too.)
      : sig === 'SIGKILL' ? r.exit.signal === 'SIGKILL' || r.exit.code === 0
      : r.exit.code === EXIT[sig] || r.exit.code === 0 || r.exit.signal === (sig === 'SIGINT2' ? 'SIGINT' : sig);
    const res = { i, argv: argv.join(' '), sig, delayMs, exit: r.exit, cleanup: r.cleanup, leftovers: left, okExit, secondSigint: r.secondSigint, teardownChanges: r.teardownChanges };
    results.push(res);
    log(`${String(i + 1).padStart(3)} ${sig.padEnd(7)} at ${String(delayMs).padStart(4)} ms  ${argv.join(' ').padEnd(52)} exit ${r.exit.code ?? r.exit.signal}` +
      `${r.secondSigint ? ` · 2nd SIGINT ${r.secondSigint}` : ''}` +
      `${r.cleanup ? ` · cleanup ${r.cleanup.code} (${r.cleanup.journals} journal)` : ''}${left.length ? ` · LEFTOVERS: ${left.join('; ')}` : ''}${okExit ? '' : ` · BAD EXIT ${r.stderrTail}`}`);
    if (left.length) break; // the next runs would compare against a dirty machine
  }
  return {
    seed, runs: results.length, leftovers: results.filter((r) => r.leftovers.length).length, badExits: results.filter((r) => !r.okExit).length,
    secondSigintDuringTeardown: results.filter((r) => r.secondSigint === 'during teardown').length, results,
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const args = process.argv.slice(2);
  const opt = (n, d) => (args.includes(`--${n}`) ? args[args.indexOf(`--${n}`) + 1] : d);
  const r = await faultRuns({ runs: Number(opt('runs', '100')), seed: Number(opt('seed', String(Date.now() % 100000))), log: args.includes('--json') ? () => {} : console.log });
  if (args.includes('--json')) console.log(JSON.stringify(r, null, 2));
  else console.log(`seed ${r.seed}: ${r.runs} runs, ${r.leftovers} with leftovers (goal 0), ${r.badExits} with an unexpected exit; a second SIGINT reached a teardown at work in ${r.secondSigintDuringTeardown}`);
  process.exitCode = r.leftovers || r.badExits ? 1 : 0;
}
