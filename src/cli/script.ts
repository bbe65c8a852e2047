import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { parseScript } from './script-parser.ts';
import { formatResult, formatSummary, reportJson, summarize } from './script-report.ts';
import { runScript } from './script-runner.ts';

export const SCRIPT_USAGE = `Usage: kith script FILE [--url URL] [--keep-going] [--json]

Replays a command script against a running kith through its public API and reports each
command's result and latency, then the time taken and p50/p95 latency per command type.

  --url URL      where kith answers (default http://localhost:5000; a proxy works the same)
  --keep-going   run past failed commands instead of stopping at the first one
  --json         print the results and the summary as one JSON document

Exit code: 0 when every command succeeded, 1 when one failed, 2 when the file is malformed
(nothing is sent then). See examples/demo-script.txt for the format.`;

interface Output {
  out: (text: string) => void;
  err: (text: string) => void;
}

const stdio: Output = {
  out: (text) => process.stdout.write(`${text}\n`),
  err: (text) => process.stderr.write(`${text}\n`),
};

/** `kith script …`: resolves with the exit code. */
export async function scriptCommand(argv: string[], io: Output = stdio): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        url: { type: 'string', default: 'http://localhost:5000' },
        'keep-going': { type: 'boolean', default: false },
        json: { type: 'boolean', default: false },
        help: { type: 'boolean', short: 'h', default: false },
      },
    });
  } catch (err) {
    io.err(`kith script: ${(err as Error).message}\n\n${SCRIPT_USAGE}`);
    return 2;
  }
  const { values, positionals } = parsed;
  if (values.help) {
    io.out(SCRIPT_USAGE);
    return 0;
  }
  const [file, ...extra] = positionals;
  if (!file || extra.length > 0) {
    io.err(`kith script: expected one FILE\n\n${SCRIPT_USAGE}`);
    return 2;
  }
  if (!/^https?:\/\//.test(values.url)) {
    io.err(`kith script: --url must start with http:// or https://, got "${values.url}"`);
    return 2;
  }

  let source: string;
  try {
    source = await readFile(file, 'utf8');
  } catch (err) {
    io.err(`kith script: cannot read ${file}: ${(err as Error).message}`);
    return 2;
  }
  const { commands, errors } = parseScript(source);
  if (errors.length > 0) {
    if (values.json) io.out(JSON.stringify({ file, errors }, null, 2));
    else {
      for (const e of errors) io.err(`${file}:${e.line}: ${e.message}`);
      io.err(`kith script: ${errors.length} malformed line(s) in ${file}; nothing was sent.`);
    }
    return 2;
  }

  const report = await runScript(commands, {
    baseUrl: values.url,
    keepGoing: values['keep-going'],
    onRateLimit: (waitMs) =>
      io.err(
        `rate-limited (429): waiting ${(waitMs / 1000).toFixed(0)} s (Retry-After), then retrying`,
      ),
    ...(values.json ? {} : { onResult: (r) => io.out(formatResult(r)) }),
  });
  const summary = summarize(report);
  io.out(
    values.json ? JSON.stringify(reportJson(report, summary), null, 2) : formatSummary(summary),
  );
  return summary.failures > 0 ? 1 : 0;
}
