#!/usr/bin/env node
// Parses every ```mermaid block of the given Markdown files with mermaid.parse() under jsdom.
//
//   node check-mermaid.mjs [--json] FILE.md [FILE.md ...]
//
// Prints one line per failing block, "file:line: message" (line = the opening fence), and exits 1
// when any block fails. With --json it prints {"blocks": N, "failures": [{file, line, message}]}
// instead (exit code unchanged), so a test can check many renders in one process.
import { readFileSync } from 'node:fs';
import { JSDOM } from 'jsdom';

const args = process.argv.slice(2);
const json = args.includes('--json');
const files = args.filter((arg) => arg !== '--json');
if (files.length === 0) {
  console.error('usage: check-mermaid.mjs [--json] FILE.md [FILE.md ...]');
  process.exit(2);
}

// mermaid needs a DOM (DOMPurify hooks, text measurement); jsdom provides one without a browser.
const dom = new JSDOM('<!DOCTYPE html><html><body></body></html>', { pretendToBeVisual: true });
for (const name of ['window', 'document', 'Element', 'HTMLElement', 'SVGElement', 'Node', 'DOMParser', 'XMLSerializer']) {
  if (!(name in globalThis)) globalThis[name] = name === 'window' ? dom.window : dom.window[name];
}
const { default: mermaid } = await import('mermaid');
mermaid.initialize({ startOnLoad: false, securityLevel: 'strict' });

/** The ```mermaid blocks of one Markdown text, with the 1-based line of each opening fence. */
function blocks(text) {
  const found = [];
  const lines = text.split(/\r?\n/);
  let open = null;
  for (let i = 0; i < lines.length; i += 1) {
    const line = lines[i];
    if (open === null) {
      const start = /^(\s*)(`{3,}|~{3,})\s*mermaid\s*$/.exec(line);
      if (start) open = { fence: start[2], line: i + 1, body: [] };
    } else if (line.trim().startsWith(open.fence) && line.trim().replace(/[`~]/g, '') === '') {
      found.push({ line: open.line, source: open.body.join('\n') });
      open = null;
    } else {
      open.body.push(line);
    }
  }
  if (open !== null) found.push({ line: open.line, source: null });
  return found;
}

let count = 0;
const failures = [];
for (const file of files) {
  for (const block of blocks(readFileSync(file, 'utf8'))) {
    count += 1;
    if (block.source === null) {
      failures.push({ file, line: block.line, message: 'unclosed mermaid fence' });
      continue;
    }
    try {
      await mermaid.parse(block.source);
    } catch (error) {
      const message = String(error?.message ?? error).split('\n').filter(Boolean).join(' | ');
      failures.push({ file, line: block.line, message });
    }
  }
}

if (json) {
  process.stdout.write(JSON.stringify({ blocks: count, failures }));
} else {
  for (const failure of failures) console.log(`${failure.file}:${failure.line}: ${failure.message}`);
  console.log(`${count} mermaid block(s) checked, ${failures.length} failed`);
}
process.exitCode = failures.length > 0 ? 1 : 0;
