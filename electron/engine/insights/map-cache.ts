/**
 * The Insights map, cached in a file beside the project (`<project>.cache/map-backbone-<id>.json`),
 * so reopening Insights, or the app, shows the map at once. One file per backbone, keyed by the
 * number of samples with that backbone's features and the map's options: extracting more features
 * (or asking for other options) makes the stored map stale, and the next computation replaces it.
 *
 * A file beside the project rather than a table in it: the map is derived data, rebuilt from the
 * features at will, and a cache folder can be deleted without touching the project. A project in a
 * folder that cannot be written still gets its map, only not cached.
 */
import { readFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { writeFileAtomic } from '../util/atomic.ts'
import { computeEmbeddingMap, MAP_DEFAULTS, type EmbeddingMap, type MapFeatures, type MapOptions } from './embedding-map.ts'

/** Raised when the stored format or the algorithm changes, so older files are recomputed. */
const FORMAT = 1

/** What a stored map must match to be used. */
export interface MapCacheKey {
  backboneId: number
  /** Samples with this backbone's features when the map was made. */
  featureCount: number
  seed: number
  maxPoints: number
  fitCap: number
  nNeighbors: number
  minDist: number
}

/** A map as stored: the key it was made for, when, and how long it took. */
export interface CachedMap extends EmbeddingMap {
  format: number
  key: MapCacheKey
  computedAt: string
  seconds: number
}

/** The cache folder of a project file. */
export function mapCacheDir(projectPath: string): string {
  return `${projectPath}.cache`
}

/** The cache file of one backbone's map. */
export function mapCacheFile(projectPath: string, backboneId: number): string {
  return join(mapCacheDir(projectPath), `map-backbone-${backboneId}.json`)
}

/** The full key for a backbone, a feature count and options (defaults filled in). */
export function mapCacheKey(
  backboneId: number,
  featureCount: number,
  o: Pick<MapOptions, 'seed' | 'maxPoints' | 'fitCap' | 'nNeighbors' | 'minDist'> = {},
): MapCacheKey {
  return {
    backboneId,
    featureCount,
    seed: o.seed ?? MAP_DEFAULTS.seed,
    maxPoints: o.maxPoints ?? MAP_DEFAULTS.maxPoints,
    fitCap: o.fitCap ?? MAP_DEFAULTS.fitCap,
    nNeighbors: o.nNeighbors ?? MAP_DEFAULTS.nNeighbors,
    minDist: o.minDist ?? MAP_DEFAULTS.minDist,
  }
}

function sameKey(a: MapCacheKey, b: MapCacheKey): boolean {
  return (Object.keys(b) as (keyof MapCacheKey)[]).every((k) => a[k] === b[k])
}

/** The stored map for `key`, or null when there is none, it is stale, or the file is unreadable. */
export function readCachedMap(projectPath: string, key: MapCacheKey): CachedMap | null {
  let text: string
  try {
    text = readFileSync(mapCacheFile(projectPath, key.backboneId), 'utf8')
  } catch {
    return null
  }
  try {
    const m = JSON.parse(text) as Partial<CachedMap>
    if (m.format !== FORMAT || !m.key || !sameKey(m.key, key) || !Array.isArray(m.ids) || !Array.isArray(m.xy)) return null
    if (m.xy.length !== 2 * m.ids.length) return null
    return m as CachedMap
  } catch {
    return null
  }
}

/**
 * The map for `key`: the stored one when it matches, else computed from `load()` (called only
 * then) and stored. `cached` says which. A failure to write the cache (a read-only folder) leaves
 * the map uncached and is not an error.
 */
export async function cachedEmbeddingMap(o: {
  projectPath: string
  key: MapCacheKey
  load: () => MapFeatures
  progress?: MapOptions['progress']
  signal?: AbortSignal
}): Promise<{ map: CachedMap; cached: boolean }> {
  const hit = readCachedMap(o.projectPath, o.key)
  if (hit) return { map: hit, cached: true }
  const t0 = performance.now()
  const computed = await computeEmbeddingMap(o.load(), { ...o.key, progress: o.progress, signal: o.signal })
  const map: CachedMap = {
    format: FORMAT,
    key: o.key,
    computedAt: new Date().toISOString(),
    seconds: (performance.now() - t0) / 1000,
    ...computed,
  }
  try {
    writeFileAtomic(mapCacheFile(o.projectPath, o.key.backboneId), JSON.stringify(map), { force: true })
  } catch {
    // Not cached; the map is still right.
  }
  return { map, cached: false }
}

/** Removes a project's cached maps (the folder is recreated on the next computation). */
export function clearMapCache(projectPath: string): void {
  rmSync(mapCacheDir(projectPath), { recursive: true, force: true })
}
