// bench-sandbox.mjs - the traffic the rate benchmarks drive (trace-syn-rate, follow-rate):
// nfscope's trace-syn sandbox (client and server netns, a DROP rule on `port`), a listener
// on port + 1, and burst(mode): `count` SYNs to the dropped port ('syn') or full connections
// to the open one ('connect'), timed by payload/net/burst.py in the client netns.
import { join } from 'node:path';

export async function rateSandbox(root, t, c, { port, count, timeoutMs = 300_000 }) {
  const { createSandbox } = await import(join(root, 'dist/experiments/sandbox.js'));
  const { inNetns } = await import(join(root, 'dist/tools/netns.js'));
  const sb = await createSandbox(t, c, { family: 'ipv4', port, firewall: 'iptables', afterConfirm: false });
  const listener = t.spawn(inNetns(sb.server, ['python3', join(root, 'payload/net/listen.py'), sb.serverAddr, String(port + 1)]));
  c.push('stop listener', async () => { await listener.stop(200); });
  await new Promise((r) => listener.onLine((l) => l === 'READY' && r()));
  const burst = async (mode) => {
    const p = mode === 'syn' ? port : port + 1;
    const r = await t.exec(inNetns(sb.client, ['python3', join(root, 'payload/net/burst.py'), mode, sb.serverAddr, String(p), String(count)]), { timeoutMs });
    if (r.exitCode !== 0) throw new Error(r.stderr);
    return JSON.parse(r.stdout).rate;
  };
  return { sb, burst };
}
