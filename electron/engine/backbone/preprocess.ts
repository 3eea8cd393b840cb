/**
 * The preprocessing a backbone expects, stored with it (JSON in backbones.preprocess), and the
 * function that turns an image file into the model's input tensor. Decoding is sharp (libvips):
 * EXIF auto-rotation, alpha flattened on white, colour converted to the channel count the model
 * takes, resize, then scale/mean/std and layout in TypeScript.
 */
import sharp from 'sharp'
import { readBmpAsRaw } from '../util/bmp.ts'

export type ResizeMode = 'stretch' | 'shorter-side-then-center-crop'
export type Layout = 'nchw' | 'nhwc'

export interface PreprocessSpec {
  /** Model input width and height in pixels. */
  width: number
  height: number
  /**
   * 'stretch': resize to width x height ignoring the aspect ratio (right for square inspection
   * crops and for the built-in backbone). 'shorter-side-then-center-crop': scale so that the image
   * covers width x height, then cut the centre (the ImageNet convention, see `cropFraction`).
   */
  resize: ResizeMode
  /**
   * For 'shorter-side-then-center-crop': the crop keeps this fraction of the resized shorter side
   * (torchvision's Resize(256) + CenterCrop(224) is 224/256 = 0.875). Default 1 (no margin).
   */
  cropFraction?: number
  /** 1: grayscale input (colour images are converted to luma); 3: colour (grayscale replicated). */
  channels: 1 | 3
  channelOrder: 'rgb' | 'bgr'
  /** Pixel values 0..255 are multiplied by this first (1/255 for most models). */
  scale: number
  /** Per channel, in the model's channel order, applied after scale: (v * scale - mean) / std. */
  mean: number[]
  std: number[]
  layout: Layout
}

/** Input side used when a model's spatial dims are dynamic (the ImageNet convention). */
export const DEFAULT_INPUT_SIZE = 224

/** sharp's own default pixel limit is 0x3FFF * 0x3FFF (268 MP); an inspection image is far smaller. */
export const DEFAULT_MAX_PIXELS = 100_000_000

/** ImageNet preprocessing as torchvision models expect it. */
export function imagenetSpec(size = DEFAULT_INPUT_SIZE, layout: Layout = 'nchw'): PreprocessSpec {
  return {
    width: size,
    height: size,
    resize: 'shorter-side-then-center-crop',
    cropFraction: 0.875,
    channels: 3,
    channelOrder: 'rgb',
    scale: 1 / 255,
    mean: [0.485, 0.456, 0.406],
    std: [0.229, 0.224, 0.225],
    layout,
  }
}

/** Number of float values one image occupies in the input tensor. */
export function inputSize(spec: PreprocessSpec): number {
  return spec.width * spec.height * spec.channels
}

/**
 * Checks a preprocessing spec (from the database, a catalogue entry or a user's JSON) and returns
 * it typed; `where` names the origin in the error.
 */
export function parsePreprocess(value: unknown, where = 'preprocess'): PreprocessSpec {
  const fail = (why: string): never => {
    throw new Error(`${where}: invalid preprocessing spec: ${why}`)
  }
  const v = (typeof value === 'string' ? JSON.parse(value) : value) as Record<string, unknown>
  if (!v || typeof v !== 'object') fail('not an object')
  const posInt = (k: string): number => {
    const x = v[k]
    if (typeof x !== 'number' || !Number.isInteger(x) || x < 1 || x > 8192) fail(`${k} must be an integer 1..8192`)
    return x as number
  }
  const width = posInt('width')
  const height = posInt('height')
  if (v.resize !== 'stretch' && v.resize !== 'shorter-side-then-center-crop') fail(`resize must be 'stretch' or 'shorter-side-then-center-crop'`)
  if (v.channels !== 1 && v.channels !== 3) fail('channels must be 1 or 3')
  if (v.channelOrder !== 'rgb' && v.channelOrder !== 'bgr') fail(`channelOrder must be 'rgb' or 'bgr'`)
  if (v.layout !== 'nchw' && v.layout !== 'nhwc') fail(`layout must be 'nchw' or 'nhwc'`)
  if (typeof v.scale !== 'number' || !Number.isFinite(v.scale)) fail('scale must be a number')
  const channels = v.channels as 1 | 3
  const vec = (k: string): number[] => {
    const x = v[k]
    if (!Array.isArray(x) || x.length !== channels || !x.every((n) => typeof n === 'number' && Number.isFinite(n))) {
      fail(`${k} must be ${channels} number(s), one per channel`)
    }
    return x as number[]
  }
  const mean = vec('mean')
  const std = vec('std')
  if (std.some((s) => s === 0)) fail('std must not be 0')
  const spec: PreprocessSpec = {
    width,
    height,
    resize: v.resize as ResizeMode,
    channels,
    channelOrder: v.channelOrder as 'rgb' | 'bgr',
    scale: v.scale as number,
    mean,
    std,
    layout: v.layout as Layout,
  }
  if (v.cropFraction !== undefined) {
    const c = v.cropFraction
    if (typeof c !== 'number' || !(c > 0 && c <= 1)) fail('cropFraction must be in (0, 1]')
    spec.cropFraction = c as number
  }
  return spec
}

