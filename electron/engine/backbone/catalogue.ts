/**
 * A short catalogue of well-known pretrained ONNX image backbones that a user with internet can
 * download, and the downloader: streamed (fetch), progress events, size and checksum checks,
 * written to a temporary name and renamed into place only when complete and verified.
 *
 * Checksums: where `sha256` is set it is the git-LFS object id recorded for that file in the ONNX
 * model zoo repository (github.com/onnx/models, at the commit in the URL), which is the sha256 of
 * the file's bytes. Where it is null we do not know the checksum: the check is size-only (the
 * exact size when `bytes` is set, otherwise the server's Content-Length), and the listing says so.
 *
 * These ImageNet classifiers keep their 1000-way classification layer: their output is the
 * 1000 class logits, used as the feature vector. That is weaker than the penultimate layer for
 * linear probing but still a pretrained representation; for the penultimate features, export
 * the model yourself without its head and use "my own .onnx file".
 */
import { createWriteStream, existsSync, mkdirSync, renameSync, rmSync, statSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import type { Progress } from '../jobs/progress.ts'
import { CancelledError } from '../jobs/progress.ts'
import { sha256File } from '../util/hash.ts'
import { imagenetSpec, type PreprocessSpec } from './preprocess.ts'

export interface CatalogueEntry {
  /** Stable id used on the command line (`--backbone resnet18-v2`). */
  id: string
  name: string
  url: string
  /** File name in the models folder. */
  file: string
  /** Exact size in bytes when known, else null (then the server's Content-Length is checked). */
  bytes: number | null
  /** sha256 of the file when known, else null (size-only check). */
  sha256: string | null
  preprocess: PreprocessSpec
  /** Feature dimension the model produces. */
  dim: number
  licence: string
  notes: string
}

const ZOO = 'https://github.com/onnx/models/raw'
// Commits at which the zoo's LFS pointers (sha256, size) below were read.
const ZOO_A = '2a67a85e670e61bf9819e9df6dae3771974552ff'
const ZOO_B = '4c46cd00fbdb7cd30b6c1c17ab54f2e1f4f7b177'

export const catalogue: CatalogueEntry[] = [
  {
    id: 'resnet18-v2',
    name: 'ResNet-18 v2 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/${ZOO_A}/validated/vision/classification/resnet/model/resnet18-v2-7.onnx`,
    file: 'resnet18-v2-7.onnx',
    bytes: 46806737,
    sha256: '3b4d048057854022232aa20bf68262e31718ab7119a17f920b8a2dc1433f824b',
    preprocess: imagenetSpec(224),
    dim: 1000,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'Closest to the paper (ResNet-34); 1000 logits as features. ~1.8 GFLOP per image.',
  },
  {
    id: 'densenet121',
    name: 'DenseNet-121 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/${ZOO_B}/validated/vision/classification/densenet-121/model/densenet-12.onnx`,
    file: 'densenet-12.onnx',
    bytes: 32726877,
    sha256: '0294e7e88e5b3360de9b0fdc321baf9e6ef18b7f058c4536caae3b9f18ed9ed5',
    preprocess: imagenetSpec(224),
    dim: 1000,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'Output is N x 1000 x 1 x 1 (pooled to 1000). ~2.9 GFLOP per image.',
  },
  {
    id: 'shufflenet-v2',
    name: 'ShuffleNet v2 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/${ZOO_B}/validated/vision/classification/shufflenet/model/shufflenet-v2-12.onnx`,
    file: 'shufflenet-v2-12.onnx',
    bytes: 9218556,
    sha256: 'ea69821b4dd374ae2f33f9710dd1229ac263d0ee5b5a46ca3521f6483e1ba035',
    preprocess: imagenetSpec(224),
    dim: 1000,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'Small and fast (~0.15 GFLOP per image); the pick for a laptop CPU.',
  },
  {
    id: 'mobilenet-v2',
    name: 'MobileNet v2 1.0 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/main/validated/vision/classification/mobilenet/model/mobilenetv2-12.onnx`,
    file: 'mobilenetv2-12.onnx',
    bytes: null,
    sha256: null,
    preprocess: imagenetSpec(224),
    dim: 1000,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'Checksum not known to us: the download is checked for size only (against Content-Length).',
  },
  {
    id: 'efficientnet-lite4',
    name: 'EfficientNet-Lite4 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/main/validated/vision/classification/efficientnet-lite4/model/efficientnet-lite4-11.onnx`,
    file: 'efficientnet-lite4-11.onnx',
    bytes: null,
    sha256: null,
    preprocess: {
      width: 224,
      height: 224,
      resize: 'shorter-side-then-center-crop',
      cropFraction: 0.875,
      channels: 3,
      channelOrder: 'rgb',
      scale: 1,
      mean: [127, 127, 127],
      std: [128, 128, 128],
      layout: 'nhwc',
    },
    dim: 1000,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'NHWC input, (pixel - 127) / 128, fixed batch of 1. Checksum not known to us: size-only check (against Content-Length).',
  },
]

/** The catalogue entry with this id, or a clear error listing the ids. */
export function catalogueEntry(id: string): CatalogueEntry {
  const e = catalogue.find((c) => c.id === id)
  if (!e) throw new Error(`no catalogue backbone '${id}' (have: ${catalogue.map((c) => c.id).join(', ')})`)
  return e
}

export interface DownloadOptions {
  progress?: Progress
  signal?: AbortSignal
  /** Override the entry (tests point it at a local server). */
  entry?: CatalogueEntry
}

/**
 * Downloads a catalogue model into `destDir` (as `entry.file`) and returns its path; an existing
 * file that passes the checks is reused. The bytes stream to `<file>.part`, are checked (size,
 * sha256 where known) and only then renamed into place, so a partial or corrupt download never
 * looks like a model.
 */
export async function downloadCatalogueModel(id: string, destDir: string, opts: DownloadOptions = {}): Promise<string> {
  const entry = opts.entry ?? catalogueEntry(id)
  mkdirSync(destDir, { recursive: true })
  const dest = join(destDir, entry.file)
  if (existsSync(dest) && (entry.bytes === null || statSync(dest).size === entry.bytes)) {
    if (!entry.sha256 || (await sha256File(dest)) === entry.sha256) return dest
  }
  const host = new URL(entry.url).host
  let res: Response
  try {
    res = await fetch(entry.url, { signal: opts.signal, redirect: 'follow' })
  } catch (e) {
    if (opts.signal?.aborted) throw new CancelledError(`download of ${entry.id}`)
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (e as Error).message
    throw new Error(`cannot reach ${host}: ${why} — download ${entry.url} on a machine with internet and use 'my own .onnx file'`)
  }
  if (!res.ok || !res.body) {
    throw new Error(`download of ${entry.id} from ${host} failed: HTTP ${res.status} ${res.statusText}`)
  }
  const header = Number(res.headers.get('content-length') ?? NaN)
  const expected = entry.bytes ?? (Number.isFinite(header) ? header : null)
  if (entry.bytes !== null && Number.isFinite(header) && header !== entry.bytes) {
    throw new Error(`download of ${entry.id}: server offers ${header} bytes, the catalogue expects ${entry.bytes}; refusing (wrong or changed file)`)
  }
  const part = `${dest}.part`
  const out = createWriteStream(part)
  const hash = createHash('sha256')
  let got = 0
  try {
    const reader = res.body.getReader()
    for (;;) {
      if (opts.signal?.aborted) throw new CancelledError(`download of ${entry.id}`)
      const { done, value } = await reader.read()
      if (done) break
      got += value.byteLength
      hash.update(value)
      if (!out.write(value)) await new Promise<void>((r) => out.once('drain', () => r()))
      opts.progress?.({ phase: 'download', done: got, total: expected ?? got, message: entry.name })
    }
    await new Promise<void>((resolveDone, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolveDone())))
    if (expected !== null && got !== expected) {
      throw new Error(`download of ${entry.id} is incomplete or wrong: got ${got} bytes, expected ${expected}`)
    }
    const sha = hash.digest('hex')
    if (entry.sha256 && sha !== entry.sha256) {
      throw new Error(`download of ${entry.id} failed its checksum: sha256 ${sha}, expected ${entry.sha256}`)
    }
    renameSync(part, dest)
    return dest
  } catch (e) {
    out.destroy()
    rmSync(part, { force: true })
    if (opts.signal?.aborted && !(e instanceof CancelledError)) throw new CancelledError(`download of ${entry.id}`)
    throw e
  }
}
