/**
 * live.js: live updates and the comment bubble, loaded by embed.js once it has read the thread (so
 * embed.js stays small). embed.js leaves what this needs in `window.kibitzLive` (types.ts `LiveHost`).
 * ONE EventSource per page on `/api/v1/sites/{site}/events?page=P`; after repeated errors, polling the
 * thread every 10 s instead. It applies closing and reopening (`thread.changed`), tells the header's
 * count ledger (tally.ts) what each count includes, keeps relative times and edit controls current,
 * draws the reader's own comments that the public thread does not show (held, or shadow-banned), and
 * shows the story's updates (banner.ts).
 */

import { BANNER_CSS, banners } from "./banner";
import { h } from "./dom";
import { editLeft, get, getJson, set, token } from "./store";
import type { Comment, LiveHost, ThreadPage } from "./types";

const POLL = 10e3;
const ERRORS = 3; // EventSource errors in a row before polling instead
const MAX_DEPTH = 5;
const LOOKUPS = 20; // own comments asked about per load, at most
const KEEP = 30 * 864e5; // own comments older than this (ms) are no longer asked about

// "% new comment", "% new comments", "New comment by %", "Close" per language.
const WORDS: Record<string, string> = {
  en: "% new comment|% new comments|New comment by %|Close",
  de: "% neuer Kommentar|% neue Kommentare|Neuer Kommentar von %|Schließen",
  fr: "% nouveau commentaire|% nouveaux commentaires|Nouveau commentaire de %|Fermer",
  es: "% comentario nuevo|% comentarios nuevos|Nuevo comentario de %|Cerrar",
  tr: "% yeni yorum|% yeni yorum|%: yeni yorum|Kapat",
};

