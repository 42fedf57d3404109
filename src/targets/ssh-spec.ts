import { UsageError } from '../lib/errors.js';

export interface SshSpec {
  user: string | null;
  host: string;
  port: number | null;
}

const HOST = /^([A-Za-z0-9][A-Za-z0-9.-]{0,252}|\[[0-9A-Fa-f:.]{2,45}\])$/;
const USER = /^[a-z_][a-z0-9_.-]{0,31}$/;

/** ssh://[user@]host[:port] → parts, validated: nothing here can become an ssh option or shell text. */
export function parseSshSpec(spec: string): SshSpec {
  const m = spec.match(/^ssh:\/\/(?:([^@/]+)@)?([^:/@]+|\[[^\]]+\])(?::(\d{1,5}))?\/?$/);
  if (!m || !HOST.test(m[2]!) || (m[1] !== undefined && !USER.test(m[1]))) {
    throw new UsageError(`invalid --target ${JSON.stringify(spec.slice(0, 80))}: expected ssh://[user@]host[:port]`);
  }
  const port = m[3] ? Number(m[3]) : null;
  if (port !== null && (port < 1 || port > 65535)) throw new UsageError(`invalid ssh port ${port}`);
  return { user: m[1] ?? null, host: m[2]!.replace(/^\[|\]$/g, ''), port };
}
