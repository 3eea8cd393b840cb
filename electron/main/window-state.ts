/**
 * Window bounds kept between sessions in a small JSON file in userData. Pure Node (no 'electron'
 * import): the caller passes the file and the displays' work areas.
 */
import { readFileSync, renameSync, writeFileSync, mkdirSync } from 'node:fs'
import { dirname } from 'node:path'

export interface Bounds {
  x?: number
  y?: number
  width: number
  height: number
  maximized?: boolean
}

export interface Rect {
  x: number
  y: number
  width: number
  height: number
}

/** Reads saved bounds; undefined when missing or not valid. */
export function loadBounds(file: string): Bounds | undefined {
  let v: unknown
  try {
    v = JSON.parse(readFileSync(file, 'utf8'))
  } catch {
    return undefined
  }
  if (!v || typeof v !== 'object') return undefined
  const o = v as Record<string, unknown>
  const num = (k: string): number | undefined => (typeof o[k] === 'number' && Number.isFinite(o[k]) ? Math.round(o[k] as number) : undefined)
  const width = num('width')
  const height = num('height')
  if (width === undefined || height === undefined || width < 200 || height < 150) return undefined
  const x = num('x')
  const y = num('y')
  return { width, height, ...(x !== undefined && y !== undefined ? { x, y } : {}), ...(o.maximized === true ? { maximized: true } : {}) }
}

/** Writes bounds atomically (temp file + rename). */
export function saveBounds(file: string, b: Bounds): void {
  mkdirSync(dirname(file), { recursive: true })
  const tmp = `${file}.tmp`
  writeFileSync(tmp, JSON.stringify(b))
  renameSync(tmp, file)
}

/**
 * Keeps saved bounds only where they are still visible: a monitor may have been unplugged since.
 * A window whose title bar area (top 40 px) does not overlap any work area loses its position
 * (the OS centres it); a window larger than every display is shrunk to the largest one.
 */
export function fitToDisplays(b: Bounds, workAreas: Rect[]): Bounds {
  if (workAreas.length === 0) return b
  const maxW = Math.max(...workAreas.map((a) => a.width))
  const maxH = Math.max(...workAreas.map((a) => a.height))
  const out: Bounds = { ...b, width: Math.min(b.width, maxW), height: Math.min(b.height, maxH) }
  if (out.x === undefined || out.y === undefined) return out
  const bar: Rect = { x: out.x, y: out.y, width: out.width, height: 40 }
  const visible = workAreas.some(
    (a) => bar.x < a.x + a.width && bar.x + bar.width > a.x && bar.y < a.y + a.height && bar.y + bar.height > a.y && bar.y >= a.y,
  )
  if (!visible) {
    delete out.x
    delete out.y
  }
  return out
}
