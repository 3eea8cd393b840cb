/**
 * The review image's zoom and pan, as a value: the review store keeps one for the whole session so
 * that it stays put from sample to sample (an inspector hunting scratches at 400% on one part
 * looks at the same spot on the next), and the keys + / - / 0 and the image's own controls change it.
 */
export interface ZoomView {
  /** 1 = the whole image fits; up to MAX_ZOOM. */
  scale: number
  /** Pan, in screen pixels from the centre. */
  tx: number
  ty: number
}

export const MAX_ZOOM = 16
export const FIT: ZoomView = Object.freeze({ scale: 1, tx: 0, ty: 0 })

/**
 * The view zoomed by `factor` (clamped to 1..MAX_ZOOM) about a point given relative to the stage's
 * centre in screen pixels (default the centre), so the spot under the pointer stays put.
 */
export function zoomBy(v: ZoomView, factor: number, px = 0, py = 0): ZoomView {
  const scale = Math.min(MAX_ZOOM, Math.max(1, v.scale * factor))
  if (scale === 1) return { ...FIT }
  const k = scale / v.scale
  return { scale, tx: px - (px - v.tx) * k, ty: py - (py - v.ty) * k }
}
