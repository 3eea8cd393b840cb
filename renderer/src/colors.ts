/**
 * Class colours, semantic and the same on every screen: a class whose name says the part is fine
 * ("ok", "good", "pass", "normal", "no defect"...) is green; defects take warm and blue hues from a
 * qualitative palette with every green left out (Tableau 10 and Okabe-Ito without their greens and
 * teals), so no defect ever reads as "fine". Colours follow the class index in the open project
 * (the project store sets the names with `setClassNames`), so a class keeps its colour across the
 * grid, the detail, the charts and the export preview; past the palette, golden-angle hues that skip
 * the green band.
 */
import { shallowRef } from 'vue'

/** The colour of an "ok" class. */
export const OK_COLOR = '#2f9e57'

/** Defect colours: no greens, distinguishable in light and dark themes. */
const DEFECTS = [
  '#e15759', // red
  '#f28e2b', // orange
  '#4e79a7', // blue
  '#b07aa1', // purple
  '#edc948', // yellow
  '#9c755f', // brown
  '#ff9da7', // pink
  '#56b4e9', // sky blue
  '#d55e00', // vermillion
  '#0072b2', // dark blue
  '#cc79a7', // mauve
  '#e69f00', // amber
  '#bab0ac', // warm grey
  '#999999', // grey
]

/** Names that mean "no defect" (case, spaces, dashes and underscores ignored). */
const OK_NAMES = new Set(['ok', 'okay', 'good', 'pass', 'passed', 'normal', 'clean', 'nodefect', 'nodefects', 'none', 'accept', 'accepted', 'fine'])

/** True when a class name means the part has no defect. */
export function isOkClass(name: string): boolean {
  return OK_NAMES.has(name.toLowerCase().replace(/[\s_-]+/g, ''))
}

function extraHue(n: number): string {
  // Golden-angle hues, folded out of the green band (80..170 degrees).
  let h = (n * 137.508) % 360
  if (h >= 80 && h < 170) h = (h + 90) % 360
  return `hsl(${Math.round(h)}, 55%, 50%)`
}

/** Colours for a project's classes in index order: "ok" classes green, defects from the palette in order. */
export function paletteFor(names: readonly string[]): string[] {
  let d = 0
  return names.map((name) => (isOkClass(name) ? OK_COLOR : d < DEFECTS.length ? DEFECTS[d++]! : extraHue(d++)))
}

const colours = shallowRef<string[]>([])

/** Sets the open project's class names (index order); every classColor call follows, reactively. */
export function setClassNames(names: readonly string[]): void {
  colours.value = paletteFor(names)
}

/** Colour of class idx in the open project (grey for none). */
export function classColor(idx: number | null | undefined): string {
  if (idx === null || idx === undefined || idx < 0) return '#888888'
  return colours.value[idx] ?? (idx < DEFECTS.length ? DEFECTS[idx]! : extraHue(idx))
}

/** Hex colour with alpha (for chart fills); other colour syntaxes pass through unchanged. */
export function withAlpha(color: string, alpha: number): string {
  if (!color.startsWith('#') || color.length !== 7) return color
  const a = Math.round(alpha * 255)
    .toString(16)
    .padStart(2, '0')
  return color + a
}

/** Formats a 0..1 fraction as a percentage. */
export function pct(x: number | null | undefined, digits = 1): string {
  if (x === null || x === undefined || !isFinite(x)) return '—'
  return `${(x * 100).toFixed(digits)}%`
}
