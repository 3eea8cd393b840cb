/**
 * Writes the built-in backbone's ONNX file into resources/backbones/ (or $QC_RESOURCES/backbones)
 * and prints its path, dimension and sha256. The app does the same on first use; this is for
 * packaging and for inspecting the graph (e.g. with Netron).
 *
 * Usage: node --import tsx scripts/build-backbone.ts
 */
import { readFileSync } from 'node:fs'
import { createHash } from 'node:crypto'
import { BUILTIN_CONFIG, builtinDim, ensureBuiltinModel } from '../electron/engine/backbone/builtin.ts'

const file = ensureBuiltinModel()
const sha = createHash('sha256').update(readFileSync(file)).digest('hex')
console.log(`${file}\n  dim ${builtinDim()}, input 1 x 3 x ${BUILTIN_CONFIG.size} x ${BUILTIN_CONFIG.size}, sha256 ${sha}`)
