/** What the HTML reports share: escaping, and one self-contained page (inline CSS, no script, no external resource). */
export const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** `title` is escaped here; `body` is HTML the caller escaped. */
export function htmlPage(title: string, body: string[]): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<style>
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #18181b; }
pre { background: #f4f4f5; padding: .8em; overflow-x: auto; font-size: 12px; }
.badge { font-size: .75em; padding: .15em .6em; border-radius: 1em; vertical-align: middle; }
.confirmed { background: #dcfce7; color: #166534; } .refuted { background: #fee2e2; color: #991b1b; } .not-observable { background: #e4e4e7; color: #3f3f46; }
table.summary td, table.summary th { padding: .3em .8em; text-align: left; border-bottom: 1px solid #e4e4e7; }
figure { margin: 1em 0; overflow-x: auto; } figcaption { font-size: .9em; color: #52525b; }
.reason { color: #52525b; }
</style></head><body>
${body.join('\n')}
</body></html>
`;
}
