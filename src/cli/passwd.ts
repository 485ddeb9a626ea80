/**
 * `ratatosk passwd [password]`: prints a scrypt hash for the `password:` field of a users file.
 * Without an argument the password is the first line of standard input (so it stays out of the
 * shell history: `echo 'secret' | ratatosk passwd`). Exit codes: 0 printed, 2 bad usage.
 */
import { createInterface } from 'node:readline';
import { hashPassword } from '../auth/passwd';

export const PASSWD_HELP = `Usage: ratatosk passwd [password]

Prints a scrypt hash (scrypt$N$r$p$salt$hash) for the password: field of a users file
(auth provider type: file). Without an argument, reads the password from the first line of
standard input.
`;

export interface PasswdIO {
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
}

/** The first line of `input` (without its line ending), or undefined when the input is empty. */
export function readFirstLine(input: NodeJS.ReadableStream): Promise<string | undefined> {
  return new Promise((resolve, reject) => {
    const rl = createInterface({ input, crlfDelay: Infinity, terminal: false });
    let line: string | undefined;
    rl.once('line', (l) => {
      line = l;
      rl.close();
    });
    rl.once('close', () => resolve(line));
    input.once('error', reject);
  });
}

export async function runPasswd(argv: string[], io: PasswdIO = process): Promise<number> {
  if (argv.includes('--help') || argv.includes('-h')) {
    io.stdout.write(PASSWD_HELP);
    return 0;
  }
  if (argv.length > 1) {
    io.stderr.write(`ratatosk passwd: expected at most one argument\n${PASSWD_HELP}`);
    return 2;
  }
  let password = argv[0];
  if (password === undefined) {
    if (io.stdin.isTTY) io.stderr.write('Password (the input is shown): ');
    password = await readFirstLine(io.stdin);
  }
  if (!password) {
    io.stderr.write('ratatosk passwd: the password is empty\n');
    return 2;
  }
  io.stdout.write(`${await hashPassword(password)}\n`);
  return 0;
}
