import { execFileSync } from 'node:child_process'
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { afterAll, describe, expect, it } from 'vitest'
import { DatasetError } from '../../src/main/datasets'
import { extractTarGz } from '../../src/main/datasets/tar'
import { tempFolder } from './helpers'

const { dir, cleanup } = tempFolder()
afterAll(cleanup)

// A folder name long enough (> 100 bytes with the file name) to need GNU 'L' records or pax 'path' headers.
const deep = join('a'.repeat(60), 'b'.repeat(50), 'cifar-10-batches-bin')

function pack(format: 'gnu' | 'pax' | 'ustar'): string {
  const src = join(dir, `src-${format}`)
  mkdirSync(join(src, deep), { recursive: true })
  writeFileSync(join(src, deep, 'test_batch.bin'), Buffer.alloc(3073 * 2, 7))
  writeFileSync(join(src, deep, 'batches.meta.txt'), 'x\n')
  const out = join(dir, `${format}.tar.gz`)
  execFileSync('tar', [`--format=${format}`, '-czf', out, '-C', src, deep.split('/')[0]])
  return out
}

const pickCifar = (member: string): string | null =>
  member.endsWith('cifar-10-batches-bin/test_batch.bin') ? 'test_batch.bin' : null

describe('extractTarGz', () => {
  it.each(['gnu', 'pax'] as const)('reads long member names of GNU tar --format=%s', async (format) => {
    const archive = pack(format)
    const dest = join(dir, `out-${format}`)
    mkdirSync(dest)
    expect(await extractTarGz(archive, dest, pickCifar)).toEqual([join(dest, 'test_batch.bin')])
    expect(readdirSync(dest)).toEqual(['test_batch.bin'])
    expect(readFileSync(join(dest, 'test_batch.bin'))).toEqual(Buffer.alloc(3073 * 2, 7))
  })

  it('never writes where a member name points, only where pick says', async () => {
    // A hand-made ustar header naming ../../evil.bin: pick ignores it, so nothing lands outside dest.
    const header = Buffer.alloc(512)
    header.write('../../evil.bin', 0)
    header.write('0000644\0', 100)
    header.write('0000000\0', 108)
    header.write('0000000\0', 116)
    header.write('00000000004\0', 124)
    header.write('00000000000\0', 136)
    header.write('0', 156)
    header.write('ustar\x0000', 257)
    header.fill(32, 148, 156)
    const sum = header.reduce((a, b) => a + b, 0)
    header.write(sum.toString(8).padStart(6, '0') + '\0 ', 148)
    const body = Buffer.alloc(512)
    body.write('evil')
    const archive = join(dir, 'evil.tar.gz')
    writeFileSync(archive, gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)])))
    const dest = join(dir, 'out-evil')
    mkdirSync(dest)
    expect(await extractTarGz(archive, dest, pickCifar)).toEqual([])
    expect(readdirSync(dir).includes('evil.bin')).toBe(false)
    // A damaged header checksum is reported.
    header[0] = 0x41
    writeFileSync(archive, gzipSync(Buffer.concat([header, body, Buffer.alloc(1024)])))
    await expect(extractTarGz(archive, dest, pickCifar)).rejects.toThrow(
      `${archive}: is damaged: a tar header checksum does not match`
    )
  })

  it('reports an archive that is not gzip or ends inside a member', async () => {
    const notGzip = join(dir, 'plain.tar.gz')
    writeFileSync(notGzip, 'hello')
    await expect(extractTarGz(notGzip, dir, pickCifar)).rejects.toThrow(DatasetError)
    // A valid gzip of a tar cut inside its first member (the body is 6146 bytes; keep 1536).
    pack('ustar')
    const tar = execFileSync('tar', ['--format=ustar', '-cf', '-', '-C', join(dir, 'src-ustar'), deep.split('/')[0]])
    const cut = join(dir, 'cut.tar.gz')
    writeFileSync(cut, gzipSync(tar.subarray(0, 1536)))
    await expect(extractTarGz(cut, dir, pickCifar)).rejects.toThrow(
      'is truncated: the tar archive ends inside a member'
    )
  })
})
