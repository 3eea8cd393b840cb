/**
 * A small escaping template for the HTML report: `safeHtml\`...\`` escapes every interpolated value
 * unless it is already-safe markup (another `safeHtml` result, or a string explicitly passed through
 * `raw()`). The literal parts of the template are the author's markup and are kept as written.
 */

/** Markup that is safe to insert as is. Only `safeHtml`, `joinHtml` and `raw` make one. */
export class SafeHtml {
  readonly markup: string
  constructor(markup: string) {
    this.markup = markup
  }
  toString(): string {
    return this.markup
  }
}

/** What may be interpolated: text and numbers are escaped; null, undefined and false print nothing. */
export type HtmlValue = SafeHtml | string | number | boolean | null | undefined | readonly HtmlValue[]

/** Escapes text for HTML element content and double- or single-quoted attributes. */
export function escapeHtml(s: unknown): string {
  return String(s).replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!)
}

/**
 * Marks a string as finished markup so `safeHtml` inserts it unescaped. Use it only for markup built
 * by code that escapes its own input (the chart kit) or for constants written here (the CSS).
 */
export function raw(markup: string): SafeHtml {
  return new SafeHtml(markup)
}

function render(v: HtmlValue): string {
  if (v instanceof SafeHtml) return v.markup
  if (v === null || v === undefined || v === false) return ''
  if (Array.isArray(v)) return v.map(render).join('')
  return escapeHtml(v)
}

/**
 * Tagged template: `safeHtml\`<td>${name}</td>\`` escapes `name`; nested `safeHtml` results are kept.
 * (Not named `html`: prettier would reformat a template tagged `html` as HTML and change the output.)
 */
export function safeHtml(strings: TemplateStringsArray, ...values: HtmlValue[]): SafeHtml {
  let out = strings[0]!
  for (let i = 0; i < values.length; i++) out += render(values[i]!) + strings[i + 1]!
  return new SafeHtml(out)
}

/** Joins values (each escaped unless safe) with a separator, like Array.prototype.join. */
export function joinHtml(values: readonly HtmlValue[], sep: HtmlValue = ''): SafeHtml {
  const s = render(sep)
  return new SafeHtml(values.map(render).join(s))
}
