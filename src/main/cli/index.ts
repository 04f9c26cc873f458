import { runCli } from './program'
import { APP_VERSION } from '../version'

await runCli(process.argv, APP_VERSION)
