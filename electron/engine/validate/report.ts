/**
 * Validation reports: JSON (everything), CSV (one row per noise type x rate x seed x method) and a
 * self-contained HTML page for people who will not open a terminal. The parts live in report/:
 * tabular.ts (CSV, JSON), charts.ts (the SVG chart kit), template.ts (the escaping `html`
 * template) and html.ts (the page); this module is the stable entry point that callers import.
 */
export { CSV_HEADER, toCsv, toJson } from './report/tabular.ts'
export { toHtml, identifiabilityNotes, REPORT_GENERATOR, type HtmlOptions } from './report/html.ts'
export { escapeHtml } from './report/template.ts'
export { methodName, pct } from './report/format.ts'
