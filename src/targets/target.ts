/**
 * The target interface lives in lib/target.ts, below vm/ (which runs host
 * commands through a Target it is handed) and targets/ (which implements it).
 */
export type { ExecOptions, Host, RawRun, Running, Target } from '../lib/target.js';
