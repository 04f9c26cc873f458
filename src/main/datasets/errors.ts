/**
 * Anything wrong with a user's data: the file (or folder) it is about and what is wrong with it, so the message tells
 * the user where to look. Loaders throw only this for bad input; any other error is a bug.
 */
export class DatasetError extends Error {
  constructor(
    readonly file: string,
    readonly problem: string
  ) {
    super(`${file}: ${problem}`)
    this.name = 'DatasetError'
  }
}
