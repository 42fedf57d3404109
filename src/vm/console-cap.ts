import { stat, truncate, appendFile } from 'node:fs/promises';

/** The guest console log (on /run's tmpfs) is cut back to nothing past this size. */
export const CONSOLE_CAP = 4 << 20;

/**
 * Keeps the console log bounded while this nfscope runs the VM: qemu writes
 * it with O_APPEND (chardev file,append=on), so truncating it from here is
 * safe: qemu's next write lands at the new end. A guest that floods its
 * console (a soft-lockup storm under TCG) would otherwise fill /run. A VM left
 * up by `vm up` outlives this watcher; its log is bounded by its TTL only.
 */
export function capConsole(path: string, cap = CONSOLE_CAP, everyMs = 1000): () => void {
  let busy = false;
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      const st = await stat(path).catch(() => null);
      if (st && st.size > cap) {
        await truncate(path, 0).catch(() => {});
        await appendFile(path, `[nfscope: console log past ${cap >> 20} MiB, cut here]\n`).catch(() => {});
      }
    })().finally(() => (busy = false));
  }, everyMs);
  timer.unref();
  return () => clearInterval(timer);
}