export interface DecodeOptions {
  /** Refuse images with more pixels than this (decompression-bomb guard). */
  maxPixels?: number
  /** The input is raw 8-bit interleaved pixels of this geometry, not an encoded file. */
  raw?: { width: number; height: number; channels: 1 | 2 | 3 | 4 }
}

/**
 * Decodes and resizes an image to the spec's size and channel count: 8-bit interleaved pixels
 * (height x width x channels, RGB order). Throws an Error whose message starts with the file and
 * says why it could not be read.
 */
export async function decodeImagePixels(file: string | Buffer, spec: PreprocessSpec, opts: DecodeOptions = {}): Promise<Uint8Array> {
  const name = typeof file === 'string' ? file : '<buffer>'
  const maxPixels = opts.maxPixels ?? DEFAULT_MAX_PIXELS
  try {
    // failOn 'error' refuses truncated/corrupt data instead of returning a half-grey image.
    // sharp 0.35 has no BMP loader; util/bmp.ts decodes it (import accepts BMP).
    const bmp = opts.raw ? undefined : await readBmpAsRaw(file)
    let img = sharp(bmp ? bmp.data : file, {
      limitInputPixels: maxPixels,
      failOn: 'error',
      ...(bmp ? { raw: bmp.raw } : opts.raw ? { raw: opts.raw } : {}),
    })
      .rotate() // EXIF orientation
      .flatten({ background: '#ffffff' })
    if (spec.resize === 'stretch') {
      img = img.resize(spec.width, spec.height, { fit: 'fill', kernel: 'lanczos3' })
    } else {
      const f = spec.cropFraction ?? 1
      const w = Math.round(spec.width / f)
      const h = Math.round(spec.height / f)
      img = img.resize(w, h, { fit: 'cover', position: 'centre', kernel: 'lanczos3' })
      if (w !== spec.width || h !== spec.height) {
        img = img.extract({
          left: Math.floor((w - spec.width) / 2),
          top: Math.floor((h - spec.height) / 2),
          width: spec.width,
          height: spec.height,
        })
      }
    }
    img = spec.channels === 1 ? img.grayscale() : img.toColourspace('srgb')
    const { data, info } = await img.raw({ depth: 'uchar' }).toBuffer({ resolveWithObject: true })
    if (info.channels !== spec.channels || info.width !== spec.width || info.height !== spec.height) {
      throw new Error(`decoded to ${info.width}x${info.height}x${info.channels}, expected ${spec.width}x${spec.height}x${spec.channels}`)
    }
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength)
  } catch (e) {
    throw new Error(`${name}: ${describeDecodeError(e as Error, maxPixels)}`)
  }
}

/** Turns libvips' wording into a reason a user can act on. */
function describeDecodeError(e: Error, maxPixels: number): string {
  const m = e.message
  if (/pixel limit/i.test(m))
    return `image is larger than the ${maxPixels.toLocaleString('en')}-pixel limit (refused as a possible decompression bomb)`
  if (/unsupported image format/i.test(m)) return 'not an image sharp can read (unsupported or unrecognised format)'
  if (/ENOENT|no such file/i.test(m)) return 'file not found'
  if (/EACCES|permission/i.test(m)) return 'permission denied'
  if (/premature end|truncated|unexpected end|not enough data|read error|out of order/i.test(m)) return `truncated or corrupt image (${firstLine(m)})`
  return `cannot decode image (${firstLine(m)})`
}

function firstLine(s: string): string {
  return (s.split('\n')[0] ?? s).trim()
}

/**
 * Writes 8-bit interleaved pixels (HWC, RGB or gray) into `out` at `offset` as the model's input:
 * (v * scale - mean[c]) / std[c], channel order and layout as the spec says.
 */
export function pixelsToTensor(px: Uint8Array, spec: PreprocessSpec, out: Float32Array, offset = 0): void {
  const { width: w, height: h, channels: c } = spec
  const hw = w * h
  // Per channel affine a*v + b with a = scale/std, b = -mean/std (channel in model order).
  const a = new Float32Array(c)
  const b = new Float32Array(c)
  for (let k = 0; k < c; k++) {
    a[k] = spec.scale / spec.std[k]!
    b[k] = -spec.mean[k]! / spec.std[k]!
  }
  // src channel for model channel k: reversed for BGR.
  const src = Array.from({ length: c }, (_, k) => (spec.channelOrder === 'bgr' ? c - 1 - k : k))
  if (spec.layout === 'nchw') {
    for (let k = 0; k < c; k++) {
      const ak = a[k]!
      const bk = b[k]!
      const s = src[k]!
      const base = offset + k * hw
      for (let p = 0; p < hw; p++) out[base + p] = px[p * c + s]! * ak + bk
    }
  } else {
    for (let p = 0; p < hw; p++) {
      const o = offset + p * c
      for (let k = 0; k < c; k++) out[o + k] = px[p * c + src[k]!]! * a[k]! + b[k]!
    }
  }
}

/**
 * Reads an image file and returns the model input for one image (length `inputSize(spec)`), or
 * writes it into `out` at `offset` when given.
 */
export async function preprocessImage(
  file: string | Buffer,
  spec: PreprocessSpec,
  out?: Float32Array,
  offset = 0,
  opts: DecodeOptions = {},
): Promise<Float32Array> {
  const px = await decodeImagePixels(file, spec, opts)
  const target = out ?? new Float32Array(inputSize(spec))
  pixelsToTensor(px, spec, target, out ? offset : 0)
  return target
}
