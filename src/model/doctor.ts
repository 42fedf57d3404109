import type { Capabilities } from './capabilities.js';

export const DOCTOR_SCHEMA_VERSION = 1;

/** `nfscope doctor --json`. */
export type DoctorReport = { schemaVersion: number; target: string } & Capabilities;
