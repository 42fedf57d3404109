import { constants } from 'node:fs';
import { lstat, open, realpath, rename, stat, unlink } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { basename, dirname, join, sep } from 'node:path';
import { UsageError } from './errors.js';

/** Directories whose files are devices or kernel interfaces, never reports. */
const DEVICE_DIRS = ['/dev', '/proc', '/sys', '/run/udev'];

function refuse(path: string, why: string): never {
  throw new UsageError(`--report ${JSON.stringify(path.slice(0, 120))}: ${why}`);
}

/**
 * Checks that nobody but root and us can change dir or any directory above it:
 * each is owned by root or by us and writable by no one else, unless it has the
 * sticky bit (/tmp), where others can add names but not replace ours. Without
 * this, another user who owns a directory on the path could swap it for a
 * symlink between our checks and our rename (OpenSSH's StrictModes, for files).
 */
async function checkDirChain(path: string, dir: string): Promise<void> {
  const me = process.getuid?.() ?? 0;
  for (let d = dir; ; d = dirname(d)) {
    const st = await stat(d);
    if (!st.isDirectory()) refuse(path, `${d} is not a directory`);
    if (st.uid !== 0 && st.uid !== me) refuse(path, `${d} belongs to uid ${st.uid}: another user could replace the report by a link to a file of yours`);
    if ((st.mode & 0o022) !== 0 && (st.mode & 0o1000) === 0 /* sticky */) refuse(path, `${d} can be written by other users`);
    if (d === dirname(d)) return;
  }
}

/** Refuses what may not be replaced by a report: a symlink, a device, a directory. */
async function checkTarget(path: string, full: string): Promise<void> {
  const st = await lstat(full).catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return null;
    throw e;
  });
  if (st?.isSymbolicLink()) refuse(path, 'is a symbolic link: refused (it could point at any file)');
  if (st && !st.isFile()) refuse(path, 'exists and is not a regular file');
}

/**
 * Checks a report path at option time (exit 2 before anything runs): its
 * directory resolves outside device directories and is safe, the name is not a
 * symlink or a non-regular file. writeReport checks all of it again at write time.
 */
export async function checkReportTarget(path: string): Promise<string> {
  if (path === '' || path.includes('\0') || path.length > 4096 || /[\n\r]/.test(path)) throw new UsageError('invalid --report file name');
  let dir: string;
  try {
    dir = await realpath(dirname(path));
  } catch {
    refuse(path, `directory ${dirname(path)} does not exist`);
  }
  if (DEVICE_DIRS.some((d) => dir === d || dir.startsWith(d + sep))) refuse(path, `${dir} holds devices or kernel files, not reports`);
  await checkDirChain(path, dir);
  const full = join(dir, basename(path));
  await checkTarget(path, full);
  return full;
}

/**
 * Writes a report: a new file of our own (O_EXCL | O_NOFOLLOW, 0644) in the
 * target's directory, fsync'd, then renamed over the name. rename() replaces a
 * name, never follows it, so a symlink planted after the last check is
 * replaced, not written through; and a reader never sees half a report.
 */
export async function writeReport(path: string, content: string): Promise<void> {
  const full = await checkReportTarget(path);
  await writeFileAtomic(full, content, () => checkTarget(path, full));
}

/**
 * Temp-and-rename: a new file of our own (O_EXCL | O_NOFOLLOW) beside the
 * name, fsync'd, then renamed over it; `check` runs just before the rename.
 */
export async function writeFileAtomic(full: string, content: string | Buffer, check: () => Promise<void> = async () => {}, mode = 0o644): Promise<void> {
  const tmp = join(dirname(full), `.${basename(full)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, mode);
  try {
    await fh.writeFile(content);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await check();
    await rename(tmp, full);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}
