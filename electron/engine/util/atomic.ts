/**
 * Atomic writes: a reader (or a crash) sees either the old content or the new, never half a file.
 * The data goes to a temporary name in the same folder (same file system, so rename is atomic)
 * and is renamed into place. Nothing is overwritten unless asked, and even with `force` only what
 * the caller's `replaceable` check accepts (or, for a folder, an empty folder) is replaced.
 */
import {
  closeSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readdirSync,
  readSync,
  renameSync,
  rmdirSync,
  rmSync,
  writeSync,
  type Stats,
} from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** Error thrown when a target exists and `force` was not given. */
export class ExistsError extends Error {
  constructor(readonly target: string) {
    super(`${target} already exists (use --force to overwrite)`)
    this.name = 'ExistsError'
  }
}

/** Error thrown when a target must not be written or replaced; the message says which and why. */
export class RefusedError extends Error {
  constructor(
    readonly target: string,
    readonly reason: string,
  ) {
    super(`${target}: ${reason}; nothing was changed`)
    this.name = 'RefusedError'
  }
}

/**
 * Says whether an existing target may be replaced: null when it may, otherwise the reason why not
 * (e.g. "not a previous export of seed-qc").
 */
export type ReplaceableCheck = (target: string, st: Stats) => string | null

/** A fresh temporary sibling name for `target` (hidden, same folder). */
export function tempSibling(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

/** lstat, or undefined when nothing is there. */
export function lstatOrNone(p: string): Stats | undefined {
  try {
    return lstatSync(p)
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw e
  }
}

/** The first `n` bytes of a file as text (to recognise a file before replacing it). */
export function readHead(file: string, n: number): string {
  const fd = openSync(file, 'r')
  try {
    const buf = Buffer.alloc(n)
    return buf.subarray(0, readSync(fd, buf, 0, n, 0)).toString('utf8')
  } finally {
    closeSync(fd)
  }
}

const sameFile = (a: Stats, b: Stats | undefined) => b !== undefined && a.dev === b.dev && a.ino === b.ino

/**
 * Refuses (throws) unless an existing `file` may be replaced: it must be a regular file (never a
 * symbolic link or a folder) and pass `replaceable` when given.
 */
export function checkReplaceFile(file: string, st: Stats, replaceable?: ReplaceableCheck): void {
  if (st.isSymbolicLink()) throw new RefusedError(file, 'is a symbolic link, not replaced')
  if (!st.isFile()) throw new RefusedError(file, st.isDirectory() ? 'is a folder, not replaced by a file' : 'is not a regular file, not replaced')
  const why = replaceable?.(file, st) ?? null
  if (why !== null) throw new RefusedError(file, why)
}

/**
 * Writes `data` to `file` atomically (temp file + fsync + rename). Refuses to replace an existing
 * file unless `force`; with `force` the existing file must be a regular file (not a link, not a
 * folder) that `replaceable` accepts, checked before writing and again (same file) before the
 * rename.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: { force?: boolean; replaceable?: ReplaceableCheck } = {}): void {
  const before = lstatOrNone(file)
  if (before) {
    if (!opts.force) throw new ExistsError(file)
    checkReplaceFile(file, before, opts.replaceable)
  }
  mkdirSync(dirname(file), { recursive: true })
  const tmp = tempSibling(file)
  try {
    const fd = openSync(tmp, 'wx')
    try {
      const buf = typeof data === 'string' ? Buffer.from(data, 'utf8') : data
      let off = 0
      while (off < buf.byteLength) off += writeSync(fd, buf, off, buf.byteLength - off)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    const now = lstatOrNone(file)
    if (now) {
      if (!opts.force) throw new ExistsError(file)
      // Something else appeared or was swapped in meanwhile: check it as well.
      if (!before || !sameFile(before, now)) checkReplaceFile(file, now, opts.replaceable)
    }
    renameSync(tmp, file)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

/**
 * Moves a fully built folder `built` (a temp sibling of `target`) into place. An existing target
 * is replaced only with `force`, and only when it is a real folder (not a symbolic link) that is
 * empty or that `replaceable` accepts (without `replaceable`, only an empty folder). It is checked
 * in place, renamed aside, checked to be the same folder, and removed only after the new one is
 * in place, so a failure midway leaves one complete tree and nothing unchecked is ever deleted.
 */
export function commitDirAtomic(built: string, target: string, opts: { force?: boolean; replaceable?: ReplaceableCheck } = {}): void {
  const st = lstatOrNone(target)
  if (!st) {
    renameSync(built, target)
    return
  }
  if (!opts.force) throw new ExistsError(target)
  if (st.isSymbolicLink()) throw new RefusedError(target, 'is a symbolic link, not replaced')
  if (!st.isDirectory()) throw new RefusedError(target, 'is a file, not replaced by a folder')
  const empty = readdirSync(target).length === 0
  if (!empty) {
    if (!opts.replaceable) throw new RefusedError(target, 'is a folder that is not empty, not replaced')
    const why = opts.replaceable(target, st)
    if (why !== null) throw new RefusedError(target, why)
  }
  const aside = tempSibling(target)
  renameSync(target, aside)
  const moved = lstatOrNone(aside)
  // Swapped between the check and the rename: put it back untouched.
  if (!moved || !sameFile(st, moved) || !moved.isDirectory() || (empty && readdirSync(aside).length > 0)) {
    renameSync(aside, target)
    throw new RefusedError(target, 'changed while it was being checked, not replaced')
  }
  try {
    renameSync(built, target)
  } catch (e) {
    renameSync(aside, target)
    throw e
  }
  // rm does not follow symbolic links inside the tree: only the checked folder's own entries go.
  if (empty) rmdirSync(aside)
  else rmSync(aside, { recursive: true, force: true })
}
