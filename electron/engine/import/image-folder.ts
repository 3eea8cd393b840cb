/**
 * Import of an ImageFolder tree: `root/<class>/<image>`, with any nesting below the class folder
 * (the class is the first folder under the root). If the root holds `train/` and `test/` folders,
 * each in ImageFolder layout, both are imported with that split. Sample paths are stored relative
 * to the root, so re-importing the root finds what is already there. Under a confinement (web
 * mode), a link that leads outside the allowed folders is skipped with a reason, never followed.
 */
import { readdir, realpath, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import { ensureSource, type Split } from '../store/samples.ts'
import { throwIfAborted } from '../jobs/progress.ts'
import { OUTSIDE_REASON, type Confinement } from '../util/confine.ts'
import { ImportRun, type Candidate, type ImportOptions, type ImportSummary } from './common.ts'
import { hasImageExtension } from './images.ts'

export interface FolderImportOptions extends ImportOptions {
  /** Folders the import may read (web mode); links leading elsewhere are skipped, not followed. */
  confinement?: Confinement
}

interface Listed {
  files: { rel: string; cls: string; split: Split }[]
  skips: { path: string; reason: string }[]
}

/** Hidden files and OS litter are ignored silently, not reported as skipped. */
function ignored(name: string): boolean {
  return name.startsWith('.') || name === 'Thumbs.db' || name === 'desktop.ini' || name === '__MACOSX'
}

/** A folder's identity: device + inode (bigint, exact), or its real path where the file system has no inode numbers. */
async function folderKey(abs: string): Promise<string | undefined> {
  const st = await stat(abs, { bigint: true }).catch(() => undefined)
  if (!st) return undefined
  if (st.ino !== 0n) return `${st.dev}:${st.ino}`
  return `path:${await realpath(abs).catch(() => abs)}`
}

/**
 * Lists an import's files. Every folder entered is remembered by device + inode, so a folder
 * reached a second time (a symbolic link to an ancestor — a loop —, to another folder of the
 * tree, or two links to one folder) is skipped with a reason and its files are imported once.
 * Links to folders are followed only after every real folder has been listed, so a link never
 * takes files (and their class) away from the folder that really holds them.
 */
class Lister {
  readonly files: Listed['files'] = []
  readonly skips: Listed['skips'] = []
  /** Folder identity -> the path it was first entered by ('' for the root). */
  private readonly entered = new Map<string, string>()
  /** Symbolic links to folders, followed after the real tree. */
  private readonly links: { rel: string; cls: string; split: Split }[] = []

  constructor(
    private readonly base: string,
    private readonly signal?: AbortSignal,
    private readonly confinement?: Confinement,
  ) {}

  /** True (and a skip) when `rel` leads outside the confinement; then it is neither listed nor read. */
  private async outside(rel: string): Promise<boolean> {
    if (!this.confinement || (await this.confinement.allows(this.abs(rel)))) return false
    this.skips.push({ path: rel, reason: OUTSIDE_REASON })
    return true
  }

  private abs(rel: string): string {
    return rel === '' ? this.base : join(this.base, ...rel.split('/'))
  }

  /** Records `rel` as entered; false (and a skip) when the same folder was entered before. */
  async enter(rel: string): Promise<boolean> {
    if (rel !== '' && (await this.outside(rel))) return false
    const key = await folderKey(this.abs(rel))
    if (key === undefined) return true // vanished: readdir reports it
    const first = this.entered.get(key)
    if (first === undefined) {
      this.entered.set(key, rel)
      return true
    }
    const ancestor = first === '' || rel.startsWith(`${first}/`)
    this.skips.push({
      path: rel,
      reason: ancestor
        ? `link to an enclosing folder (${first === '' ? 'the import root' : first}): a loop, not followed`
        : `same folder as ${first} (a link or a second path to it): its files are imported once, from there`,
    })
    return false
  }

  /** Lists folder `rel` (files of class `cls`) unless it was entered before. */
  async walk(rel: string, cls: string, split: Split): Promise<void> {
    throwIfAborted(this.signal, 'import')
    if (!(await this.enter(rel))) return
    const abs = this.abs(rel)
    let entries
    try {
      entries = await readdir(abs, { withFileTypes: true })
    } catch (e) {
      this.skips.push({ path: rel, reason: `unreadable folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` })
      return
    }
    entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const e of entries) {
      if (ignored(e.name)) continue
      const child = `${rel}/${e.name}`
      if (e.isSymbolicLink()) {
        const st = await stat(join(abs, e.name)).catch(() => undefined)
        // A dangling link is handed on as a file so that validation names it.
        if (!st) this.files.push({ rel: child, cls, split })
        else if (st.isDirectory()) this.links.push({ rel: child, cls, split })
        else if (!(await this.outside(child))) this.file(child, e.name, cls, split)
      } else if (e.isDirectory()) await this.walk(child, cls, split)
      else this.file(child, e.name, cls, split)
    }
  }

  private file(rel: string, name: string, cls: string, split: Split): void {
    if (hasImageExtension(name)) this.files.push({ rel, cls, split })
    else this.skips.push({ path: rel, reason: `not an image file type (${name.includes('.') ? name.slice(name.lastIndexOf('.')) : 'no extension'})` })
  }

  /** Lists `prefix/<class>/...` (prefix '' or 'train'/'test'): class folders first, then links. */
  async tree(prefix: string, split: Split): Promise<void> {
    if (prefix !== '' && !(await this.enter(prefix))) return
    const top = this.abs(prefix)
    const entries = (await readdir(top, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
    for (const e of entries) {
      if (ignored(e.name)) continue
      const rel = prefix ? `${prefix}/${e.name}` : e.name
      const linkedDir = e.isSymbolicLink() && (await stat(join(top, e.name)).catch(() => undefined))?.isDirectory() === true
      const isDir = e.isDirectory() || linkedDir
      // An ImageFolder export of ours carries these two at its root; re-importing it is normal.
      if (!isDir && !prefix && (e.name === 'manifest.csv' || e.name === 'provenance.json')) continue
      if (!isDir) {
        this.skips.push({ path: rel, reason: `not inside a class folder (ImageFolder layout is ${prefix ? prefix + '/' : ''}<class>/<image>)` })
        continue
      }
      const cls = e.name.normalize('NFC')
      if (linkedDir) this.links.push({ rel, cls, split })
      else await this.walk(rel, cls, split)
    }
  }

  /** Follows the links to folders collected so far (and those found inside them). */
  async followLinks(): Promise<void> {
    for (let l = this.links.shift(); l; l = this.links.shift()) await this.walk(l.rel, l.cls, l.split)
  }

  /** The files in listing order (depth first, names sorted), whichever pass found them. */
  sortedFiles(): Listed['files'] {
    const seg = new Map(this.files.map((f) => [f, f.rel.split('/')]))
    const cmp = (a: string[], b: string[]): number => {
      for (let i = 0; i < Math.min(a.length, b.length); i++) if (a[i] !== b[i]) return a[i]! < b[i]! ? -1 : 1
      return a.length - b.length
    }
    const splitOrder = (s: Split) => (s === 'train' ? 0 : 1)
    return [...this.files].sort((x, y) => splitOrder(x.split) - splitOrder(y.split) || cmp(seg.get(x)!, seg.get(y)!))
  }
}

/** True when root has both train/ and test/ folders (the split layout). */
async function hasSplitLayout(root: string): Promise<boolean> {
  const isDir = async (p: string) => (await stat(p).catch(() => undefined))?.isDirectory() === true
  return (await isDir(join(root, 'train'))) && (await isDir(join(root, 'test')))
}

/**
 * Imports an ImageFolder tree into the project. Files directly under the root, non-image files
 * and files that fail validation are recorded as skipped with a reason; re-importing adds only
 * new files and reports files whose content changed at the same path.
 */
export async function importImageFolder(db: Db, root: string, opts: FolderImportOptions = {}): Promise<ImportSummary> {
  const abs = resolve(root)
  const st = await stat(abs).catch(() => undefined)
  if (!st) throw new Error(`${abs}: no such folder`)
  if (!st.isDirectory()) throw new Error(`${abs}: not a folder (an ImageFolder import needs root/<class>/<image>)`)
  const lister = new Lister(abs, opts.signal, opts.confinement)
  await lister.enter('')
  const others: Listed['skips'] = []
  const splitLayout = await hasSplitLayout(abs)
  if (splitLayout) {
    await lister.tree('train', 'train')
    await lister.tree('test', 'test')
    for (const e of await readdir(abs, { withFileTypes: true })) {
      if (!ignored(e.name) && e.name !== 'train' && e.name !== 'test')
        others.push({ path: e.name, reason: 'outside train/ and test/ (the root has the split layout)' })
    }
  } else {
    await lister.tree('', opts.split ?? 'train')
  }
  await lister.followLinks()
  const listed: Listed = { files: lister.sortedFiles(), skips: [...lister.skips, ...others] }
  const sourceId = ensureSource(db, 'images', abs)
  const run = new ImportRun(db, 'imagefolder', abs, sourceId, opts)
  // Class indices follow sorted folder names, as torchvision's ImageFolder does.
  run.declareClasses([...new Set(listed.files.map((f) => f.cls))].sort())
  const candidates: Candidate[] = listed.files.map((f) => ({
    sourceId,
    path: f.rel,
    file: join(abs, ...f.rel.split('/')),
    split: f.split,
    // Without train/ and test/ the folder says nothing about the split: a re-import keeps each
    // sample's own (a sample moved to the test split stays there).
    splitStated: splitLayout,
    given: f.cls,
    trusted: null,
  }))
  return run.run(candidates, listed.skips)
}
