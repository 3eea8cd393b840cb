/**
 * Every entry under `root`, sorted: folders, links (with their target) and files (with the sha256
 * of their content), for tests that assert nothing on disk changed. SQLite's -shm file is left
 * out: it is a shared-memory index that SQLite rewrites on every read of a WAL-mode database, not
 * data.
 */
import { createHash } from 'node:crypto'
import { lstatSync, readdirSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'

export function snapshot(root: string): string[] {
  const out: string[] = []
  const walk = (rel: string): void => {
    const abs = rel ? join(root, rel) : root
    for (const name of readdirSync(abs).sort()) {
      if (name.endsWith('-shm')) continue
      const r = rel ? `${rel}/${name}` : name
      const st = lstatSync(join(abs, name))
      if (st.isSymbolicLink()) out.push(`link ${r} -> ${readlinkSync(join(abs, name))}`)
      else if (st.isDirectory()) {
        out.push(`dir  ${r}`)
        walk(r)
      } else
        out.push(
          `file ${r} ${createHash('sha256')
            .update(readFileSync(join(abs, name)))
            .digest('hex')}`,
        )
    }
  }
  walk('')
  return out
}
