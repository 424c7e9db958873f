import { readFileSync, renameSync, writeFileSync } from 'node:fs'

/**
 * Sets `sandboxes.{id}.state` in the embedded registry file, keeping every other byte of meaning
 * (the file is re-read by the running gateway). Written to a temp file and renamed, so the
 * gateway's poller never reads half a file. Throws when the sandbox is not in the file.
 */
export function writeSandboxState(file: string, sandboxId: string, state: string): void {
  const doc = JSON.parse(readFileSync(file, 'utf8')) as { sandboxes?: Record<string, Record<string, unknown>> }
  const sbx = doc.sandboxes?.[sandboxId]
  if (sbx === undefined || sbx === null || typeof sbx !== 'object') throw new Error(`no sandbox ${JSON.stringify(sandboxId)} in ${file}`)
  sbx.state = state
  const tmp = `${file}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(doc, null, 2) + '\n')
  renameSync(tmp, file)
}
