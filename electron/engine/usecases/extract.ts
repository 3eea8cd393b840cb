/**
 * Use case: make sure the project's samples have features. Behind `qc extract` and the extract
 * step of `qc run`. Which backbone: a project that imported its own embeddings already has its
 * features (nothing to extract); otherwise the named backbone (built-in, catalogue id, .onnx file,
 * or one registered in the project), by default the built-in one. Extraction is resumable: a
 * stopped run keeps what it stored, and the next one computes only the rest.
 */
import type { RemoteOptions } from '../backbone/remote.ts'
import type { ExtractResult } from '../extract/extract.ts'
import type { Db } from '../store/db.ts'
import { backboneFeatureCounts } from '../store/project-info.ts'
import type { UseCaseContext } from './refine.ts'

export interface ExtractRequest {
  /**
   * Backbone to use: 'builtin' (default), a catalogue id, an .onnx file, a registered name or id,
   * or the URL of a model on a KServe v2 server (http(s)://HOST:PORT/v2/models/NAME[/versions/V]).
   */
  backbone?: string
  /** Token, requests in flight and retries for a remote backbone (the token is never stored). */
  remote?: RemoteOptions
  /** The model tensor to take features from: 'penultimate', 'output' or a name (backbone/feature-layer.ts). */
  featureLayer?: string
  /** Images per inference call (engine default 32). */
  batchSize?: number
  /** 'cpu' (default), 'cuda', 'dml', 'coreml'; an unavailable one falls back to cpu with a notice. */
  executionProvider?: string
}

export interface ExtractContext extends UseCaseContext {
  /** One-line notices as they happen (e.g. an execution provider falling back to cpu). */
  notice?: (message: string) => void
}

export interface ExtractOutcome {
  backboneId: number
  /** Name of the backbone (the feature space). */
  backbone: string
  /** True when the features are the project's own imported embeddings (nothing was extracted). */
  ownEmbeddings: boolean
  summary: ExtractResult & { note?: string }
  /** The notices given during the run (also sent to ctx.notice). */
  notices: string[]
}

/**
 * The imported embeddings space the request means, if any: the one named by `backbone`, or with
 * no name the newest one. A named backbone that is not an embeddings space returns undefined.
 */
function ownEmbeddings(db: Db, named: string | undefined): { id: number; name: string } | undefined {
  const spaces = backboneFeatureCounts(db).filter((b) => b.kind === 'embeddings')
  return named === undefined ? spaces.at(-1) : spaces.find((b) => b.name === named)
}

/** Resolves the backbone and extracts the features that are missing. */
export async function extractProjectFeatures(db: Db, req: ExtractRequest = {}, ctx: ExtractContext = {}): Promise<ExtractOutcome> {
  const notices: string[] = []
  const emb = ownEmbeddings(db, req.backbone)
  if (emb) {
    const summary = {
      backboneId: emb.id,
      computed: 0,
      reused: 0,
      failed: [],
      seconds: 0,
      executionProvider: 'none',
      note: 'own embeddings: nothing to extract',
    }
    return { backboneId: emb.id, backbone: emb.name, ownEmbeddings: true, summary, notices }
  }
  // Loaded on demand: onnxruntime and sharp load native code.
  const { ensureBackbone } = await import('../backbone/backbone.ts')
  const { extractFeatures } = await import('../extract/extract.ts')
  const { progress, signal } = ctx
  const remote = req.remote ? { remote: req.remote } : {}
  const row = await ensureBackbone(db, req.backbone ?? 'builtin', {
    progress,
    signal,
    ...remote,
    ...(req.featureLayer !== undefined ? { featureLayer: req.featureLayer } : {}),
  })
  const summary = await extractFeatures(db, {
    backbone: row.id,
    ...(req.batchSize !== undefined ? { batchSize: req.batchSize } : {}),
    ...(req.executionProvider !== undefined ? { executionProvider: req.executionProvider } : {}),
    progress,
    signal,
    ...remote,
    log: (m) => {
      notices.push(m)
      ctx.notice?.(m)
    },
  })
  return { backboneId: row.id, backbone: row.name, ownEmbeddings: false, summary, notices }
}
