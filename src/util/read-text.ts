/** Reading a whole text file, with the user error that names it when it cannot be read. */
import { readFile } from 'node:fs/promises';
import { FileAccessError } from '../errors.ts';

/** The file's text (UTF-8); FileAccessError naming `path` when it is absent, a folder or unreadable. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : `cannot read the file (${code ?? String(err)})`;
    throw new FileAccessError(why, { file: path }, { cause: err });
  }
}
