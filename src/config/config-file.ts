import { readFileSync } from 'node:fs'
import { KEYS } from './keys.js'

/** Raw key → value strings from one source (environment or config file), before any check. */
export type Source = Partial<Record<string, string>>

/** Reads a JSON config file: `{ "KEY": value }` with the keys of the README table. */
export function readConfigFile(path: string, problems: string[]): Source {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    problems.push(`CONFIG_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
    return {}
  }
  let parsed: unknown
  try {
    parsed = JSON.parse(text)
  } catch {
    problems.push(`CONFIG_FILE: ${path} is not valid JSON`)
    return {}
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    problems.push(`CONFIG_FILE: ${path} must hold a JSON object of configuration keys`)
    return {}
  }
  const out: Source = {}
  for (const [k, v] of Object.entries(parsed as Record<string, unknown>)) {
    if (!(k in KEYS)) { problems.push(`${k}: unknown key in ${path}`); continue }
    if (k === 'CONFIG_FILE') { problems.push(`CONFIG_FILE: cannot be set inside a config file`); continue }
    if (typeof v === 'string') out[k] = v
    else if (typeof v === 'number' || typeof v === 'boolean') out[k] = String(v)
    else if (Array.isArray(v) && v.every((x) => typeof x === 'string')) out[k] = v.join(',')
    else problems.push(`${k}: must be a string, number or boolean in ${path}`)
  }
  return out
}
