/**
 * The recent-projects list of the app (recent.json in the data folder): newest first, at most
 * `MAX_RECENT`, written atomically; a missing or damaged file reads as an empty list.
 */
import { readFileSync } from 'node:fs'
import { writeFileAtomic } from '../engine/util/atomic.ts'

const MAX_RECENT = 12

export interface RecentEntry {
  path: string
  name: string
  openedAt: string
}

export class RecentProjects {
  constructor(readonly file: string) {}

  list(): RecentEntry[] {
    try {
      const v = JSON.parse(readFileSync(this.file, 'utf8')) as unknown
      if (!Array.isArray(v)) return []
      return v.filter((r): r is RecentEntry => !!r && typeof r.path === 'string' && typeof r.name === 'string' && typeof r.openedAt === 'string')
    } catch {
      return []
    }
  }

  /** Puts `path` first (moving it when it is already listed). */
  remember(path: string, name: string): void {
    const list = this.list().filter((r) => r.path !== path)
    list.unshift({ path, name, openedAt: new Date().toISOString() })
    writeFileAtomic(this.file, JSON.stringify(list.slice(0, MAX_RECENT), null, 2), { force: true })
  }
}
