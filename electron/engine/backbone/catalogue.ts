/**
 * A catalogue of pretrained ONNX image backbones for linear probing that a user with internet can
 * download, and the downloader: streamed (fetch), progress events, size and checksum checks,
 * written to a temporary name and renamed into place only when complete and verified.
 *
 * Every entry names its feature tensor: the pooled features that feed the network's classifier
 * (what the paper probes), not its 1000 ImageNet logits. The graph is edited in memory to output
 * that tensor (backbone/feature-layer.ts); registration checks that it gives `dim` values.
 *
 * Where the figures come from (the publishers' own listings):
 * - ONNX model zoo (github.com/onnx/models, commit ZOO below): sha256 and size from the git-LFS
 *   pointer of each file at that commit; the feature tensor and its shape from the zoo's own
 *   ONNX_HUB_MANIFEST.json ("extra_ports.features") at the same commit, except MobileNet v2-12,
 *   which the manifest lists without one: its tensor is the one our penultimate rule finds.
 * - DINOv2 ViT-S/14 (huggingface.co/Xenova/dinov2-small, commit DINO below): sha256 from the Hub's
 *   file page (Git LFS details) at that commit; the Hub shows the size only rounded (88.5 MB), so
 *   the size check is against the server's Content-Length and the sha256 is what verifies it.
 *
 * `sha256: null` means no published checksum is known to us; the app and `qc backbones` say so,
 * and such a download is checked for size only.
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
  /** Where the checksum was read (shown beside it), or why there is none. */
  checksumSource: string
  preprocess: PreprocessSpec
  /** The feature tensor: a tensor name in the graph, or 'penultimate' (found by the rule in feature-layer.ts). */
  featureLayer: string
  /** Feature dimension that tensor gives (checked at registration). */
  dim: number
  licence: string
  notes: string
}

const ZOO_COMMIT = 'b1eeaa1ac722dcc1cd1a8284bde34393dab61c3d'
const ZOO = `https://github.com/onnx/models/raw/${ZOO_COMMIT}/validated/vision/classification`
const ZOO_SOURCE = `git-LFS pointer in github.com/onnx/models at ${ZOO_COMMIT.slice(0, 8)}`
const DINO_COMMIT = '560a572cedd01ab59cf1a614c2d9673397b65ef2'

