/**
 * live.js: live updates and the comment bubble, loaded by embed.js after its first render (so embed.js
 * stays small). embed.js leaves what this needs in `window.kibitzLive` (types.ts `LiveHost`).
 * ONE EventSource per page on `/api/v1/sites/{site}/events?page=P`; after repeated errors, polling the
 * thread every 10 s instead.
 */

import { h } from "./dom";
import { get, set } from "./store";
import type { Comment, LiveHost, ThreadPage } from "./types";

const POLL = 10e3;
const ERRORS = 3; // EventSource errors in a row before polling instead
const MAX_DEPTH = 5;

// "% new comment", "% new comments", "New comment by %", "Close" per language.
const WORDS: Record<string, string> = {
  en: "% new comment|% new comments|New comment by %|Close",
  de: "% neuer Kommentar|% neue Kommentare|Neuer Kommentar von %|Schließen",
  fr: "% nouveau commentaire|% nouveaux commentaires|Nouveau commentaire de %|Fermer",
  es: "% comentario nuevo|% comentarios nuevos|Nuevo comentario de %|Cerrar",
  tr: "% yeni yorum|% yeni yorum|%: yeni yorum|Kapat",
};

const CSS = `
.kb-pill{position:sticky;top:8px;z-index:2;display:block;width:fit-content;margin:0 auto 8px;
background:var(--accent);color:var(--on-accent);font-weight:600;border-radius:999px;padding:6px 16px;
box-shadow:0 2px 8px #0003}
.kb-bubble{position:fixed;bottom:16px;inset-inline-end:16px;z-index:2147483000;display:flex;align-items:center;
gap:4px;max-width:min(340px,calc(100vw - 32px));background:var(--bg);color:var(--fg);border:1px solid var(--border);
border-radius:999px;padding:4px 6px 4px 4px;box-shadow:0 4px 16px #0003}
.kb-bubble [data-action=bubble]{display:flex;align-items:center;gap:8px;text-align:start;border-radius:999px;padding:6px 10px}
.kb-bubble b{background:var(--accent);color:var(--on-accent);border-radius:999px;padding:2px 10px;white-space:nowrap}
.kb-bubble [data-action=bubble-close]{font-size:1.3em;line-height:1;padding:4px 10px;color:var(--muted);border-radius:50%}
`;

