/**
 * `ss -H -n -p -t -u -a sport = :PORT` (iproute2; with both -t and -u its first column is the
 * protocol, which one alone leaves out): each socket with its state, local and peer address, and
 * the processes that hold it (`users:(("comm",pid=N,fd=M),…)`; none for TIME-WAIT or SYN-RECV).
 * Pure. A line that is not ss's is a ParseError, never a socket without owner.
 */
import { ParseError } from '../lib/errors.js';

export interface SsSocket {
  proto: 'tcp' | 'udp';
  state: string;
  /** As ss prints them: 127.0.0.1:2599, [::1]:2599. */
  local: string;
  peer: string;
  users: { comm: string; pid: number; fd: number }[];
}

const USER = /\("((?:[^"\\]|\\.)*)",pid=(\d+),fd=(\d+)\)/g;

/** Address and port of an ss column ("[::1]:2599" → ["::1", 2599]; "*" ports are null). */
export function ssEndpoint(s: string): { addr: string; port: number | null } {
  const i = s.lastIndexOf(':');
  // "[fe80::1]%eth0:22", "127.0.0.1%lo:53": the device first, then the brackets.
  const addr = s.slice(0, i).replace(/%[^\]]*$/, '').replace(/^\[(.*)\]$/, '$1');
  const port = s.slice(i + 1);
  return { addr, port: /^\d+$/.test(port) ? Number(port) : null };
}

export function parseSs(text: string): SsSocket[] {
  const out: SsSocket[] = [];
  text.split('\n').forEach((line, i) => {
    if (!line.trim()) return;
    const f = line.trim().split(/\s+/);
    if (f.length < 6 || (f[0] !== 'tcp' && f[0] !== 'udp') || !/^\d+$/.test(f[2]!) || !/^\d+$/.test(f[3]!) || !f[4]!.includes(':')) {
      throw new ParseError('ss', i + 1, line.slice(0, 80), 'not a socket line of `ss -H -n -p -t -u`');
    }
    const rest = f.slice(6).join(' ');
    const users = [...rest.matchAll(USER)].map((m) => ({ comm: m[1]!.replace(/\\(.)/g, '$1'), pid: Number(m[2]), fd: Number(m[3]) }));
    out.push({ proto: f[0], state: f[1]!, local: f[4]!, peer: f[5]!, users });
  });
  return out;
}
