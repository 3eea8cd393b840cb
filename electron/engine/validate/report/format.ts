/** Number and name formatting shared by the tabular, chart and HTML outputs of a validation report. */
import type { ValidationResult } from '../validate.ts'

/**
 * Stored results of a validation that failed before its first cell hold only `{ error }`; say
 * that instead of failing on a missing field.
 */
export function checkResult(result: ValidationResult): void {
  const r = result as Partial<ValidationResult> & { error?: unknown }
  if (!r || !Array.isArray(r.cells) || !r.config || !Array.isArray(r.classNames) || !r.meta) {
    const why = r && typeof r.error === 'string' ? ` (the validation failed: ${r.error})` : ''
    throw new Error(`not a complete validation result, nothing to report${why}`)
  }
}

/** Percent with one decimal, as the report prints fractions. */
export function pct(v: number | undefined): string {
  return v === undefined || !Number.isFinite(v) ? '–' : (v * 100).toFixed(1)
}

/** A probability with at most two decimals, trailing zeros dropped (0.2667 -> 0.27, 0.20 -> 0.2). */
export function prob(v: number): string {
  return String(Number(v.toFixed(2)))
}

/** A hyper-parameter value for display: integers as is, other numbers to four significant digits. */
export function fmtValue(v: unknown): string {
  if (v === null || v === undefined) return ''
  if (typeof v === 'number') return Number.isInteger(v) ? String(v) : String(Number(v.toPrecision(4)))
  if (typeof v === 'string') return v
  return JSON.stringify(v)
}

const METHOD_NAMES: Record<string, string> = {
  teacher: 'Teacher',
  pll: 'PLL student',
  cl: 'Confident learning',
}
/** Human-readable method name ('sd-2' -> 'SD round 2'). */
export function methodName(m: string): string {
  const sd = /^sd-(\d+)$/.exec(m)
  if (sd) return `SD round ${sd[1]}`
  return METHOD_NAMES[m] ?? m
}

export const NOISE_NAMES: Record<string, string> = {
  none: 'labels as given',
  symmetric: 'symmetric',
  asymmetric: 'asymmetric',
  superclass: 'superclass',
}
/** 'symmetric 0.2', or 'labels as given (no injected noise)'. */
export function noiseLabel(t: string, rate: number): string {
  return t === 'none' ? 'labels as given (no injected noise)' : `${NOISE_NAMES[t] ?? t} ${rate}`
}
