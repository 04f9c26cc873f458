import type { SearchConfig, TrainConfig } from '../../shared/jobs'
import { ClusterQueue, newClusterRunId } from '../cluster/queue'

/** `bnas search|train ... --queue URL`: queues the validated config as one cluster job and prints its run id. */
export async function submitToCluster(
  options: { queue?: string; out?: string; priority?: number; json: boolean },
  job: { kind: 'search'; config: SearchConfig } | { kind: 'train'; config: TrainConfig }
): Promise<void> {
  if (options.out !== undefined)
    throw new Error(
      "--out and --queue exclude each other: a cluster run lives in the workers' store (see `bnas worker --store`)"
    )
  const queue = new ClusterQueue(options.queue!)
  try {
    await queue.check()
    const runId = newClusterRunId(job.kind)
    await queue.submit(
      [{ ...job, runId } as never],
      options.priority === undefined ? {} : { priority: options.priority }
    )
    process.stdout.write(options.json ? JSON.stringify({ event: 'queued', runId }) + '\n' : `queued ${runId}\n`)
  } finally {
    await queue.close()
  }
}
