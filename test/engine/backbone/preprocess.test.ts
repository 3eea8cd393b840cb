import { test } from 'node:test'
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import sharp from 'sharp'
import { decodeImagePixels, parsePreprocess, preprocessImage, type PreprocessSpec } from '../../../electron/engine/backbone/preprocess.ts'

const tmp = (): string => mkdtempSync(join(tmpdir(), 'qc-pre-'))

// A 2x2 RGB image with known pixels, row-major: red, green / blue, (10, 20, 30).
const PX = [255, 0, 0, 0, 255, 0, 0, 0, 255, 10, 20, 30]

const base: PreprocessSpec = {
  width: 2,
  height: 2,
  resize: 'stretch',
  channels: 3,
  channelOrder: 'rgb',
  scale: 1 / 255,
  mean: [0.5, 0.25, 0],
  std: [0.5, 0.25, 2],
  layout: 'nchw',
}

async function png(dir: string, name: string, px: number[], w: number, h: number, channels: 1 | 3 | 4): Promise<string> {
  const file = join(dir, name)
  await sharp(Buffer.from(px), { raw: { width: w, height: h, channels } })
    .png()
    .toFile(file)
  return file
}

const close = (a: ArrayLike<number>, b: number[], eps = 1e-6): void => {
  assert.equal(a.length, b.length)
  for (let i = 0; i < b.length; i++) assert.ok(Math.abs(a[i]! - b[i]!) < eps, `index ${i}: ${a[i]} vs ${b[i]}`)
}

