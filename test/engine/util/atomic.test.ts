import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { commitDirAtomic, ExistsError, RefusedError, tempSibling, writeFileAtomic } from '../../../electron/engine/util/atomic.ts'
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

test('commitDirAtomic moves a built folder into place; force replaces only an empty folder or one the check accepts', () => {
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
  // Force alone does not replace a folder with content: the caller must recognise it as its own.
  assert.throws(
    () => commitDirAtomic(second, target, { force: true }),
    (e: Error) => e instanceof RefusedError && /not empty, not replaced/.test(e.message),
  )
  assert.throws(
    () => commitDirAtomic(second, target, { force: true, replaceable: () => 'not ours' }),
    (e: Error) => e instanceof RefusedError && e.message === `${target}: not ours; nothing was changed`,
  )
  assert.equal(readFileSync(join(target, 'f.txt'), 'utf8'), 'v1')
  commitDirAtomic(second, target, { force: true, replaceable: (d) => (readFileSync(join(d, 'f.txt'), 'utf8') === 'v1' ? null : 'not ours') })
  assert.equal(readFileSync(join(target, 'f.txt'), 'utf8'), 'v2')
  assert.deepEqual(readdirSync(dir), ['tree'])
  // An empty folder is replaced; a symbolic link never is.
  const empty = join(dir, 'empty')
  mkdirSync(empty)
  const t3 = tempSibling(empty)
  mkdirSync(t3)
  commitDirAtomic(t3, empty, { force: true })
  const link = join(dir, 'link')
  symlinkSync(target, link)
  const t4 = tempSibling(link)
  mkdirSync(t4)
  assert.throws(() => commitDirAtomic(t4, link, { force: true, replaceable: () => null }), /is a symbolic link, not replaced/)
  assert.equal(readFileSync(join(target, 'f.txt'), 'utf8'), 'v2')
})

test('writeFileAtomic with force replaces only a regular file the check accepts, never a link', () => {
  const dir = mkdtempSync(join(tmpdir(), 'qc-atomic-'))
  const f = join(dir, 'out.csv')
  writeFileSync(f, 'theirs')
  assert.throws(() => writeFileAtomic(f, 'ours', { force: true, replaceable: () => 'not ours' }), /out\.csv: not ours; nothing was changed/)
  assert.equal(readFileSync(f, 'utf8'), 'theirs')
  const link = join(dir, 'link.csv')
  symlinkSync(f, link)
  assert.throws(() => writeFileAtomic(link, 'ours', { force: true }), /is a symbolic link, not replaced/)
  writeFileAtomic(f, 'ours', { force: true, replaceable: () => null })
  assert.equal(readFileSync(f, 'utf8'), 'ours')
  assert.deepEqual(readdirSync(dir).sort(), ['link.csv', 'out.csv'])
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
