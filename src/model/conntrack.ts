/** One flow of `conntrack -L` (conntrack-tools 1.4). */
export interface CtEntry {
  l3: string | null;
  proto: string;
  timeout: number | null;
  state: string | null;
  original: Record<string, string>;
  reply: Record<string, string>;
  flags: string[];
  extra: Record<string, string>;
}
