/**
 * count.js: fills every `[data-kibitz-count][data-page]` element with its thread's comment count
 * ("5 comments", and `data-count="5"`), in one request per 100 pages.
 */

const WORDS: Record<string, [string, string]> = {
  en: ["comment", "comments"],
  de: ["Kommentar", "Kommentare"],
  fr: ["commentaire", "commentaires"],
  es: ["comentario", "comentarios"],
  tr: ["yorum", "yorum"],
};

const me =
  (document.currentScript as HTMLScriptElement | null) ||
  document.querySelector<HTMLScriptElement>('script[src*="/count.js"][data-site]');

function fill(): void {
  if (!me) return;
  const base = me.src.replace(/\/count\.js([?#].*)?$/, "");
  const site = me.dataset.site || "";
  const tag = (me.dataset.lang || document.documentElement.lang || "").toLowerCase().split(/[-_]/)[0] || "";
  const lang = WORDS[tag] ? tag : "en";
  const words = WORDS[lang] as [string, string];
  const plural = new Intl.PluralRules(lang);
  const els = Array.from(document.querySelectorAll<HTMLElement>("[data-kibitz-count][data-page]"));
  const pages = Array.from(new Set(els.map((el) => el.dataset.page as string)));
  // After the reader's own write (embed.js notes when), read past CDN and browser caches.
  let wrote = 0;
  try {
    wrote = Number(localStorage.getItem("kibitz:wrote")) || 0;
  } catch {}
  const fresh = Date.now() - wrote < 120e3 ? "&fresh=" + wrote : "";
  let warned = 0;
  for (let i = 0; i < pages.length; i += 100) {
    const q = pages
      .slice(i, i + 100)
      .map((p) => "page=" + encodeURIComponent(p))
      .join("&");
    fetch(`${base}/api/v1/sites/${encodeURIComponent(site)}/counts?${q}${fresh}`, { credentials: "omit" })
      .then((r) => (r.ok ? r.json() : Promise.reject()))
      .then((data: { counts: Record<string, number> }) => {
        for (const el of els) {
          const n = data.counts[el.dataset.page as string];
          if (typeof n != "number") continue;
          el.setAttribute("data-count", String(n));
          el.textContent = (n < 1e3 ? n : n.toLocaleString(lang)) + " " + words[plural.select(n) == "one" ? 0 : 1];
        }
      })
      .catch(() => {
        // Once per page; embed.js (where there is one) says more. The counts stay as the page wrote them.
        if (!warned++) console.warn(`Kibitz: no comment counts from ${base} for site "${site}"; see the server's log.`);
      });
  }
}

if (document.readyState == "loading") document.addEventListener("DOMContentLoaded", fill);
else fill();
