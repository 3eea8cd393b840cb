/**
 * Class colours: a qualitative palette (Tableau 10, then Okabe-Ito) that stays distinguishable in
 * light and dark themes; classes past 18 get golden-angle hues.
 */
const PALETTE = [
  '#4e79a7',
  '#f28e2b',
  '#e15759',
  '#76b7b2',
  '#59a14f',
  '#edc948',
  '#b07aa1',
  '#ff9da7',
  '#9c755f',
  '#bab0ac',
  '#e69f00',
  '#56b4e9',
  '#009e73',
  '#f0e442',
  '#0072b2',
  '#d55e00',
  '#cc79a7',
  '#999999',
]

/** Colour of class idx. */
export function classColor(idx: number | null | undefined): string {
  if (idx === null || idx === undefined || idx < 0) return '#888888'
  const base = PALETTE[idx % PALETTE.length] ?? '#888888'
  if (idx < PALETTE.length) return base
  // Golden-angle hues: far apart for neighbouring indices; canvas (chart.js) understands hsl().
  return `hsl(${Math.round((idx * 137.508) % 360)}, 55%, 50%)`
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