export const catalogue: CatalogueEntry[] = [
  {
    id: 'dinov2-small',
    name: 'DINOv2 ViT-S/14 (self-supervised, LVD-142M; ONNX export by Xenova)',
    url: `https://huggingface.co/Xenova/dinov2-small/resolve/${DINO_COMMIT}/onnx/model.onnx`,
    file: 'dinov2-small.onnx',
    bytes: null,
    sha256: '83141175ec78b4ff9a2bb58a4c7c264ba0054d1c2e122e5a8114b79a8d4179ea',
    checksumSource: `Hugging Face file page (Git LFS details) of Xenova/dinov2-small at ${DINO_COMMIT.slice(0, 8)}`,
    preprocess: imagenetSpec(224),
    featureLayer: 'last_hidden_state',
    dim: 384,
    licence: 'Apache-2.0 (DINOv2 weights, Meta AI)',
    notes:
      'Self-supervised features that linear-probe well on unseen domains; the class token of the last layer (layer-normed), 384-d. Resize 256 + centre crop 224, ImageNet mean/std. ~88.5 MB, ~4.6 GFLOP per image.',
  },
  {
    id: 'resnet34-v2',
    name: 'ResNet-34 v2 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/resnet/model/resnet34-v2-7.onnx`,
    file: 'resnet34-v2-7.onnx',
    bytes: 87288587,
    sha256: '3d3815e25f4b1ea967e2a526a3b27ef2a03af1725bdc199a63a271c26862d914',
    checksumSource: ZOO_SOURCE,
    preprocess: imagenetSpec(224),
    featureLayer: 'resnetv23_pool1_fwd',
    dim: 512,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: "The paper's backbone: the 512-d pooled features of a ResNet-34. ~3.6 GFLOP per image.",
  },
  {
    id: 'resnet18-v2',
    name: 'ResNet-18 v2 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/resnet/model/resnet18-v2-7.onnx`,
    file: 'resnet18-v2-7.onnx',
    bytes: 46806737,
    sha256: '3b4d048057854022232aa20bf68262e31718ab7119a17f920b8a2dc1433f824b',
    checksumSource: ZOO_SOURCE,
    preprocess: imagenetSpec(224),
    featureLayer: 'resnetv22_pool1_fwd',
    dim: 512,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: '512-d pooled features, half the cost of ResNet-34. ~1.8 GFLOP per image.',
  },
  {
    id: 'densenet121',
    name: 'DenseNet-121 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/densenet-121/model/densenet-9.onnx`,
    file: 'densenet-9.onnx',
    bytes: 32719461,
    sha256: '875fb597a9f0f79cca8a9db610a355920b13959fbe7dc35b759dd35f4d25e291',
    checksumSource: ZOO_SOURCE,
    preprocess: imagenetSpec(224),
    featureLayer: 'pool5_1',
    dim: 1024,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: '1024-d pooled features (wider than the 1000 logits). Fixed batch of 1. ~2.9 GFLOP per image.',
  },
  {
    id: 'shufflenet-v2',
    name: 'ShuffleNet v2 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/shufflenet/model/shufflenet-v2-12.onnx`,
    file: 'shufflenet-v2-12.onnx',
    bytes: 9218556,
    sha256: 'ea69821b4dd374ae2f33f9710dd1229ac263d0ee5b5a46ca3521f6483e1ba035',
    checksumSource: ZOO_SOURCE,
    preprocess: imagenetSpec(224),
    featureLayer: '611',
    dim: 1024,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: 'Small and fast (~0.15 GFLOP per image); the pick for a laptop CPU. Fixed batch of 1.',
  },
  {
    id: 'mobilenet-v2',
    name: 'MobileNet v2 1.0 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/mobilenet/model/mobilenetv2-12.onnx`,
    file: 'mobilenetv2-12.onnx',
    bytes: 13964571,
    sha256: 'c0c3f76d93fa3fd6580652a45618618a220fced18babf65774ed169de0432ad5',
    checksumSource: ZOO_SOURCE,
    preprocess: imagenetSpec(224),
    featureLayer: 'penultimate',
    dim: 1280,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: '1280-d pooled features; the zoo names no feature tensor for this file, so the penultimate rule finds it. ~0.3 GFLOP per image.',
  },
  {
    id: 'efficientnet-lite4',
    name: 'EfficientNet-Lite4 (ImageNet, ONNX model zoo)',
    url: `${ZOO}/efficientnet-lite4/model/efficientnet-lite4-11.onnx`,
    file: 'efficientnet-lite4-11.onnx',
    bytes: 51946641,
    sha256: 'd111689907c06eea7c82e4833ddef758da6453b9d4cf60b7e99ca05c7cbd9c12',
    checksumSource: ZOO_SOURCE,
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
    featureLayer: 'efficientnet-lite4/model/head/AvgPool:0',
    dim: 1280,
    licence: 'Apache-2.0 (ONNX model zoo)',
    notes: '1280-d pooled features. NHWC input, (pixel - 127) / 128, fixed batch of 1.',
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
 * looks like a model. An interrupted download removes its `.part`; one left by a killed process is
 * overwritten by the next attempt, which starts from the first byte (no ranged resume: a restart
 * is verified by the same checksum, a resumed file would need the old bytes trusted).
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
    if (e instanceof CancelledError || /^download of /.test((e as Error).message)) throw e
    // The connection dropped mid-body (undici: 'terminated'): nothing is kept, a rerun starts over.
    const cause = (e as Error & { cause?: { code?: string; message?: string } }).cause
    const why = cause?.code ?? cause?.message ?? (e as Error).message
    throw new Error(`download of ${entry.id} from ${host} was interrupted after ${got} bytes (${why}); nothing was kept, run it again to start over`)
  }
}
