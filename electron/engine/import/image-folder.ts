/**
 * Import of an ImageFolder tree: `root/<class>/<image>`, with any nesting below the class folder
 * (the class is the first folder under the root). If the root holds `train/` and `test/` folders,
 * each in ImageFolder layout, both are imported with that split. Sample paths are stored relative
 * to the root, so re-importing the root finds what is already there.
 */
import { readdir, stat } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import type { Db } from '../store/db.ts'
import { ensureSource, type Split } from '../store/samples.ts'
import { throwIfAborted } from '../jobs/progress.ts'
import { ImportRun, type Candidate, type ImportOptions, type ImportSummary } from './common.ts'
import { hasImageExtension } from './images.ts'

interface Listed {
  files: { rel: string; cls: string; split: Split }[]
  skips: { path: string; reason: string }[]
}

/** Hidden files and OS litter are ignored silently, not reported as skipped. */
function ignored(name: string): boolean {
  return name.startsWith('.') || name === 'Thumbs.db' || name === 'desktop.ini' || name === '__MACOSX'
}

/** Lists `dir` recursively as paths relative to `base` ('/' separators). */
async function walk(base: string, relDir: string, out: string[], skips: Listed['skips'], seen: Set<string>, signal?: AbortSignal): Promise<void> {
  throwIfAborted(signal, 'import')
  const abs = join(base, ...relDir.split('/'))
  let entries
  try {
    entries = await readdir(abs, { withFileTypes: true })
  } catch (e) {
    skips.push({ path: relDir, reason: `unreadable folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})` })
    return
  }
  entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    if (ignored(e.name)) continue
    const rel = `${relDir}/${e.name}`
    let isDir = e.isDirectory()
    if (e.isSymbolicLink()) {
      const st = await stat(join(abs, e.name)).catch(() => undefined)
      // A dangling link is handed on as a file so that validation names it.
      if (!st) {
        out.push(rel)
        continue
      }
      isDir = st.isDirectory()
      if (isDir) {
        const key = `${st.dev}:${st.ino}`
        if (seen.has(key)) continue // symlink loop
        seen.add(key)
      }
    }
    if (isDir) await walk(base, rel, out, skips, seen, signal)
    else if (hasImageExtension(e.name)) out.push(rel)
    else
      skips.push({ path: rel, reason: `not an image file type (${e.name.includes('.') ? e.name.slice(e.name.lastIndexOf('.')) : 'no extension'})` })
  }
}

async function listTree(root: string, prefix: string, split: Split, signal?: AbortSignal): Promise<Listed> {
  const files: Listed['files'] = []
  const skips: Listed['skips'] = []
  const top = join(root, ...(prefix ? [prefix] : []))
  const entries = (await readdir(top, { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0))
  for (const e of entries) {
    if (ignored(e.name)) continue
    const rel = prefix ? `${prefix}/${e.name}` : e.name
    const isDir = e.isDirectory() || (e.isSymbolicLink() && (await stat(join(top, e.name)).catch(() => undefined))?.isDirectory() === true)
    // An ImageFolder export of ours carries these two at its root; re-importing it is normal.
    if (!isDir && !prefix && (e.name === 'manifest.csv' || e.name === 'provenance.json')) continue
    if (!isDir) {
      skips.push({ path: rel, reason: `not inside a class folder (ImageFolder layout is ${prefix ? prefix + '/' : ''}<class>/<image>)` })
      continue
    }
    const paths: string[] = []
    await walk(root, rel, paths, skips, new Set(), signal)
    for (const p of paths) files.push({ rel: p, cls: e.name.normalize('NFC'), split })
  }
  return { files, skips }
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
export async function importImageFolder(db: Db, root: string, opts: ImportOptions = {}): Promise<ImportSummary> {
  const abs = resolve(root)
  const st = await stat(abs).catch(() => undefined)
  if (!st) throw new Error(`${abs}: no such folder`)
  if (!st.isDirectory()) throw new Error(`${abs}: not a folder (an ImageFolder import needs root/<class>/<image>)`)
  let listed: Listed
  if (await hasSplitLayout(abs)) {
    const tr = await listTree(abs, 'train', 'train', opts.signal)
    const te = await listTree(abs, 'test', 'test', opts.signal)
    const others = (await readdir(abs, { withFileTypes: true }))
      .filter((e) => !ignored(e.name) && e.name !== 'train' && e.name !== 'test')
      .map((e) => ({ path: e.name, reason: 'outside train/ and test/ (the root has the split layout)' }))
    listed = { files: [...tr.files, ...te.files], skips: [...tr.skips, ...te.skips, ...others] }
  } else {
    listed = await listTree(abs, '', opts.split ?? 'train', opts.signal)
  }
  const sourceId = ensureSource(db, 'images', abs)
  const run = new ImportRun(db, 'imagefolder', abs, sourceId, opts)
  // Class indices follow sorted folder names, as torchvision's ImageFolder does.
  run.declareClasses([...new Set(listed.files.map((f) => f.cls))].sort())
  const candidates: Candidate[] = listed.files.map((f) => ({
    sourceId,
    path: f.rel,
    file: join(abs, ...f.rel.split('/')),
    split: f.split,
    given: f.cls,
    trusted: null,
  }))
  return run.run(candidates, listed.skips)
}
