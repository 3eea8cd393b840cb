/**
 * Atomic writes: a reader (or a crash) sees either the old content or the new, never half a file.
 * The data goes to a temporary name in the same folder (same file system, so rename is atomic)
 * and is renamed into place. Nothing is overwritten unless asked.
 */
import { closeSync, existsSync, fsyncSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import { randomBytes } from 'node:crypto'

/** Error thrown when a target exists and `force` was not given. */
export class ExistsError extends Error {
  constructor(readonly target: string) {
    super(`${target} already exists (use --force to overwrite)`)
    this.name = 'ExistsError'
  }
}

/** A fresh temporary sibling name for `target` (hidden, same folder). */
export function tempSibling(target: string): string {
  return join(dirname(target), `.${basename(target)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`)
}

/**
 * Writes `data` to `file` atomically (temp file + fsync + rename). Refuses to replace an existing
 * file unless `force`.
 */
export function writeFileAtomic(file: string, data: string | Uint8Array, opts: { force?: boolean } = {}): void {
  if (!opts.force && existsSync(file)) throw new ExistsError(file)
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
    if (!opts.force && existsSync(file)) throw new ExistsError(file)
    renameSync(tmp, file)
  } catch (e) {
    rmSync(tmp, { force: true })
    throw e
  }
}

/**
 * Moves a fully built folder `built` (a temp sibling of `target`) into place. With `force` an
 * existing target is first renamed aside and removed only after the new one is in place, so a
 * failure midway leaves one complete tree.
 */
export function commitDirAtomic(built: string, target: string, opts: { force?: boolean } = {}): void {
  if (!existsSync(target)) {
    renameSync(built, target)
    return
  }
  if (!opts.force) throw new ExistsError(target)
  const aside = tempSibling(target)
  renameSync(target, aside)
  try {
    renameSync(built, target)
  } catch (e) {
    renameSync(aside, target)
    throw e
  }
  rmSync(aside, { recursive: true, force: true })
}
