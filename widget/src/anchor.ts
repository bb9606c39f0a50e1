/**
 * anchor.js: inline feedback, loaded by embed.js after the thread's first read (so neither embed.js's
 * size nor its first paint pays for it). It shares embed.js's `window.kibitzLive` (types.ts LiveHost).
 *
 * - The article (`data-kibitz-article="<CSS selector>"` on `#kibitz`, else the nearest `article`):
 *   selecting text in it (mouse, touch or keyboard) offers "Comment on this" `[data-kibitz-compose]`,
 *   right after the paragraph (the next Tab stop); it fills the main form with the quote and the anchor
 *   (match.ts Selector: exact, 32 characters of prefix and suffix, start, end, the text's hash).
 * - `<span data-kibitz-question="…">` around a passage: the question as a button `[data-kibitz-ask]`.
 * - Anchored comments (the thread's `filter=inline` read) are placed again in the article as it is now
 *   (match.ts): each passage becomes `mark[data-kibitz-mark]` with a marker `button[data-kibitz-marker]`
 *   (`data-count`) after it (in the margin on wide screens), which filters the thread to that passage. In the thread each anchored
 *   comment gets its quote `[data-quote]` and `data-anchor-state="attached|orphaned"` ("on an earlier
 *   version of this article"); hovering or focusing it highlights its passage (`data-active`).
 * Text positions count the article's text with every run of white space as one space.
 */

import { call, setBase } from "./api";
import { h } from "./dom";
import { locate, type Place, type Selector } from "./match";
import { addCss, clear, Prose, UI } from "./prose";
import type { Comment, LiveHost, ThreadPage } from "./types";

// Comment on this | % comment on this passage | % comments on this passage | On an earlier version of
// this article | Comments on this passage: | Show all comments | Remove the quote
const WORDS: Record<string, string> = {
  en: "Comment on this|% comment on this passage|% comments on this passage|On an earlier version of this article|Comments on this passage:|Show all comments|Remove the quote",
  de: "Kommentieren|% Kommentar zu dieser Stelle|% Kommentare zu dieser Stelle|Zu einer früheren Fassung dieses Artikels|Kommentare zu dieser Stelle:|Alle Kommentare zeigen|Zitat entfernen",
  fr: "Commenter ce passage|% commentaire sur ce passage|% commentaires sur ce passage|Sur une version antérieure de cet article|Commentaires sur ce passage :|Afficher tous les commentaires|Retirer la citation",
  es: "Comentar esto|% comentario sobre este pasaje|% comentarios sobre este pasaje|Sobre una versión anterior de este artículo|Comentarios sobre este pasaje:|Mostrar todos los comentarios|Quitar la cita",
  tr: "Buna yorum yap|Bu bölüme % yorum|Bu bölüme % yorum|Makalenin önceki bir sürümüne|Bu bölüme yorumlar:|Tüm yorumları göster|Alıntıyı kaldır",
};


// In the publisher's page (not the shadow root): the marks, markers and buttons in the article.
const PAGE_CSS = `
mark[data-kibitz-mark]{background:#fff1a8;color:inherit;border-bottom:2px solid #d4a72c;padding:0}
mark[data-kibitz-mark][data-active]{background:#ffd54f}
[data-kibitz-marker],[data-kibitz-ask],[data-kibitz-compose]{font:600 13px/1.2 system-ui,sans-serif;cursor:pointer;
min-width:24px;min-height:24px;border-radius:999px;margin:0 4px;padding:3px 9px;vertical-align:baseline}
[data-kibitz-marker]{border:1px solid #d4a72c;background:#fff8db;color:#5c4400}
[data-kibitz-ask]{border:1px solid #0a6e52;background:#e9f7f1;color:#0a4d3a}
[data-kibitz-compose]{position:absolute;z-index:2147483000;border:0;background:#0a6e52;color:#fff;box-shadow:0 2px 8px #0004}
@media (min-width:64em){[data-kibitz-marker]{float:inline-end;clear:inline-end;margin-inline-end:-3.4em}}
@media (pointer:coarse){[data-kibitz-marker],[data-kibitz-ask],[data-kibitz-compose]{min-width:44px;min-height:44px}}
`;

// In the shadow root: quotes in comments and forms, the passage filter's bar.
const CSS = `
.kb-quote{margin:4px 0 6px;padding:2px 10px;border-inline-start:3px solid var(--mark-border,#d4a72c);
background:var(--mark);color:var(--fg);font-style:italic;white-space:pre-wrap}
.kb-earlier{margin:4px 0 0;color:var(--muted);font-size:.9em}
.kb-passage{display:flex;flex-wrap:wrap;gap:6px;align-items:center;margin:0 0 10px}
[data-form-quote]{display:flex;gap:8px;align-items:flex-start}
[data-form-quote] .kb-quote{flex:1}
[data-anchor-state=orphaned]>article .kb-quote{background:none;color:var(--muted)}
`;

