#!/usr/bin/env bash
# test.sh - install what is missing, build, and run the whole test suite
# (unit, parser and the end-to-end tests against this machine's real kernel).
# Ends with each file's time (longest first), the count of retried, skipped and
# failed tests, and a plain "N passed, N failed, N skipped" line. Exits non-zero
# when any test failed. (`npm run test:unit` is the quick, pure subset.)
#
# With no arguments the suite runs in two lanes at once, then a last part alone:
#   vm:    the micro-VM files (qemu under TCG runs a guest's vCPUs on one host thread: one core);
#   host:  the host and unit files, on the other core (none boots a VM);
#   alone: the files another lane's run would disturb, or that would disturb it: vagrant-cycle
#          (a libvirt network namespace and any new qemu are the cycle's), hooks-fleet (two VMs and
#          twenty sshd at once, each with a deadline), lab-scenarios.vm (udp-race runs a thread per
#          vCPU: two cores), safety.host (it writes the state file of a VM left up, which the VM
#          lane's `vm up` uses) and kernels.host (`vm kernels --refresh` rewrites the package lists
#          the VM lane resolves its kernels from).
# A VM file moved to the alone part costs no time: the VM lane is the longer one.
# The lanes tell each other's processes, namespaces and journals apart as another run's
# (scripts/fault/machine-state.mjs: NFSCOPE_TEST_OWNER differs per vitest process).
# With arguments (a file filter, vitest options) it is one vitest run of what they select.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
A=test/artifacts
mkdir -p "$A"
rm -f "$A"/vitest*.json "$A"/suite-summary*.json "$A"/lane-*.log

# vitest 4's JSON report has no retry count and its file times leave out imports and beforeAll:
# test/helpers/summary-reporter.ts writes both, one file a run.
vt() {
  local name=$1; shift
  NFSCOPE_SUMMARY_OUT="$A/suite-summary-$name.json" npx vitest run --reporter=default --reporter=json \
    --outputFile.json="$A/vitest-$name.json" --reporter=./test/helpers/summary-reporter.ts "$@"
}

rc=0
t0=$(date +%s)
if [ $# -gt 0 ]; then
  vt all "$@" || rc=$?
else
  ALONE=(vagrant-cycle.vm hooks-fleet.vm lab-scenarios.vm safety.host kernels.host)
  EXCLUDE=(); for f in "${ALONE[@]}"; do EXCLUDE+=(--exclude "**/$f.test.ts"); done
  # The host lane's runs journal in a directory of their own (0700, root's): `nfscope cleanup`
  # leaves shared state such as the tracefs mount while another nfscope run is alive, and the VM
  # lane's runs are alive all along (fault.host failed so, its tracefs left mounted).
  host_journals=$(mktemp -d "${TMPDIR:-/tmp}/nfscope-lane-journals.XXXXXX")
  # In a process group of its own (setsid), so that an interrupted suite stops the whole lane.
  export -f vt; export A
  # At a lower priority (nice 10): the VM lane is the longer one, and a guest's vCPU thread that
  # shares its core with the host lane ran half as fast again (qemu.vm: 396 s alone, 592 s beside it);
  # the host lane has the slack.
  NFSCOPE_JOURNAL_DIR=$host_journals nice -n 10 setsid bash -c 'vt host --exclude "**/*.vm.test.ts" "$@"' lane "${EXCLUDE[@]}" > "$A/lane-host.log" 2>&1 &
  host_pid=$!
  trap 'kill -- -"$host_pid" 2>/dev/null || true; rm -rf "$host_journals"' EXIT
  echo "=== lane vm (the host lane runs at once; its output follows when both are done: $A/lane-host.log)"
  vm_rc=0
  vt vm "${EXCLUDE[@]}" .vm.test.ts || vm_rc=$?
  host_rc=0
  wait "$host_pid" || host_rc=$?
  trap - EXIT
  # Its tests check that no journal is left; a directory that is not empty says otherwise.
  if ! rmdir "$host_journals"; then echo "the host lane left journals: $(ls "$host_journals")"; rm -rf "$host_journals"; [ "$host_rc" != 0 ] || host_rc=1; fi
  echo "=== lane host (exit $host_rc)"
  cat "$A/lane-host.log"
  echo "=== alone: ${ALONE[*]}"
  alone_rc=0
  vt alone "${ALONE[@]/%/.test.ts}" || alone_rc=$?
  # A lane that ended before its reporter wrote leaves no counts below: said here, with its exit.
  for l in vm:$vm_rc host:$host_rc alone:$alone_rc; do
    echo "lane ${l%%:*}: exit ${l#*:}$([ -f "$A/vitest-${l%%:*}.json" ] || echo ', NO REPORT: its tests are missing from the counts below')"
    [ "${l#*:}" = 0 ] || rc=${l#*:}
  done
fi
wall=$(( $(date +%s) - t0 ))

WALL=$wall node -e '
  const fs = require("fs");
  const dir = "test/artifacts";
  const parts = fs.readdirSync(dir).filter((f) => /^suite-summary-.*\.json$/.test(f));
  if (!parts.length) { console.log("no suite summary: the run ended before the reporter wrote it"); process.exit(0); }
  const files = parts.flatMap((p) => JSON.parse(fs.readFileSync(`${dir}/${p}`, "utf8")).files).sort((a, b) => b.seconds - a.seconds);
  const total = files.reduce((t, f) => t + f.seconds, 0);
  console.log("\nper file (seconds, longest first):");
  for (const f of files) console.log(`${f.seconds.toFixed(1).padStart(8)}  ${f.file}${f.state === "failed" ? "  FAILED" : ""}`);
  console.log(`${total.toFixed(1).padStart(8)}  total of the files (${(total / 60).toFixed(1)} min); wall ${(process.env.WALL / 60).toFixed(1)} min`);
  const tests = files.flatMap((f) => f.tests.map((t) => ({ ...t, file: f.file })));
  const retried = tests.filter((t) => t.retries > 0);
  const skipped = tests.filter((t) => t.state === "skipped" || t.state === "pending");
  const failed = tests.filter((t) => t.state === "failed");
  console.log(`\n${retried.length} retried, ${skipped.length} skipped, ${failed.length} failed`);
  for (const t of retried) console.log(`  retried ${t.retries}x: ${t.file} > ${t.name}`);
  for (const t of failed) console.log(`  failed: ${t.file} > ${t.name}`);
' || true
node -e '
  const fs = require("fs");
  const dir = "test/artifacts";
  const rs = fs.readdirSync(dir).filter((f) => /^vitest-.*\.json$/.test(f)).map((f) => JSON.parse(fs.readFileSync(`${dir}/${f}`, "utf8")));
  const sum = (k) => rs.reduce((t, r) => t + r[k], 0);
  console.log(`${sum("numPassedTests")} passed, ${sum("numFailedTests")} failed, ${sum("numPendingTests") + sum("numTodoTests")} skipped`);
' || true
exit "$rc"
