import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { commitDirAtomic, ExistsError, tempSibling, writeFileAtomic } from '../../../electron/engine/util/atomic.ts'
import { sha256Bytes, sha256File } from '../../../electron/engine/util/hash.ts'

test('writeFileAtomic creates folders, refuses to overwrite without force, leaves no temp files', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-atomic-'))
  const f = join(dir, 'a', 'b', 'out.csv')
  writeFileAtomic(f, 'one')
  assert.equal(readFileSync(f, 'utf8'), 'one')
  assert.throws(
    () => writeFileAtomic(f, 'two'),
    (e: Error) => e instanceof ExistsError && e.message === `${f} already exists (use --force to overwrite)`,
  )
  assert.equal(readFileSync(f, 'utf8'), 'one')
  writeFileAtomic(f, Buffer.from('three'), { force: true })
  assert.equal(readFileSync(f, 'utf8'), 'three')
  assert.deepEqual(readdirSync(join(dir, 'a', 'b')), ['out.csv'])
})

test('commitDirAtomic moves a built folder into place, replacing only with force', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-atomic-'))
  const target = join(dir, 'tree')
  const build = (content: string) => {
    const t = tempSibling(target)
    mkdirSync(t)
    writeFileSync(join(t, 'f.txt'), content)
    return t
  }
  commitDirAtomic(build('v1'), target)
  const second = build('v2')
  assert.throws(() => commitDirAtomic(second, target), /tree already exists/)
  assert.equal(readFileSync(join(target, 'f.txt'), 'utf8'), 'v1')
  commitDirAtomic(second, target, { force: true })
  assert.equal(readFileSync(join(target, 'f.txt'), 'utf8'), 'v2')
  assert.deepEqual(readdirSync(dir), ['tree'])
})

test('sha256 of files (streamed) and of typed arrays matches node:crypto', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-hash-'))
  const f = join(dir, 'big.bin')
  const data = Buffer.alloc(3_000_000)
  for (let i = 0; i < data.length; i++) data[i] = (i * 131) & 255
  writeFileSync(f, data)
  assert.equal(await sha256File(f), createHash('sha256').update(data).digest('hex'))
  const v = Float32Array.from([1, 2, 3, 4]).subarray(1, 3)
  assert.equal(
    sha256Bytes(v),
    createHash('sha256')
      .update(Buffer.from(Float32Array.from([2, 3]).buffer))
      .digest('hex'),
  )
  await assert.rejects(sha256File(join(dir, 'none')), /none: cannot read \(ENOENT\)/)
})
