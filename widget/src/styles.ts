/**
 * The widget's stylesheet, inside its shadow root. Publishers theme it from the host element with
 * --kb-bg, --kb-fg, --kb-muted, --kb-border, --kb-surface, --kb-accent, --kb-on-accent, --kb-mark,
 * --kb-error, --kb-radius and --kb-font (custom properties cross the shadow boundary; nothing else does).
 */

const LIGHT = "#fff,#1f2328,#57606a,#d0d7de,#f6f8fa,#0a6e52,#fff,#fff5c2,#cf222e";
const DARK = "#16181c,#e6e8eb,#9aa5b1,#3a4049,#1f2329,#4fd1a5,#0b1f17,#4a4216,#ff8182";
const VARS = ["bg", "fg", "muted", "border", "surface", "accent", "on-accent", "mark", "error"];

const theme = (values: string) =>
  values
    .split(",")
    .map((v, i) => `--${VARS[i]}:var(--kb-${VARS[i]},${v});`)
    .join("");

export const CSS = `
:host{all:initial;display:block}
[hidden]{display:none!important}
.kb{${theme(LIGHT)}color-scheme:light;background:var(--bg);color:var(--fg);border-radius:var(--kb-radius,8px);
font:15px/1.55 var(--kb-font,system-ui,-apple-system,"Segoe UI",sans-serif);
padding:20px;text-align:start;overflow-wrap:anywhere}
.kb[data-theme=dark]{${theme(DARK)}color-scheme:dark}
.kb *{box-sizing:border-box}
.kb-sr{position:absolute!important;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap}
:focus-visible{outline:2px solid var(--accent);outline-offset:2px}
.kb-top{display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px;border-bottom:2px solid var(--accent);
padding-bottom:8px;margin-bottom:12px}
h2{font-size:1.25em;margin:0;font-weight:700}
.kb-invite{margin:0;color:var(--muted)}
.kb-follow{margin-inline-start:auto}
.kb-off,.kb-empty{color:var(--muted);margin:12px 0}
.kb-account{display:flex;flex-wrap:wrap;align-items:center;gap:6px 10px;margin:0 0 10px;font-size:.87em;color:var(--muted)}
.kb-account input{flex:1 1 12em;min-width:0;padding:6px 8px;border:1px solid var(--border);border-radius:var(--radius)}
.kb-badge{margin-inline-start:6px;padding:0 6px;border:1px solid var(--accent);border-radius:9px;font-size:.8em;color:var(--accent)}
.kb[data-signed-in] .kb-row{display:none}
.kb[data-closed] :is([data-action=reply],[data-form=reply],[data-action=follow],[data-form=follow],[data-follow-done]),
.kb[data-down] :is(form,.kb-bar,.kb-follow,.kb-invite,.kb-more,.kb-acts){display:none}
.kb-form{display:grid;gap:10px;margin:0 0 20px}
.kb-notify{display:flex;justify-content:flex-end}
.kb-f{display:grid;gap:4px;min-width:0;align-content:start}
.kb-inl{display:flex;align-items:center;gap:8px}
label,.kb-meta,.kb-err,.kb-acts,.kb-note{font-size:.87em;color:var(--muted)}
input,textarea,select,button{font:inherit;color:inherit}
input,textarea,select{background:var(--bg);border:1px solid var(--border);border-radius:6px;padding:8px 10px;width:100%}
select{width:auto;padding:4px 8px}
textarea{resize:vertical;min-height:5.2em}
[aria-invalid=true]{border-color:var(--error)}
.kb-row{display:grid;grid-template-columns:repeat(auto-fit,minmax(150px,1fr));gap:10px}
.kb-err{color:var(--error)}
.kb-err:empty{display:none}
.kb-btns{display:flex;flex-wrap:wrap;align-items:center;gap:8px;justify-content:flex-end}
button{cursor:pointer;background:none;border:0;padding:4px 6px;border-radius:6px}
button,select{min-width:24px;min-height:24px}
@media (pointer:coarse){button,select,input{min-width:44px;min-height:44px}}
button:disabled{cursor:default;opacity:.5}
.kb-primary{background:var(--accent);color:var(--on-accent);font-weight:600;padding:8px 16px}
.kb-ghost{border:1px solid var(--border);padding:7px 14px}
button:hover:not(:disabled,.kb-primary){background:var(--surface)}
.kb-preview{border:1px dashed var(--border);border-radius:6px;padding:8px 12px}
.kb-bar{display:flex;flex-wrap:wrap;align-items:center;gap:8px;border-bottom:1px solid var(--border);margin-bottom:8px}
[role=tablist]{display:flex;margin-inline-start:auto}
[role=tab],[data-filter]{color:var(--muted);padding:8px 10px;border-radius:0;border-bottom:2px solid transparent;margin-bottom:-1px}
[aria-selected=true],[data-filter][aria-pressed=true]{color:var(--fg);border-color:var(--accent);font-weight:600}
ol{list-style:none;margin:0;padding:0}
[data-replies]{margin-inline-start:28px;padding-inline-start:12px;border-inline-start:2px solid var(--border)}
.kb-flat{margin:0;padding:0;border:0}
.kb-c{display:flex;gap:12px;padding:12px 6px;border-radius:6px}
li[data-highlighted]>.kb-c{background:var(--mark)}
.kb-av{flex:none;width:40px;height:40px;border-radius:50%;background:var(--surface)}
[data-replies] .kb-av{width:32px;height:32px}
.kb-main{flex:1;min-width:0}
.kb-meta{display:flex;flex-wrap:wrap;align-items:baseline;gap:2px 10px}
.kb-name{color:var(--fg);font-weight:600;font-size:1.07em;text-decoration:none}
a.kb-name{display:inline-block;min-height:24px}
.kb-ed::before{content:"· "}
.kb-tag{background:var(--surface);border-radius:9px;padding:0 7px}
.kb-body{margin:4px 0 2px}
.kb-body>*{margin:0 0 .6em}
.kb-body>:last-child{margin:0}
.kb-body :is(ul,ol){padding-inline-start:1.4em;list-style:revert}
.kb-body a{color:var(--accent)}
.kb-body blockquote{border-inline-start:3px solid var(--border);padding-inline-start:10px;color:var(--muted)}
.kb-body code{font:.9em ui-monospace,monospace;background:var(--surface);padding:1px 4px;border-radius:4px}
.kb-body pre{background:var(--surface);padding:8px;border-radius:6px;overflow:auto}
.kb-body img{max-width:100%;height:auto}
.kb-tomb{color:var(--muted);font-style:italic;margin:8px 0}
.kb-acts{display:flex;flex-wrap:wrap;align-items:center;gap:2px;margin-inline-start:-6px}
.kb-acts button{color:var(--muted);font-weight:600}
.kb-vote{display:inline-flex;align-items:center;justify-content:center;padding:6px}
.kb-vote svg{width:14px;height:14px;fill:currentColor}
.kb-vote[aria-pressed=true]{color:var(--accent)}
.kb-score{min-width:1.6em;text-align:center;font-weight:700;color:var(--fg)}
.kb-note{margin:4px 0}
.kb-link,.kb-more{color:var(--accent);font-weight:600;padding:6px 8px}
.kb-more{display:block;width:100%;margin-top:12px;border:1px solid var(--border);padding:10px}
.kb-closed{color:var(--muted);font-style:italic}
@media (max-width:480px){.kb{padding:12px}[data-replies]{margin-inline-start:8px;padding-inline-start:8px}.kb-av{width:32px;height:32px}}
`;
