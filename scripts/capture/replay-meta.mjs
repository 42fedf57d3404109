#!/usr/bin/env node
// replay-meta.mjs EXIT KERNEL TOOLS SETUP -- ARGV...: the meta.json beside a replay recording
// (replay-host.sh, replay-vm.sh), on stdout: the argv the test replays (it adds --target replay:FILE),
// the exit status, the tool versions, the kernel, when and how it was captured.
const [exit, kernel, tool, setup, sep, ...argv] = process.argv.slice(2);
if (sep !== '--' || !argv.length) throw new Error('usage: replay-meta.mjs EXIT KERNEL TOOLS SETUP -- ARGV...');
process.stdout.write(JSON.stringify({ argv, exit: Number(exit), tool, kernel, captured: new Date().toISOString(), setup }, null, 2) + '\n');
