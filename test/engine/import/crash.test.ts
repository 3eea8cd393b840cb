import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawnSync } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { openDb } from '../../../electron/engine/store/db.ts'
import { listSamples } from '../../../electron/engine/store/samples.ts'
import { importImageFolder } from '../../../electron/engine/import/image-folder.ts'
import { tempDir, writeImage } from './fixtures.ts'

test('an import killed with SIGKILL keeps the batches it finished; re-import completes it', async () => {
  const dir = tempDir()
  const root = join(dir, 'data')
  for (let i = 0; i < 8; i++) await writeImage(join(root, i % 2 ? 'a' : 'b', `${i}.png`), i)
  const project = join(dir, 'p.qcdb')
  const script = join(dir, 'child.mts')
  const mod = new URL('../../../electron/engine/import/image-folder.ts', import.meta.url).href
  const db = new URL('../../../electron/engine/store/db.ts', import.meta.url).href
  writeFileSync(
    script,
    `import { importImageFolder } from ${JSON.stringify(mod)}
import { openDb } from ${JSON.stringify(db)}
const db = openDb(${JSON.stringify(project)})
await importImageFolder(db, ${JSON.stringify(root)}, { batchSize: 2, progress: (e) => { if (e.done === 4) process.kill(process.pid, 'SIGKILL') } })
`,
  )
  const r = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8' })
  assert.equal(r.signal, 'SIGKILL', r.stderr)
  const d = openDb(project)
  assert.equal(listSamples(d).length, 4, 'two batches of two were committed')
  const imp = d.prepare('SELECT added, finished_at FROM imports').get() as { added: number; finished_at: string | null }
  assert.deepEqual({ ...imp }, { added: 4, finished_at: null })
  const s = await importImageFolder(d, root)
  assert.equal(s.added, 4)
  assert.equal(s.existing, 4)
  d.close()
})