interface Anchored {
  id: string;
  sel: Selector;
  at: Place | null;
}

const script = document.currentScript as HTMLScriptElement | null;
const host = window.kibitzLive;
if (host && script) start(host, script.src.replace(/\/anchor\.js([?#].*)?$/, ""));
// The matcher alone, for bench/anchoring.py and a publisher's own checks.
(window as unknown as { kibitzMatch: typeof locate }).kibitzMatch = locate;

function start(host: LiveHost, base: string): void {
  setBase(base);
  const { root } = host;
  const shadow = root.getRootNode() as ShadowRoot;
  const el = shadow.host as HTMLElement;
  let article: Element | null = null;
  try {
    article = el.dataset.kibitzArticle ? document.querySelector(el.dataset.kibitzArticle) : null;
  } catch {
    article = null; // not a selector: the default below
  }
  // Else the article around the widget, or the last one before it (not a comment of the no-JS thread).
  const before = (a: Element) => !el.contains(a) && !!(a.compareDocumentPosition(el) & Node.DOCUMENT_POSITION_FOLLOWING);
  article ||= el.closest("article") || Array.from(document.querySelectorAll("article")).filter(before).pop() || null;
  const words = (WORDS[host.lang] || WORDS.en!).split("|");
  const plural = (n: number) =>
    (new Intl.PluralRules(host.lang).select(n) == "one" ? words[1]! : words[2]!).replace("%", String(n));
  const list = root.querySelector<HTMLElement>("[data-comments]")!;
  const form = root.querySelector<HTMLFormElement>("form[data-form=main]")!;
  const filter = root.querySelector<HTMLButtonElement>("[data-filter=inline]")!;
  addCss(shadow, CSS);
  addCss(document, PAGE_CSS);

  const anchored = new Map<string, Anchored>();
  let seen = new Set<string>(); // comment ids drawn when the anchored ones were last read
  let ready = false;
  let passage = ""; // the marker's passage the thread is filtered to ("start-end")
  const bar = h("p", { class: "kb-passage", "data-passage": "", hidden: true, tabindex: -1 });
  list.before(bar);

  // -- reading the anchored comments and placing them -------------------------------------------------------
  async function read(): Promise<void> {
    const found: Comment[] = [];
    let cursor: string | null = null;
    for (let i = 0; i < 5; i++) {
      const q = new URLSearchParams({ page: host.page, filter: "inline", sort: "oldest", limit: "100" });
      if (cursor) q.set("cursor", cursor);
      const data: ThreadPage = await call("GET", `/api/v1/sites/${encodeURIComponent(host.site)}/comments?${q}`);
      const walk = (cs: Comment[]) => cs.forEach((c) => (found.push(c), walk(c.replies)));
      walk(data.comments);
      if (!(cursor = data.next)) break;
    }
    seen = new Set(found.map((c) => c.id));
    for (const li of list.querySelectorAll<HTMLElement>("li[data-comment-id]")) seen.add(li.dataset.commentId!);
    ready = true;
    anchored.clear();
    for (const c of found) {
      const a = (c as Comment & { anchor?: Selector | null }).anchor;
      if (a && a.exact && !c.deleted) anchored.set(c.id, { id: c.id, sel: a, at: null });
    }
    place();
  }

  function place(): void {
    if (article) {
      clear(article);
      const text = new Prose(article);
      const all = [...anchored.values()];
      locate(text.text, all.map((a) => a.sel)).forEach((at, i) => (all[i]!.at = at));
      draw(text, all);
    }
    decorate();
  }

  /** Marks each placed passage and puts its marker after it (one per passage, with the count). */
  function draw(text: Prose, all: Anchored[]): void {
    const passages = new Map<string, Place & { n: number }>();
    for (const a of all) {
      if (!a.at) continue;
      const key = a.at.start + "-" + a.at.end;
      const p = passages.get(key);
      if (p) p.n++;
      else passages.set(key, { ...a.at, n: 1 });
    }
    // Cut each text node at every passage boundary, from its end, and wrap the pieces inside passages.
    const cuts = new Map<number, Set<number>>();
    for (const p of passages.values()) {
      for (let k = p.start; k < p.end; k++) {
        const n = text.node[k]!;
        const set = cuts.get(n) || new Set<number>();
        cuts.set(n, set);
        if (k == p.start || text.node[k - 1] != n) set.add(text.offset[k]!);
        if (k + 1 == p.end || text.node[k + 1] != n) set.add(text.offset[k]! + 1);
      }
    }
    const lastMark = new Map<string, HTMLElement>();
    for (const [n, set] of cuts) {
      const node = text.nodes[n]!;
      const offsets = [...set].sort((a, b) => b - a);
      const base = text.first[n]!;
      const pieces: [globalThis.Text, number][] = [];
      for (const off of offsets) if (off > 0 && off < node.data.length) pieces.push([node.splitText(off), off]);
      pieces.push([node, 0]);
      for (const [part, off] of pieces) {
        if (!part.data.trim()) continue;
        // The text index of this piece's first character: the passages that cover it.
        let k = base;
        while (k < text.text.length && text.node[k] == n && text.offset[k]! < off) k++;
        const keys = [...passages].filter(([, p]) => p.start <= k && k < p.end).map(([key]) => key);
        if (!keys.length) continue;
        const mark = h("mark", { "data-kibitz-mark": "", "data-keys": keys.join(" ") });
        part.replaceWith(mark);
        mark.appendChild(part);
        for (const key of keys) {
          const last = lastMark.get(key);
          if (!last || last.compareDocumentPosition(mark) & Node.DOCUMENT_POSITION_FOLLOWING) lastMark.set(key, mark);
        }
      }
    }
    for (const [key, mark] of lastMark) {
      const n = passages.get(key)!.n;
      const label = plural(n);
      mark.after(
        h(
          "button",
          { type: "button", [UI]: "", "data-kibitz-marker": key, "data-count": n, "aria-label": label, title: label },
          String(n),
        ),
      );
    }
  }

  // -- the thread: quotes, states, highlight on hover and focus, the passage filter --------------------------
  function decorate(): void {
    let unknown = false;
    for (const li of list.querySelectorAll<HTMLLIElement>("li[data-comment-id]")) {
      const id = li.dataset.commentId!;
      if (ready && !seen.has(id) && !li.hasAttribute("data-deleted")) unknown = true;
      const a = anchored.get(id);
      const art = li.firstElementChild as HTMLElement;
      art.querySelector(":scope [data-anchor-quote]")?.remove();
      if (!a) {
        li.removeAttribute("data-anchor-state");
        li.removeAttribute("data-anchor-key");
        continue;
      }
      const key = a.at ? a.at.start + "-" + a.at.end : "";
      li.dataset.anchorState = a.at ? "attached" : "orphaned";
      li.dataset.anchorKey = key;
      const body = art.querySelector("[data-body]");
      body?.before(
        h(
          "div",
          { "data-anchor-quote": "" },
          !a.at && h("p", { class: "kb-earlier", "data-earlier": "" }, words[3]),
          h("blockquote", { class: "kb-quote", "data-quote": "" }, a.sel.exact),
        ),
      );
    }
    for (const li of list.querySelectorAll<HTMLLIElement>(":scope>li")) li.hidden = !!passage && li.dataset.anchorKey != passage;
    if (unknown) again();
  }

  let timer = 0;
  let lastRead = 0;
  /** A comment the inline read has not seen (just posted, or live): read again, at most every 2 s. */
  function again(): void {
    if (timer) return;
    timer = window.setTimeout(
      () => {
        timer = 0;
        lastRead = Date.now();
        read().catch(() => {});
      },
      Math.max(200, 2000 - (Date.now() - lastRead)),
    );
  }

  new MutationObserver((records) => {
    // Our own quotes change the list too: only comments drawn anew count.
    if (records.some((r) => [...r.addedNodes].some((n) => n instanceof HTMLElement && !n.hasAttribute("data-anchor-quote")))) {
      decorate();
    }
  }).observe(list, { childList: true, subtree: true });

  const highlight = (e: Event, on: boolean) => {
    const li = (e.target as Element).closest?.<HTMLElement>("li[data-anchor-key]");
    const key = li?.dataset.anchorKey;
    if (!article || !key) return;
    for (const m of article.querySelectorAll(`mark[data-kibitz-mark]`)) {
      if (m.getAttribute("data-keys")!.split(" ").indexOf(key) >= 0) m.toggleAttribute("data-active", on);
    }
  };
  root.addEventListener("pointerover", (e) => highlight(e, true));
  root.addEventListener("pointerout", (e) => highlight(e, false));
  root.addEventListener("focusin", (e) => highlight(e, true));
  root.addEventListener("focusout", (e) => highlight(e, false));

  function focusPassage(key: string): void {
    // Anchored comments only (embed.js reads them), then this passage's alone (decorate).
    if (filter.getAttribute("aria-pressed") != "true") filter.click();
    passage = key;
    const a = [...anchored.values()].find((x) => x.at && x.at.start + "-" + x.at.end == key);
    bar.textContent = "";
    bar.append(
      h("span", null, words[4]),
      h("q", { class: "kb-quote" }, a ? a.sel.exact : ""),
      h("button", { type: "button", class: "kb-ghost", "data-passage-all": "" }, words[5]),
    );
    bar.hidden = false;
    decorate();
    bar.scrollIntoView({ block: "start" });
    bar.focus();
  }

  root.addEventListener("click", (e) => {
    const t = e.target as Element;
    if (t.closest("[data-passage-all]")) {
      passage = "";
      bar.hidden = true;
      if (filter.getAttribute("aria-pressed") == "true") filter.click();
      decorate();
    } else if (t.closest("[data-filter]") && passage) {
      passage = "";
      bar.hidden = true;
    } else if (t.closest("[data-unquote]")) unquote();
  });

  // -- writing about a passage ---------------------------------------------------------------------------
  function compose(sel: Selector): void {
    unquote();
    form.dataset.anchor = JSON.stringify(sel);
    form.prepend(
      h(
        "div",
        { "data-form-quote": "" },
        h("blockquote", { class: "kb-quote", "data-quote": "" }, sel.exact),
        h("button", { type: "button", class: "kb-ghost", "data-unquote": "" }, words[6]),
      ),
    );
    const area = form.querySelector("textarea")!;
    form.scrollIntoView({ block: "center" });
    area.focus();
  }

  function unquote(): void {
    delete form.dataset.anchor;
    form.querySelector("[data-form-quote]")?.remove();
  }

  // Posted: actions.js drops the anchor from the form; take its quote away too.
  new MutationObserver(() => {
    if (!form.dataset.anchor) form.querySelector("[data-form-quote]")?.remove();
  }).observe(form, { attributes: true, attributeFilter: ["data-anchor"] });

  if (article) {
    const art = article;
    const offer = h("button", { type: "button", [UI]: "", "data-kibitz-compose": "", hidden: true }, words[0]);
    let chosen: Selector | null = null;
    offer.addEventListener("mousedown", (e) => e.preventDefault()); // keep the selection
    /** The current selection, if it lies in the article: its selector and range. */
    const selected = (): [Selector, Range] | null => {
      const s = getSelection();
      const r = s && s.rangeCount ? s.getRangeAt(0) : null;
      if (!r || r.collapsed || form.hidden || !art.contains(r.startContainer) || !art.contains(r.endContainer)) return null;
      const text = new Prose(art);
      const sel = text.selector(text.at(r.startContainer, r.startOffset), text.at(r.endContainer, r.endOffset));
      return sel && [sel, r];
    };
    offer.addEventListener("click", () => {
      offer.hidden = true;
      // The selection as it is now (a keyboard reader may have extended it since the button showed).
      const sel = selected()?.[0] || chosen;
      if (sel) compose(sel);
    });
    let wait = 0;
    document.addEventListener("selectionchange", () => {
      clearTimeout(wait);
      wait = window.setTimeout(() => {
        const now = selected();
        const focused = document.activeElement == offer;
        if (!now) return void (offer.hidden = offer.hidden || !focused);
        const [sel, r] = now;
        chosen = sel;
        if (focused) return;
        // Right after the paragraph the selection ends in: the next Tab stop, shown beside the selection.
        let block: Node = r.endContainer;
        while (block.parentNode && block.parentNode != art) block = block.parentNode;
        if (block.parentNode != art) block = art.lastChild!;
        if (block != offer && block.nextSibling != offer) art.insertBefore(offer, block.nextSibling);
        offer.hidden = false;
        const box = r.getBoundingClientRect();
        const parent = offer.offsetParent as HTMLElement | null;
        const origin =
          parent && parent != document.body
            ? parent.getBoundingClientRect()
            : ({ left: -scrollX, top: -scrollY } as DOMRect);
        offer.style.left = Math.max(0, box.left - origin.left) + "px";
        offer.style.top = box.bottom - origin.top + 6 + "px";
      }, 120);
    });
    // Questions placed by the editor: `<span data-kibitz-question="What do you think?">passage</span>`.
    for (const span of art.querySelectorAll<HTMLElement>("[data-kibitz-question]")) {
      const ask = h("button", { type: "button", [UI]: "", "data-kibitz-ask": "" }, span.dataset.kibitzQuestion || words[0]);
      span.after(ask);
      ask.addEventListener("click", () => {
        const text = new Prose(art);
        const r = document.createRange();
        r.selectNodeContents(span);
        const sel = text.selector(text.at(r.startContainer, r.startOffset), text.at(r.endContainer, r.endOffset));
        if (sel) compose(sel);
      });
    }
    art.addEventListener("click", (e) => {
      const marker = (e.target as Element).closest?.<HTMLElement>("[data-kibitz-marker]");
      if (marker) focusPassage(marker.dataset.kibitzMarker!);
    });
  }

  // After the first paint, when the browser is idle.
  const idle = (window as unknown as { requestIdleCallback?: (f: () => void) => void }).requestIdleCallback;
  (idle || setTimeout)(() => read().catch(() => {}));
}
