// The throwaway loopback sshd lives with the scripts, so the ssh benchmark starts the same one.
// @ts-expect-error: a plain .mjs module
export { startSshd } from '../../scripts/lib/sshd.mjs';
