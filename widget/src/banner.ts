/**
 * The story's updates above the comments (part of live.js): "Correction, 3 Dec: …" banners from the
 * first read and, at once, from the stream's `story.update` event. Each is a region with a heading and
 * a Dismiss button; a dismissed update stays dismissed in this browser (`kibitz:dismissed`, a JSON list
 * of update ids, the newest 50).
 */

import { h } from "./dom";
import { safeHtml } from "./sanitize";
import { getJson, set } from "./store";
import type { Update } from "./types";

const KEEP = 50;

// "Correction", "Update", "Follow-up", "Dismiss", "Read more" per language.
const WORDS: Record<string, string> = {
  en: "Correction|Update|Follow-up|Dismiss|Read more",
  de: "Korrektur|Aktualisierung|Nachtrag|Ausblenden|Weiterlesen",
  fr: "Correction|Mise à jour|Suite|Masquer|Lire la suite",
  es: "Corrección|Actualización|Seguimiento|Cerrar|Leer más",
  tr: "Düzeltme|Güncelleme|Devamı|Kapat|Devamını oku",
};

export const BANNER_CSS = `
.kb-updates{display:grid;gap:8px;margin:0 0 16px}
.kb-update{position:relative;border:1px solid var(--accent);border-inline-start-width:4px;border-radius:8px;
padding:8px 44px 8px 12px;background:var(--bg)}
.kb-update h3{font-size:1em;margin:0}
.kb-update .kb-body>:last-child{margin-bottom:0}
.kb-update [data-action=dismiss-update]{position:absolute;top:4px;inset-inline-end:4px;font-size:1.3em;line-height:1;
padding:4px 10px;color:var(--muted);border-radius:50%}
`;

/** Draws updates into `box` (newest first) and returns `add`, for updates that arrive later. */
export function banners(box: HTMLElement, lang: string, first: Update[], say: (text: string) => void) {
  const words = (WORDS[lang] || (WORDS.en as string)).split("|");
  const kinds: Record<string, string | undefined> = { correction: words[0], update: words[1], "follow-up": words[2] };
  const dismissed = () => getJson<string[]>("dismissed") || [];

  function lead(u: Update): string {
    const day = new Date(u.created);
    const when = isNaN(+day) ? "" : ", " + day.toLocaleDateString(lang, { day: "numeric", month: "short" });
    return `${kinds[u.kind] || words[1]}${when}: ${u.title}`;
  }

  function draw(u: Update, fresh: boolean): void {
    if (dismissed().includes(u.id) || box.querySelector(`[data-update-id="${CSS.escape(u.id)}"]`)) return;
    const id = "kb-update-" + u.id;
    const close = h("button", { type: "button", "data-action": "dismiss-update", "aria-label": `${words[3]}: ${u.title}` }, "×");
    const body = h("div", { class: "kb-body" }, safeHtml(u.html));
    const more = u.url && /^https?:\/\//i.test(u.url) ? h("p", null, h("a", { href: u.url, rel: "noopener" }, words[4])) : null;
    const el = h(
      "section",
      { class: "kb-update", "data-update-id": u.id, "data-kind": u.kind, "aria-labelledby": id },
      h("h3", { id }, lead(u)),
      body,
      more,
      close,
    );
    close.addEventListener("click", () => {
      set("dismissed", JSON.stringify([...dismissed(), u.id].slice(-KEEP)));
      const next = el.nextElementSibling || el.previousElementSibling;
      el.remove();
      box.hidden = !box.children.length;
      // Focus stays in the widget: the next update's Dismiss, else the comments' heading.
      (next?.querySelector<HTMLElement>("[data-action=dismiss-update]") || box.parentElement!.querySelector<HTMLElement>("h2"))?.focus();
    });
    if (fresh) box.prepend(el);
    else box.append(el);
    box.hidden = false;
    if (fresh) say(lead(u)); // a live region announces what arrives while the reader is here
  }

  box.hidden = true;
  for (const u of first) draw(u, false);
  return (u: Update) => draw(u, true);
}