test('layout, channel order, scale, mean and std on a tiny image with known pixels', async () => {
  const dir = tmp()
  try {
    const file = await png(dir, 'rgb.png', PX, 2, 2, 3)
    const norm = (v: number, c: number): number => (v / 255 - base.mean[c]!) / base.std[c]!
    // NCHW RGB: plane R, plane G, plane B.
    const nchw = await preprocessImage(file, base)
    const want: number[] = []
    for (let c = 0; c < 3; c++) for (let p = 0; p < 4; p++) want.push(norm(PX[p * 3 + c]!, c))
    close(nchw, want)
    // NHWC BGR: per pixel B, G, R; the model's channel 0 (B) gets mean[0]/std[0].
    const nhwc = await preprocessImage(file, { ...base, layout: 'nhwc', channelOrder: 'bgr' })
    const want2: number[] = []
    for (let p = 0; p < 4; p++) for (let k = 0; k < 3; k++) want2.push(norm(PX[p * 3 + (2 - k)]!, k))
    close(nhwc, want2)
    // Written into a larger batch at an offset.
    const batch = new Float32Array(30).fill(-7)
    await preprocessImage(file, base, batch, 18)
    close(batch.subarray(18), want)
    assert.equal(batch[17], -7)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('colour to 1 channel is luma; gray to 3 channels is replicated; alpha is flattened on white', async () => {
  const dir = tmp()
  try {
    const file = await png(dir, 'rgb.png', PX, 2, 2, 3)
    const gray = await decodeImagePixels(file, { ...base, channels: 1, mean: [0], std: [1] })
    assert.equal(gray.length, 4)
    // libvips' b-w conversion is CIE luminance in linear light, re-encoded as sRGB:
    // Y = 0.2126 R + 0.7152 G + 0.0722 B on linearised values (IEC 61966-2-1 transfer curve).
    const lin = (v: number): number => (v / 255 <= 0.04045 ? v / 255 / 12.92 : ((v / 255 + 0.055) / 1.055) ** 2.4)
    const enc = (y: number): number => 255 * (y <= 0.0031308 ? 12.92 * y : 1.055 * y ** (1 / 2.4) - 0.055)
    const luma = [0, 1, 2, 3].map((p) => enc(0.2126 * lin(PX[p * 3]!) + 0.7152 * lin(PX[p * 3 + 1]!) + 0.0722 * lin(PX[p * 3 + 2]!)))
    for (let p = 0; p < 4; p++) assert.ok(Math.abs(gray[p]! - luma[p]!) < 3, `pixel ${p}: ${gray[p]} vs ${luma[p]}`)

    const gfile = await png(dir, 'gray.png', [0, 50, 100, 200], 2, 2, 1)
    const rgb = await decodeImagePixels(gfile, base)
    assert.deepEqual([...rgb], [0, 0, 0, 50, 50, 50, 100, 100, 100, 200, 200, 200])

    // A 16-bit grayscale PNG (as line cameras write) comes out as the same 8-bit levels.
    const g16 = join(dir, 'gray16.png')
    await sharp(Buffer.from([0, 50, 100, 200]), { raw: { width: 2, height: 2, channels: 1 } })
      .toColourspace('grey16')
      .png()
      .toFile(g16)
    assert.equal((await sharp(g16).metadata()).depth, 'ushort')
    assert.deepEqual([...(await decodeImagePixels(g16, base))], [0, 0, 0, 50, 50, 50, 100, 100, 100, 200, 200, 200])

    // Fully transparent black pixel becomes white; opaque stays.
    const afile = await png(dir, 'alpha.png', [0, 0, 0, 0, 0, 0, 0, 255, 0, 0, 0, 255, 0, 0, 0, 255], 2, 2, 4)
    const flat = await decodeImagePixels(afile, base)
    assert.deepEqual([...flat.subarray(0, 3)], [255, 255, 255])
    assert.deepEqual([...flat.subarray(3, 6)], [0, 0, 0])
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('EXIF orientation is applied and the centre crop keeps the middle', async () => {
  const dir = tmp()
  try {
    // 8 wide x 4 high: left half black, right half white. Orientation 6 = rotate 90 degrees clockwise
    // for display, so the upright image is 4 wide x 8 high with black on top.
    const px: number[] = []
    for (let y = 0; y < 4; y++) for (let x = 0; x < 8; x++) px.push(x < 4 ? 0 : 255)
    const file = join(dir, 'rot.jpg')
    await sharp(Buffer.from(px), { raw: { width: 8, height: 4, channels: 1 } })
      .jpeg({ quality: 100 })
      .withMetadata({ orientation: 6 })
      .toFile(file)
    const out = await decodeImagePixels(file, { ...base, width: 4, height: 8, channels: 1, mean: [0], std: [1] })
    assert.ok(out[0]! < 40, 'top-left should be black after rotation')
    assert.ok(out[7 * 4 + 3]! > 215, 'bottom-right should be white after rotation')

    // 6x2 image with columns 0..5 distinct; a cover-crop to 2x2 keeps the middle two columns.
    const cols: number[] = []
    for (let y = 0; y < 2; y++) for (let x = 0; x < 6; x++) cols.push(x * 40)
    const wide = await png(dir, 'wide.png', cols, 6, 2, 1)
    const crop = await decodeImagePixels(wide, { ...base, channels: 1, mean: [0], std: [1], resize: 'shorter-side-then-center-crop' })
    assert.deepEqual([...crop], [80, 120, 80, 120])

    // cropFraction 0.5 (like torchvision's Resize(256) + CenterCrop(224), at 0.875): an 8x8 image
    // with distinct values is already at the resize target, so the crop is its middle 4x4.
    const grid: number[] = Array.from({ length: 64 }, (_, i) => i * 4)
    const sq = await png(dir, 'sq.png', grid, 8, 8, 1)
    const mid = await decodeImagePixels(sq, {
      ...base,
      width: 4,
      height: 4,
      channels: 1,
      mean: [0],
      std: [1],
      resize: 'shorter-side-then-center-crop',
      cropFraction: 0.5,
    })
    const want: number[] = []
    for (let y = 2; y < 6; y++) for (let x = 2; x < 6; x++) want.push((y * 8 + x) * 4)
    assert.deepEqual([...mid], want)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('undecodable input names the file and the reason', async () => {
  const dir = tmp()
  try {
    const good = await png(dir, 'big.png', new Array(64 * 64).fill(128), 64, 64, 1)
    await assert.rejects(decodeImagePixels(good, base, { maxPixels: 1000 }), (e: Error) => {
      assert.match(e.message, /big\.png: image is larger than the 1,000-pixel limit \(refused as a possible decompression bomb\)/)
      return true
    })
    const junk = join(dir, 'junk.png')
    writeFileSync(junk, 'this is not an image')
    await assert.rejects(decodeImagePixels(junk, base), /junk\.png: not an image sharp can read/)
    const trunc = join(dir, 'trunc.png')
    writeFileSync(trunc, readFileSync(good).subarray(0, 60))
    await assert.rejects(decodeImagePixels(trunc, base), /trunc\.png: /)
    await assert.rejects(decodeImagePixels(join(dir, 'missing.png'), base), /missing\.png: /)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('parsePreprocess accepts a valid spec (also as JSON) and names what is wrong', () => {
  assert.deepEqual(parsePreprocess(JSON.stringify(base)), base)
  assert.throws(() => parsePreprocess({ ...base, channels: 2 }, 'x.json'), /x\.json: invalid preprocessing spec: channels must be 1 or 3/)
  assert.throws(() => parsePreprocess({ ...base, mean: [0] }), /mean must be 3 number\(s\)/)
  assert.throws(() => parsePreprocess({ ...base, std: [1, 0, 1] }), /std must not be 0/)
  assert.throws(() => parsePreprocess({ ...base, layout: 'chw' }), /layout must be 'nchw' or 'nhwc'/)
})
