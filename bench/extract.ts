/**
 * Extraction throughput (BENCHMARKS.md, "Backbone throughput"): in one run, on the same model and
 * the same onnxruntime session,
 *   - pipeline: extractFeatures over a folder of PNGs into a temporary project (read, hash check,
 *     decode, resize, normalise, infer, store), images/s;
 *   - bare: session.run on pre-decoded tensors of the same batch size, images/s;
 * and their ratio (goal >= 0.8). Bare is measured before and after the pipeline and averaged, as
 * the machine's speed drifts.
 *
 * Model: a ResNet-18 with random weights exported by scripts/export-resnet18.py when Debian's
 * python3-torchvision and python3-onnx are installed (a realistic workload, ~1.8 GFLOP/image at
 * 224x224); otherwise, or with --model builtin, the built-in backbone. --model FILE.onnx uses a
 * file. Images: Fashion-MNIST PNGs (generated with ../shared/datasets/fashion-mnist.mjs when
 * missing), or --images DIR.
 *
 * Usage: npm run bench:extract -- [--model resnet18|builtin|FILE.onnx] [--images DIR] [--limit N] [--batch 16]
 */
import { spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as ort from 'onnxruntime-node'
import { openDb, now } from '../electron/engine/store/db.ts'
import { ensureBackbone, loadBackbone, registerBackbone, type LoadedBackbone } from '../electron/engine/backbone/backbone.ts'
import { imagenetSpec, preprocessImage } from '../electron/engine/backbone/preprocess.ts'
import { extractFeatures } from '../electron/engine/extract/extract.ts'

const repo = resolve(fileURLToPath(new URL('..', import.meta.url)))
const args = process.argv.slice(2)
const opt = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`)
  return i >= 0 && args[i + 1] ? args[i + 1]! : def
}
const cache = join(tmpdir(), 'qc-bench')
mkdirSync(cache, { recursive: true })

function listImages(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const p = join(d, name)
      if (statSync(p).isDirectory()) walk(p)
      else if (/\.(png|jpe?g|webp|tiff?|bmp)$/i.test(name)) out.push(p)
    }
  }
  walk(dir)
  return out
}

function imagesDir(limit: number): string {
  const given = opt('images', '')
  if (given) return resolve(given)
  const dir = join(cache, 'fmnist')
  if (existsSync(join(dir, 'images')) && listImages(join(dir, 'images')).length >= limit) return join(dir, 'images')
  const script = resolve(repo, '../shared/datasets/fashion-mnist.mjs')
  if (!existsSync(script)) throw new Error(`no --images DIR given and ${script} is missing`)
  console.log(`generating Fashion-MNIST PNGs into ${dir} ...`)
  const r = spawnSync(process.execPath, [script, dir, '--limit', String(limit), '--test-limit', '10'], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('fashion-mnist.mjs failed')
  return join(dir, 'images')
}

/** ResNet-18 ONNX via the Python exporter, or null (with the reason printed) when unavailable. */
function resnet18(): string | null {
  const file = join(cache, 'resnet18.onnx')
  if (existsSync(file)) return file
  for (const py of ['/usr/bin/python3', 'python3']) {
    const r = spawnSync(py, [join(repo, 'scripts/export-resnet18.py'), file], { encoding: 'utf8' })
    if (r.status === 0 && existsSync(file)) return file
    if (py === 'python3') {
      const why = (r.stderr || r.error?.message || '').trim().split('\n').at(-1)
      console.log(
        `ResNet-18 export unavailable (${why}); install python3-torchvision python3-onnx for the realistic workload. Using the built-in backbone.`,
      )
    }
  }
  return null
}

/** Bare session.run throughput on pre-decoded batches (the same session as the pipeline's). */
async function bare(bb: LoadedBackbone, batches: Float32Array[], batch: number, images: number): Promise<number> {
  const spec = bb.spec
  const dims = spec.layout === 'nchw' ? [batch, spec.channels, spec.height, spec.width] : [batch, spec.height, spec.width, spec.channels]
  const session = bb.session
  if (!session) throw new Error(`backbone '${bb.name}' is remote: no local session to time`)
  const inputName = session.inputNames[0]!
  // One warm-up run (allocator, kernels) outside the timing.
  await session.run({ [inputName]: new ort.Tensor('float32', batches[0]!, dims) })
  const t0 = performance.now()
  let done = 0
  for (let i = 0; done < images; i++) {
    await session.run({ [inputName]: new ort.Tensor('float32', batches[i % batches.length]!, dims) })
    done += batch
  }
  return done / ((performance.now() - t0) / 1000)
}

async function main(): Promise<void> {
  const which = opt('model', 'resnet18')
  const batch = Number(opt('batch', '16'))
  let modelFile: string | null = null
  let label = which
  if (which === 'resnet18') {
    modelFile = resnet18()
    label = modelFile ? 'ResNet-18 (random weights), 224x224' : 'built-in'
  } else if (which !== 'builtin') {
    modelFile = resolve(which)
  }
  const defaultLimit = modelFile ? 480 : 2000
  const limit = Number(opt('limit', String(defaultLimit)))
  const dir = imagesDir(limit)
  const files = listImages(dir).slice(0, limit)
  if (files.length === 0) throw new Error(`${dir}: no images`)

  const work = mkdtempSync(join(tmpdir(), 'qc-bench-extract-'))
  try {
    const db = openDb(join(work, 'bench.qcdb'))
    const t = now()
    const src = Number(db.prepare("INSERT INTO sources (kind, root, added_at) VALUES ('images', ?, ?)").run(dir, t).lastInsertRowid)
    const ins = db.prepare('INSERT OR IGNORE INTO samples (source_id, path, hash, size, added_at) VALUES (?, ?, ?, ?, ?)')
    db.transaction(() => {
      for (const f of files) {
        const bytes = readFileSync(f)
        ins.run(src, relative(dir, f).split('\\').join('/'), createHash('sha256').update(bytes).digest('hex'), bytes.length, t)
      }
    })()
    const distinct = (db.prepare('SELECT count(DISTINCT hash) AS n FROM samples').get() as { n: number }).n
    const row = modelFile
      ? await registerBackbone(db, { name: 'bench', kind: 'file', modelPath: modelFile, preprocess: imagenetSpec(224) })
      : await ensureBackbone(db, 'builtin')
    const bb = await loadBackbone(db, row.id)
    console.log(
      `model: ${label}; ${files.length} images (${distinct} distinct) from ${dir}; batch ${batch}; ep ${bb.executionProvider}; ${ort.env.versions?.common ?? ''}`,
    )

    // Pre-decoded tensors for the bare measurement: a handful of real batches, reused.
    const pre: Float32Array[] = []
    for (let b = 0; b < 4; b++) {
      const buf = new Float32Array(batch * bb.inputSize)
      for (let i = 0; i < batch; i++) await preprocessImage(files[(b * batch + i) % files.length]!, bb.spec, buf, i * bb.inputSize)
      pre.push(buf)
    }
    const bareImages = Math.max(batch * 8, Math.min(distinct, 320))
    const bare1 = await bare(bb, pre, batch, bareImages)
    const r = await extractFeatures(db, { backbone: row.id, loaded: bb, batchSize: batch })
    const pipeline = r.computed / r.seconds
    const bare2 = await bare(bb, pre, batch, bareImages)
    const bareRate = (bare1 + bare2) / 2
    await bb.release()
    db.close()
    if (r.failed.length) console.log(`failed: ${r.failed.length} (first: ${r.failed[0]!.path}: ${r.failed[0]!.reason})`)
    console.log(
      `pipeline (read+decode+resize+normalise+infer+store): ${pipeline.toFixed(1)} images/s (${r.computed} images in ${r.seconds.toFixed(1)} s)`,
    )
    console.log(
      `bare session.run on pre-decoded tensors:             ${bareRate.toFixed(1)} images/s (before ${bare1.toFixed(1)}, after ${bare2.toFixed(1)})`,
    )
    console.log(`ratio pipeline / bare: ${(pipeline / bareRate).toFixed(3)} (goal >= 0.8)`)
  } finally {
    rmSync(work, { recursive: true, force: true })
  }
}

await main()
