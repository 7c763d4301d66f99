// Loads each service's config with its capability's own `loadConfiguration`, the call Watt's
// runtime makes when it creates the service (packages/basic/lib/creation.js, then the
// capability's index.js: placeholders, `upgrade` of older config versions, the JSON schema).
// argv: a JSON list of {id, package, root, config}, then the file the results go to (stdout
// belongs to whatever the packages print when imported).
import { writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const results = []
for (const s of JSON.parse(process.argv[1])) {
  const missing = new Set()
  const result = { id: s.id }
  try {
    // Scoped to the service folder, as Watt's importCapabilityPackage resolves it
    // (packages/basic/lib/modules.js).
    const require = createRequire(join(s.root, '__pltImportCapabilityPackage.js'))
    const entry = require.resolve(s.package)
    const pkg = await import(pathToFileURL(entry).href)
    const load = pkg.loadConfiguration ?? pkg.default?.loadConfiguration
    if (typeof load !== 'function') {
      result.skipped = `${s.package} exports no loadConfiguration()`
    } else {
      // An unset variable becomes '' as it would at run time; it is recorded so a failure it
      // may have caused is reported as such.
      await load(s.root, s.config, { onMissingEnv: (key) => { missing.add(key) } })
      result.ok = true
    }
  } catch (err) {
    result.ok = false
    result.code = err?.code ?? null
    result.message = String(err?.message ?? err)
    result.errors = (err?.validationErrors ?? []).map((e) => ({
      path: e.path,
      message: e.message,
      extra: e.params?.additionalProperty ?? e.params?.allowedValues?.join(', ') ?? null
    }))
  }
  result.missing = [...missing].sort()
  results.push(result)
}
writeFileSync(process.argv[2], JSON.stringify(results))
process.exit(0)
