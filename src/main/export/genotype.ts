import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join } from 'node:path'
import { formatGenotypeJson, formatGenotypePython, parseGenotype, type Genotype } from '../../shared/genotype'

/**
 * Genotype export: the project's JSON and the authors' Python text (`Genotype(normal=[...], normal_concat=range(2, 6),
 * ...)`, the line genotypes.py holds). PATH ending in .json or .py writes that one form; any other PATH is a folder
 * that gets both, genotype.json and genotype.py. Every written file is parsed back and must give the same genotype.
 */
export async function exportGenotype(genotype: Genotype, out: string): Promise<string[]> {
  const forms: Array<[string, string]> = out.endsWith('.json')
    ? [[out, formatGenotypeJson(genotype)]]
    : out.endsWith('.py')
      ? [[out, `${formatGenotypePython(genotype)}\n`]]
      : [
          [join(out, 'genotype.json'), formatGenotypeJson(genotype)],
          [join(out, 'genotype.py'), `${formatGenotypePython(genotype)}\n`]
        ]
  for (const [path, text] of forms) {
    await mkdir(dirname(path), { recursive: true })
    await writeFile(path, text.endsWith('\n') ? text : `${text}\n`)
  }
  for (const [path] of forms) {
    const back = parseGenotype(await readFile(path, 'utf8'))
    if (JSON.stringify(back) !== JSON.stringify(genotype)) {
      throw new Error(`${path}: the written genotype does not read back as the same genotype`)
    }
  }
  return forms.map(([path]) => path)
}
