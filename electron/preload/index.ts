/**
 * Preload (sandboxed): exposes `window.qc` with one named function per contract method and
 * `onEvent` (bridge.ts), derived from the contract's method list. Never exposes ipcRenderer.
 */
import { contextBridge, ipcRenderer } from 'electron'
import { buildBridge } from './bridge.ts'

contextBridge.exposeInMainWorld('qc', buildBridge(ipcRenderer))