const CSS = `
[data-pending]>.kb-c{border:1px dashed var(--border)}
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
  const { root } = host;
  const shadow = root.getRootNode() as ShadowRoot;
  const el = shadow.host as HTMLElement;
  const words = (WORDS[host.lang] || (WORDS.en as string)).split("|") as [string, string, string, string];
  const list = root.querySelector<HTMLElement>("[data-comments]")!;
  const heading = root.querySelector<HTMLElement>("h2")!;
  const invite = root.querySelector<HTMLElement>("[data-invite]")!;
  const region = root.querySelector<HTMLElement>("[data-live]")!;
  const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-comment-id="${id}"]`);
  const say = (text: string) => (region.textContent = region.textContent == text ? text + "\u00a0" : text);
  const plural = (n: number, one: string, other: string) =>
    (new Intl.PluralRules(host.lang).select(n) == "one" ? one : other).replace("%", String(n));

  if (shadow.adoptedStyleSheets && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS + BANNER_CSS);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } else shadow.appendChild(h("style", null, CSS + BANNER_CSS));

  // -- the story's updates (banner.ts) --------------------------------------------------------------------
  const box = h("div", { class: "kb-updates", "data-updates": "" });
  root.querySelector("header")!.after(box);
  const update = banners(box, host.lang, host.updates || [], say);

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

  /** Draws `c` as the last reply of `parent`. */
  function reply(c: Comment, parent: HTMLLIElement): HTMLLIElement {
    const depth = +(parent.dataset.depth || 0) + 1;
    let replies = parent.querySelector(":scope>[data-replies]");
    if (!replies) {
      replies = h("ol", { "data-replies": "", class: depth > MAX_DEPTH ? "kb-flat" : null });
      parent.firstElementChild!.after(replies);
    }
    return replies.appendChild(host.comment(c, depth));
  }

  function created(c: Comment): void {
    if (c.deleted || c.status == "pending") return;
    forget(c.id); // public now
    const drawn = find(c.id);
    if (drawn) {
      // The reader's own held comment, approved: the note goes (the count follows: thread.count).
      if (drawn.hasAttribute("data-pending")) {
        drawn.removeAttribute("data-pending");
        drawn.replaceChild(host.article(c), drawn.firstElementChild!);
      }
      return;
    }
    let li: HTMLLIElement;
    if (c.parent) {
      const parent = find(c.parent);
      if (!parent) return; // its parent is not drawn: the count says it all
      li = reply(c, parent);
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
    score.textContent = String(v.score).replace("-", "\u2212");
    score.title = `+${v.up} / −${v.down}`;
  }

  // The count ledger (embed.js tally.ts) learns which comments each batch's thread.count includes.
  let opened = 0; // the ledger's clock when the stream last opened
  const handlers: Record<string, (data: any) => void> = {
    "comment.created": (d) => {
      host.saw(d.comment.id, d.comment.deleted);
      created(d.comment);
    },
    "comment.updated": (d) => {
      host.saw(d.comment.id, d.comment.deleted);
      updated(d.comment);
    },
    "comment.deleted": (d) => {
      host.saw(d.comment.id, true);
      deleted(d.comment);
    },
    "comment.voted": voted,
    "thread.changed": (d) => host.closed(!!d.closed),
    "thread.count": (d) => host.count(d.count, opened),
    "story.update": (d) => update(d.update),
  };

  // -- relative times, and edit controls that go when the edit window is over -----------------------------
  setInterval(() => {
    for (const time of root.querySelectorAll("time")) time.textContent = host.ago(time.dateTime);
    for (const b of root.querySelectorAll("[data-action=edit],[data-action=delete]")) {
      if (!editLeft(b.closest<HTMLElement>("li[data-comment-id]")!.dataset.commentId!)) b.remove();
    }
  }, 30e3);

  // -- the reader's own comments the public thread does not show (DESIGN.md §3b) --------------------------
  // `kibitz:posted:SITE PAGE` lists them (store.ts): held for moderation, hidden from everyone else by a
  // shadow ban, or not shown yet. After the thread is drawn (never before: this runs after it), each is
  // asked about with its edit token: still held → drawn with its "Awaiting moderation" note; approved →
  // drawn as the reader's own comment; rejected or gone → forgotten. Failures change nothing.
  const key = "posted:" + host.site + " " + host.page;
  const mine: Record<string, Comment> = {}; // the answers of this load
  let asks = LOOKUPS;
  let checking = false;
  const listed = (): string[] => {
    const ids = getJson<unknown>(key);
    return Array.isArray(ids) ? ids : [];
  };
  const keep = (ids: string[]) => set(key, JSON.stringify(ids.slice(-50)));

  function forget(id: string, gone?: boolean): void {
    const ids = listed();
    if (ids.indexOf(id) >= 0) keep(ids.filter((x) => x != id));
    delete mine[id];
    if (gone) set("token:" + id, null);
  }

  async function lookup(id: string, drop: Set<string>): Promise<void> {
    try {
      const r = await fetch(base + "/api/v1/comments/" + encodeURIComponent(id), {
        headers: { Authorization: "Bearer " + token(id)!.token },
        cache: "no-store",
      });
      const c = r.ok ? ((await r.json()) as { comment: Comment }).comment : null;
      if (c && !c.deleted && (c.status == "pending" || c.status == "approved")) mine[id] = c;
      else if (c || r.status == 401 || r.status == 403 || r.status == 404) drop.add(id); // rejected, or gone
    } catch {
      // Offline, or refused: asked again on the next load.
    }
  }

  /** Draw the reader's own comments missing from the list; `first`: the list shows the public thread. */
  async function check(first: boolean): Promise<void> {
    if (checking) return;
    checking = true;
    try {
      const drop = new Set<string>();
      const ask: string[] = [];
      for (const id of listed().reverse()) {
        // Newest first: older ones are more likely settled.
        const own = token(id);
        const li = find(id);
        if (!own || Date.now() - own.created > KEEP) drop.add(id);
        else if (li) {
          if (first && !li.hasAttribute("data-pending")) drop.add(id); // in the public thread
        } else if (!mine[id] && asks > 0) {
          asks--;
          ask.push(id);
        }
      }
      await Promise.all(ask.map((id) => lookup(id, drop)));
      for (const id of drop) forget(id, ask.indexOf(id) >= 0); // its token too when the API said so
      for (const id of listed()) {
        const c = mine[id];
        if (!c || find(id)) continue;
        // In its place: under its parent when that is drawn, else at the top.
        const parent = c.parent ? find(c.parent) : null;
        if (parent) reply(c, parent);
        else list.prepend(host.comment(c, 0));
      }
    } catch {
      // A malformed answer draws nothing more.
    } finally {
      checking = false;
    }
  }

  // -- the stream, or polling when it keeps failing -------------------------------------------------------
  const q = "?page=" + encodeURIComponent(host.page);
  const path = base + "/api/v1/sites/" + encodeURIComponent(host.site);
  let errors = 0;

  function connect(): void {
    const source = new EventSource(path + "/events" + q);
    source.onopen = () => {
      errors = 0;
      opened = host.now(); // own writes answered before this are in the stream's counts
    };
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
    const asked = host.now();
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
        host.count(data.thread.count, asked, asked);
        host.closed(data.thread.closed);
        for (const u of (data.updates || []).slice().reverse()) update(u);
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

  check(true);
  // A new sort or filter draws the list anew: draw them again.
  new MutationObserver(() => check(false)).observe(list, { childList: true });

  // -- the bubble ----------------------------------------------------------------------------------------
  if (el.dataset.bubble == "off" || get("bubble-closed")) return;
  const badge = h("b", { "aria-live": "polite" }, heading.textContent);
  const says = h("span", null, invite.textContent);
  const jump = h("button", { type: "button", "data-action": "bubble" }, badge, says);
  const close = h("button", { type: "button", "data-action": "bubble-close", "aria-label": words[3] }, "×");
  const bubble = h("div", { class: "kb-bubble", "data-bubble": "", hidden: true }, jump, close);
  root.prepend(bubble); // first in the widget's tab order
  const mirror = new MutationObserver(() => {
    badge.textContent = heading.textContent;
    says.textContent = invite.textContent; // "Be the first…", "Would love your thoughts…", "Comments are closed."
  });
  for (const watched of [heading, invite]) mirror.observe(watched, { childList: true, characterData: true, subtree: true });
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
