/**
 * Confinement to a set of folders (web mode: the data folder and the dataset roots the server was
 * started with). A path is judged by its real path — every symbolic link resolved — so a link
 * inside an allowed folder that leads out of it is outside. A path that does not exist yet (a
 * new project file, an export destination) is judged by the real path of its nearest existing
 * folder with the rest of the path appended.
 */
import { lstatSync, readlinkSync, realpathSync } from 'node:fs'
import { realpath } from 'node:fs/promises'
import { basename, dirname, isAbsolute, join, relative, resolve } from 'node:path'

/** True when `child` is `parent` or lies below it (both absolute, normalised). */
export function isInside(child: string, parent: string): boolean {
  const rel = relative(parent, child)
  return rel === '' || (!rel.startsWith('..') && !isAbsolute(rel))
}

/**
 * The real path of `path`: every link resolved. For a path that does not exist, the real path of
 * its nearest existing ancestor joined with the missing rest (which then holds no links: it does
 * not exist). A dangling link is followed to where it points, since writing through it would
 * create its target. Throws on a loop of links.
 */
export function realpathNearest(path: string, hops = 0): string {
  if (hops > 40) throw new Error(`${path}: too many levels of symbolic links`)
  let abs = resolve(path)
  const rest: string[] = []
  for (;;) {
    try {
      return join(realpathSync(abs), ...rest.reverse())
    } catch {
      let link
      try {
        link = lstatSync(abs)
      } catch {
        link = undefined
      }
      if (link?.isSymbolicLink()) return realpathNearest(join(resolve(dirname(abs), readlinkSync(abs)), ...rest.reverse()), hops + 1)
      const up = dirname(abs)
      if (up === abs) return join(abs, ...rest.reverse())
      rest.push(basename(abs))
      abs = up
    }
  }
}

/** The folders paths must lie under, by real path. */
export class Confinement {
  /** Real paths of the allowed folders. */
  readonly roots: readonly string[]

  /** `folders` must exist (a folder that does not resolve is kept as given, normalised). */
  constructor(folders: readonly string[]) {
    this.roots = [...new Set(folders.map((f) => realpathNearest(f)))]
  }

  /** Whether a real path lies under one of the folders. */
  contains(real: string): boolean {
    return this.roots.some((r) => isInside(real, r))
  }

  /** The real path of `path` when it lies under one of the folders, else undefined (synchronous). */
  resolve(path: string): string | undefined {
    let real: string
    try {
      real = realpathNearest(path)
    } catch {
      return undefined
    }
    return this.contains(real) ? real : undefined
  }

  /** Whether an existing file or folder (links followed) lies under one of the folders; false when it cannot be resolved. */
  async allows(path: string): Promise<boolean> {
    const real = await realpath(path).catch(() => undefined)
    return real !== undefined && this.contains(real)
  }
}

/** The reason recorded when an import meets a path outside its confinement (never the path it leads to). */
export const OUTSIDE_REASON = 'leads outside the folders this server may read (the data folder and its --root folders): not read'
