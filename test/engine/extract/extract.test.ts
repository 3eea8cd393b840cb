import { test } from 'node:test'
import assert from 'node:assert/strict'
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import sharp from 'sharp'
import { openDb, now, blobToVec, type Db } from '../../../electron/engine/store/db.ts'
import { ensureBackbone, loadBackbone } from '../../../electron/engine/backbone/backbone.ts'
import { preprocessImage } from '../../../electron/engine/backbone/preprocess.ts'
import { extractFeatures, ExtractCancelledError } from '../../../electron/engine/extract/extract.ts'
import { CancelledError, type ProgressEvent } from '../../../electron/engine/jobs/progress.ts'

// The built-in model is written here instead of the repository's resources/ folder.
process.env.QC_RESOURCES = mkdtempSync(join(tmpdir(), 'qc-res-'))

interface Fixture {
  dir: string
  root: string
  db: Db
  project: string
  files: string[]
}

/** A project with `distinct` generated PNGs (varied sizes and colours) plus `dupes` byte-identical copies. */
async function fixture(distinct: number, dupes: number): Promise<Fixture> {
  const dir = mkdtempSync(join(tmpdir(), 'qc-ext-'))
  const root = join(dir, 'images')
  mkdirSync(join(root, 'a'), { recursive: true })
  const files: string[] = []
  for (let i = 0; i < distinct; i++) {
    const w = 20 + (i % 5) * 7
    const h = 18 + (i % 3) * 9
    const px = Buffer.alloc(w * h * 3)
    for (let p = 0; p < w * h; p++) {
      const x = p % w
      const y = Math.floor(p / w)
      px[p * 3] = (x * (i + 3) * 11) & 255
      px[p * 3 + 1] = (y * (i + 5) * 7) & 255
      px[p * 3 + 2] = ((x + y) * i * 5) & 255
    }
    const rel = `a/img-${i}.png`
    await sharp(px, { raw: { width: w, height: h, channels: 3 } })
      .png()
      .toFile(join(root, rel))
    files.push(rel)
  }
  for (let j = 0; j < dupes; j++) {
    const rel = `a/copy-${j}.png`
    copyFileSync(join(root, files[j % distinct]!), join(root, rel))
    files.push(rel)
  }
  const project = join(dir, 'p.qcdb')
  const db = openDb(project)
  const t = now()
  const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('images', ?, ?)").run(root, t).lastInsertRowid)
  const ins = db.prepare('INSERT INTO samples (source_id, path, hash, size, added_at) VALUES (?, ?, ?, ?, ?)')
  db.transaction(() => {
    for (const rel of files) {
      const bytes = readFileSync(join(root, rel))
      ins.run(src, rel, createHash('sha256').update(bytes).digest('hex'), bytes.length, t)
    }
  })()
  return { dir, root, db, project, files }
}

function storedVectors(db: Db, backboneId: number): Map<string, Float32Array> {
  const rows = db.prepare('SELECT hash, vec FROM features WHERE backbone_id = ?').all(backboneId) as { hash: string; vec: Buffer }[]
  return new Map(rows.map((r) => [r.hash, blobToVec(r.vec)]))
}

