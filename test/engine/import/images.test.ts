import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { createHash } from 'node:crypto'
import { openImage, probeImage } from '../../../electron/engine/import/images.ts'
import { tempDir, writeImage, writePixelBomb } from './fixtures.ts'

test('accepts PNG, JPEG, TIFF, WebP and BMP with size, dimensions and sha256 of the bytes', async () => {
  const dir = tempDir()
  for (const ext of ['png', 'jpg', 'tif', 'webp', 'bmp']) {
    const f = join(dir, `a.${ext}`)
    await writeImage(f, 3, 20)
    const p = await probeImage(f)
    assert.ok(p.ok, `${ext}: ${JSON.stringify(p)}`)
    assert.equal(p.width, 20)
    assert.equal(p.height, 20)
    assert.equal(p.size, readFileSync(f).length)
    assert.equal(p.hash, createHash('sha256').update(readFileSync(f)).digest('hex'))
  }
})

test('BMP pixels decode to what was written', async () => {
  const dir = tempDir()
  const f = join(dir, 'x.bmp')
  await writeImage(f, 5, 6)
  const { data, info } = await openImage(readFileSync(f)).raw().toBuffer({ resolveWithObject: true })
  assert.equal(info.width, 6)
  for (let i = 0; i < 6 * 6 * 3; i++) assert.equal(data[i], (i * 7 + 5 * 31) & 255)
})

test('each bad file gets its reason', async () => {
  const dir = tempDir()
  const png = join(dir, 'ok.png')
  await writeImage(png, 1, 64)
  const bytes = readFileSync(png)
  writeFileSync(join(dir, 'empty.png'), '')
  writeFileSync(join(dir, 'trunc.png'), bytes.subarray(0, bytes.length - 60))
  writeFileSync(join(dir, 'notes.png'), 'this is a text file')
  symlinkSync(join(dir, 'gone.png'), join(dir, 'dangling.png'))
  mkdirSync(join(dir, 'folder.png'))
  await writePixelBomb(join(dir, 'bomb.png'))
  const reason = async (name: string) => {
    const p = await probeImage(join(dir, name))
    assert.equal(p.ok, false, name)
    return (p as { reason: string }).reason
  }
  assert.equal(await reason('empty.png'), 'empty file (0 bytes)')
  assert.match(await reason('trunc.png'), /^corrupt or truncated image data/)
  assert.equal(await reason('notes.png'), 'not an image (unrecognised format)')
  assert.equal(await reason('dangling.png'), 'unreadable: broken symbolic link')
  assert.equal(await reason('folder.png'), 'unreadable: is a directory, not a file')
  assert.equal(await reason('missing.png'), 'unreadable: file not found')
  assert.match(await reason('bomb.png'), /image too large \(pixel bomb guard\): 20000 x 20000 = 400\.0 MP, limit 100\.0 MP/)
  // The limit is configurable.
  const small = await probeImage(png, { maxPixels: 1000 })
  assert.equal(small.ok, false)
})
