/** Saves text as a file through the browser's download (works in Electron and browser mode alike). */
export function saveText(filename: string, text: string, type = 'text/plain'): void {
  const url = URL.createObjectURL(new Blob([text], { type }))
  const link = document.createElement('a')
  link.href = url
  link.download = filename
  document.body.appendChild(link)
  link.click()
  link.remove()
  setTimeout(() => URL.revokeObjectURL(url), 1000)
}

/** Copies text to the clipboard; answers an error message instead of throwing. */
export async function copyText(text: string): Promise<string | null> {
  try {
    await navigator.clipboard.writeText(text)
    return null
  } catch (error) {
    return `could not copy to the clipboard (${error instanceof Error ? error.message : String(error)}); use Save instead`
  }
}
