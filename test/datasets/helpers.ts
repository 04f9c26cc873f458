import { mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Rng } from '../../src/main/datasets/rng'

/** A fresh temporary folder, removed by the returned cleanup. */
export function tempFolder(prefix = 'bnas-datasets-'): { dir: string; cleanup: () => void } {
  const dir = mkdtempSync(join(tmpdir(), prefix))
  return { dir, cleanup: () => rmSync(dir, { recursive: true, force: true }) }
}

/** Every file under a folder with its size and mtime: to check that loading wrote nothing there. */
export function snapshot(dir: string): string[] {
  const out: string[] = []
  const walk = (d: string): void => {
    for (const name of readdirSync(d).sort()) {
      const path = join(d, name)
      const st = statSync(path)
      if (st.isDirectory()) walk(path)
      else out.push(`${path} ${st.size} ${st.mtimeMs}`)
    }
  }
  walk(dir)
  return out
}

/** A CIFAR record as the official files hold it: label byte(s), then the planar R, G, B planes of 32×32. */
export interface CifarRecord {
  labels: number[]
  /** 3072 bytes, planar (CHW), as in the file. */
  planar: Uint8Array
}

export function randomCifarRecords(
  count: number,
  labelBytes: number,
  classCounts: number[],
  seed: number
): CifarRecord[] {
  const rng = new Rng(seed)
  return Array.from({ length: count }, () => ({
    labels: Array.from({ length: labelBytes }, (_, i) => rng.int(classCounts[i])),
    planar: Uint8Array.from({ length: 3072 }, () => rng.int(256))
  }))
}

export function encodeCifar(records: CifarRecord[]): Buffer {
  return Buffer.concat(records.map((r) => Buffer.concat([Buffer.from(r.labels), Buffer.from(r.planar)])))
}

/** An IDX file as MNIST ships it: magic, big-endian dimensions, bytes. */
export function encodeIdx(magic: number, dims: number[], data: Uint8Array): Buffer {
  const header = Buffer.alloc(4 + 4 * dims.length)
  header.writeUInt32BE(magic, 0)
  dims.forEach((d, i) => header.writeUInt32BE(d, 4 + 4 * i))
  return Buffer.concat([header, Buffer.from(data)])
}

/** Byte equality of two typed arrays (vitest's deep toEqual is slow on megabytes). */
export function sameBytes(a: ArrayBufferView, b: ArrayBufferView): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(Buffer.from(b.buffer, b.byteOffset, b.byteLength))
}