const script = document.currentScript as HTMLScriptElement | null;
const hook = window.kibitzLive;
if (hook && script) start(hook, script.src.replace(/\/live\.js([?#].*)?$/, ""));

function start(host: LiveHost, base: string): void {
  const { root, t } = host;
  const shadow = root.getRootNode() as ShadowRoot;
  const el = shadow.host as HTMLElement;
  const words = (WORDS[host.lang] || (WORDS.en as string)).split("|") as [string, string, string, string];
  const list = root.querySelector<HTMLElement>("[data-comments]")!;
  const heading = root.querySelector<HTMLElement>("[data-count]")!;
  const region = root.querySelector<HTMLElement>("[data-live]")!;
  const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-comment-id="${id}"]`);
  const say = (text: string) => (region.textContent = region.textContent == text ? text + "\u00a0" : text);
  const plural = (n: number, one: string, other: string) =>
    (new Intl.PluralRules(host.lang).select(n) == "one" ? one : other).replace("%", String(n));

  if (shadow.adoptedStyleSheets && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } else shadow.appendChild(h("style", null, CSS));

  // -- the "N new comments" pill: new comments drawn above where the reader is --------------------------
  let above: HTMLLIElement[] = [];
  const pill = h("button", { type: "button", class: "kb-pill", "data-new-pill": "", hidden: true });
  list.parentElement!.before(pill);
  const showPill = () => {
    above = above.filter((li) => li.isConnected && li.getBoundingClientRect().bottom < 0);
    pill.hidden = !above.length;
    pill.textContent = plural(above.length, words[0], words[1]);
  };
  pill.addEventListener("click", () => {
    const first = above.sort((a, b) => a.getBoundingClientRect().top - b.getBoundingClientRect().top)[0];
    above = [];
    pill.hidden = true;
    if (!first) return;
    first.scrollIntoView({ block: "start" });
    (first.firstElementChild as HTMLElement).focus({ preventScroll: true });
  });

  // -- applying what happened -------------------------------------------------------------------------
  const sortNow = () => root.querySelector<HTMLElement>("[role=tab][aria-selected=true]")?.dataset.sort;

  function created(c: Comment): void {
    if (find(c.id) || c.deleted || c.status == "pending") return;
    let li: HTMLLIElement;
    if (c.parent) {
      const parent = find(c.parent);
      if (!parent) return; // its parent is not drawn: the count says it all
      const depth = +(parent.dataset.depth || 0) + 1;
      let replies = parent.querySelector(":scope>[data-replies]");
      if (!replies) {
        replies = h("ol", { "data-replies": "", class: depth > MAX_DEPTH ? "kb-flat" : null });
        parent.firstElementChild!.after(replies);
      }
      li = replies.appendChild(host.comment(c, depth));
    } else {
      li = host.comment(c, 0);
      if (sortNow() == "newest") list.prepend(li);
      else list.append(li);
    }
    say(words[2].replace("%", c.author.name));
    if (li.getBoundingClientRect().bottom < 0) {
      above.push(li);
      showPill();
    }
  }

  function updated(c: Comment): void {
    const li = find(c.id);
    if (!li) return;
    if (c.deleted) return deleted(c);
    const old = li.firstElementChild!;
    const fresh = host.article(c);
    const body = old.querySelector("[data-body]");
    if (old.querySelector("form") && body) {
      // The reader has a form open on it: only the text changes.
      const text = fresh.querySelector("[data-body]")!;
      (text as HTMLElement).hidden = (body as HTMLElement).hidden;
      body.replaceWith(text);
    } else li.replaceChild(fresh, old);
  }

  function deleted(c: Comment): void {
    const li = find(c.id);
    if (!li) return;
    if (li.querySelector(":scope>[data-replies]>li,:scope>[data-action=continue]")) {
      li.setAttribute("data-deleted", "");
      li.replaceChild(host.article({ ...c, deleted: true }), li.firstElementChild!);
    } else li.remove();
    showPill();
  }

  function voted(v: { id: string; score: number; up: number; down: number }): void {
    const score = find(v.id)?.firstElementChild?.querySelector<HTMLElement>("[data-score]");
    if (!score) return;
    score.textContent = String(v.score);
    score.title = `+${v.up} / −${v.down}`;
  }

  const handlers: Record<string, (data: any) => void> = {
    "comment.created": (d) => created(d.comment),
    "comment.updated": (d) => updated(d.comment),
    "comment.deleted": (d) => deleted(d.comment),
    "comment.voted": voted,
    "thread.count": (d) => host.count(d.count),
  };

  // -- the stream, or polling when it keeps failing -------------------------------------------------------
  const q = "?page=" + encodeURIComponent(host.page);
  const path = base + "/api/v1/sites/" + encodeURIComponent(host.site);
  let errors = 0;

  function connect(): void {
    const source = new EventSource(path + "/events" + q);
    source.onopen = () => (errors = 0);
    for (const kind in handlers) {
      source.addEventListener(kind, (e) => {
        errors = 0;
        try {
          handlers[kind]!(JSON.parse((e as MessageEvent<string>).data));
        } catch {
          // A malformed event changes nothing on the page.
        }
      });
    }
    source.onerror = () => {
      if (++errors >= ERRORS) {
        source.close();
        poll(null);
      } else if (source.readyState == EventSource.CLOSED) setTimeout(connect, 3e3); // the browser gave up
    };
  }

  /** The thread every 10 s; comments not seen in an earlier answer are new. */
  async function poll(seen: Set<string> | null): Promise<void> {
    try {
      const r = await fetch(path + "/comments" + q + "&sort=newest&limit=50", { cache: "no-cache" });
      if (r.ok) {
        const data = (await r.json()) as ThreadPage;
        const known = seen || new Set<string>();
        const walk = (cs: Comment[]) => {
          for (const c of cs) {
            if (seen && !known.has(c.id)) created(c);
            known.add(c.id);
            voted(c);
            walk(c.replies);
          }
        };
        walk(data.comments);
        host.count(data.thread.count);
        seen = known;
      }
    } catch {
      // Offline for now: the next round tries again.
    } finally {
      setTimeout(() => poll(seen), POLL);
    }
  }

  connect();
  addEventListener("scroll", () => above.length && showPill(), { passive: true });

  // -- the bubble ----------------------------------------------------------------------------------------
  if (el.dataset.bubble == "off" || get("bubble-closed")) return;
  const badge = h("b", { "aria-live": "polite" }, heading.textContent);
  const jump = h("button", { type: "button", "data-action": "bubble" }, badge, h("span", null, t.invite));
  const close = h("button", { type: "button", "data-action": "bubble-close", "aria-label": words[3] }, "×");
  const bubble = h("div", { class: "kb-bubble", "data-bubble": "", hidden: true }, jump, close);
  root.prepend(bubble); // first in the widget's tab order
  new MutationObserver(() => (badge.textContent = heading.textContent)).observe(heading, {
    childList: true,
    characterData: true,
    subtree: true,
  });
  let off = false;
  const place = () => {
    const box = el.getBoundingClientRect();
    const article = box.top + scrollY; // the page's content above the widget
    const inView = box.top < innerHeight && box.bottom > 0;
    bubble.hidden = off || inView || !scrollY || scrollY + innerHeight < 0.6 * article;
  };
  jump.addEventListener("click", () => {
    const form = root.querySelector<HTMLFormElement>("form[data-form=main]");
    const to = form && !form.hidden ? form : heading;
    to.scrollIntoView({ block: "center" });
    (to.querySelector<HTMLElement>("textarea") || to).focus({ preventScroll: true });
    place();
  });
  close.addEventListener("click", () => {
    set("bubble-closed", "1");
    off = true;
    bubble.hidden = true;
    heading.focus({ preventScroll: true });
  });
  addEventListener("scroll", place, { passive: true });
  addEventListener("resize", place, { passive: true });
  place();
}