test('extracts each distinct image once, stores what the backbone computes, reuses on a second run', async () => {
  const f = await fixture(7, 3)
  try {
    const row = await ensureBackbone(f.db, 'builtin')
    const events: ProgressEvent[] = []
    const r = await extractFeatures(f.db, { backbone: row.id, batchSize: 4, progress: (e) => events.push(e) })
    assert.equal(r.computed, 7)
    assert.equal(r.reused, 0)
    assert.deepEqual(r.failed, [])
    assert.equal(r.executionProvider, 'cpu')
    const last = events.at(-1)!
    assert.equal(last.phase, 'extract')
    assert.equal(last.done, 10)
    assert.equal(last.total, 10)
    assert.ok(events.some((e) => e.rate !== undefined))

    const stored = storedVectors(f.db, row.id)
    assert.equal(stored.size, 7)
    // The stored vector is what the backbone gives for that file on its own.
    const bb = await loadBackbone(f.db, row.id)
    const x = await preprocessImage(join(f.root, f.files[2]!), bb.spec)
    const direct = await bb.embed(x, 1)
    await bb.release()
    const hash = createHash('sha256')
      .update(readFileSync(join(f.root, f.files[2]!)))
      .digest('hex')
    const vec = stored.get(hash)!
    assert.equal(vec.length, row.dim)
    for (let i = 0; i < vec.length; i++) assert.ok(Math.abs(vec[i]! - direct[i]!) <= 1e-5 * Math.max(1, Math.abs(direct[i]!)))

    const again = await extractFeatures(f.db, { backbone: row.id })
    assert.equal(again.computed, 0)
    assert.equal(again.reused, 10)
  } finally {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})

test('a corrupt, a missing and an edited file are reported with their reason; the rest goes on', async () => {
  const f = await fixture(6, 0)
  try {
    writeFileSync(join(f.root, f.files[1]!), readFileSync(join(f.root, f.files[1]!)).subarray(0, 40)) // truncated
    rmSync(join(f.root, f.files[3]!))
    // Re-hash the truncated file so only its decode fails (an import would record this hash).
    const h = createHash('sha256')
      .update(readFileSync(join(f.root, f.files[1]!)))
      .digest('hex')
    f.db.prepare('UPDATE samples SET hash = ? WHERE path = ?').run(h, f.files[1])
    // Edited after import: content no longer matches the recorded hash.
    writeFileSync(join(f.root, f.files[4]!), readFileSync(join(f.root, f.files[0]!)))
    const row = await ensureBackbone(f.db, 'builtin')
    const r = await extractFeatures(f.db, { backbone: row.id, batchSize: 4 })
    assert.equal(r.computed, 3)
    assert.equal(r.failed.length, 3)
    const by = new Map(r.failed.map((x) => [x.path, x.reason]))
    assert.match(by.get(join(f.root, f.files[1]!))!, /truncated or corrupt image|cannot decode image/)
    assert.match(by.get(join(f.root, f.files[3]!))!, /file not found/)
    assert.match(by.get(join(f.root, f.files[4]!))!, /file changed since import/)
  } finally {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})

test('cancelling stops after the batch in progress, keeps it, and a rerun completes the rest', async () => {
  const f = await fixture(12, 0)
  try {
    const row = await ensureBackbone(f.db, 'builtin')
    const ac = new AbortController()
    await assert.rejects(
      extractFeatures(f.db, {
        backbone: row.id,
        batchSize: 3,
        signal: ac.signal,
        progress: (e) => {
          if (e.done >= 3) ac.abort()
        },
      }),
      (e: unknown) => {
        assert.ok(e instanceof CancelledError)
        assert.ok(e instanceof ExtractCancelledError)
        assert.equal(e.partial.computed, 3)
        return true
      },
    )
    assert.equal(storedVectors(f.db, row.id).size, 3)
    const rest = await extractFeatures(f.db, { backbone: row.id, batchSize: 3 })
    assert.equal(rest.computed, 9)
    assert.equal(rest.reused, 3)
  } finally {
    f.db.close()
    rmSync(f.dir, { recursive: true, force: true })
  }
})

test('kill -9 mid-extraction loses nothing stored; the resumed run computes only the rest and matches an uninterrupted run', async () => {
  const f = await fixture(16, 0)
  const g = await fixture(16, 0) // same generator, same bytes: the uninterrupted reference
  try {
    const row = await ensureBackbone(f.db, 'builtin')
    f.db.close()
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', fileURLToPath(new URL('./fixtures/extract-child.ts', import.meta.url)), f.project, String(row.id), '4', '2'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    )
    let storedAtKill = 0
    await new Promise<void>((resolveDone, reject) => {
      let out = ''
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString()
        const m = [...out.matchAll(/stored (\d+)/g)]
        if (m.length >= 2 && storedAtKill === 0) {
          storedAtKill = Number(m.at(-1)![1])
          child.kill('SIGKILL')
        }
      })
      child.on('exit', (_code, sig) => (sig === 'SIGKILL' ? resolveDone() : reject(new Error(`child exited without being killed: ${out}`))))
    })
    assert.equal(storedAtKill, 8, 'two batches of 4 were stored before the kill')

    const db = openDb(f.project)
    const before = storedVectors(db, row.id)
    assert.ok(before.size >= storedAtKill, 'every batch announced as stored survived the kill')
    const resumed = await extractFeatures(db, { backbone: row.id, batchSize: 4 })
    assert.equal(resumed.reused, before.size)
    assert.equal(resumed.computed, 16 - before.size)
    const after = storedVectors(db, row.id)
    for (const [h, v] of before) assert.deepEqual(after.get(h), v, 'stored rows are not recomputed')
    db.close()

    const ref = await ensureBackbone(g.db, 'builtin')
    await extractFeatures(g.db, { backbone: ref.id, batchSize: 4 })
    const want = storedVectors(g.db, ref.id)
    assert.equal(after.size, 16)
    assert.deepEqual([...after.keys()].sort(), [...want.keys()].sort())
    for (const [h, v] of want) {
      const got = after.get(h)!
      for (let i = 0; i < v.length; i++) assert.ok(Math.abs(got[i]! - v[i]!) <= 1e-5 * Math.max(1, Math.abs(v[i]!)))
    }
  } finally {
    g.db.close()
    rmSync(f.dir, { recursive: true, force: true })
    rmSync(g.dir, { recursive: true, force: true })
  }
})
