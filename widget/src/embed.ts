/**
 * embed.js: the reader's comment section, drawn into an open shadow root on `#kibitz`
 * (DESIGN.md §3 "Embedding contract"). It talks to the Kibitz server it was loaded from, only.
 */

import { ApiError, call, setBase } from "./api";
import { h } from "./dom";
import { countText, lang, setLang, t, type Strings } from "./i18n";
import { articleEl, button, closed, commentEl, formEl, repliesEl, setClosed } from "./render";
import { safeHtml } from "./sanitize";
import { fromSsr } from "./ssr";
import { get, getJson, set, token } from "./store";
import { CSS } from "./styles";
import { ago } from "./time";
import type { Comment, Posted, Sort, Tally, ThreadPage } from "./types";

const FIRST = 10; // top-level comments drawn when a thread opens
const SORTS: Sort[] = ["newest", "oldest", "votes"];
const FIELDS: Record<string, string> = { text: "text", "author.name": "name", "author.email": "email", "author.url": "url" };

const script =
  (document.currentScript as HTMLScriptElement | null) ||
  Array.from(document.querySelectorAll<HTMLScriptElement>("script[src]")).find((s) => /\/embed\.js([?#]|$)/.test(s.src));

let root: HTMLElement;
let list: HTMLOListElement;
let heading: HTMLElement;
let invite: HTMLElement;
let mainForm: HTMLFormElement;
let closedNote: HTMLElement;
let moreButton: HTMLButtonElement;
let live: HTMLElement;
let tabs: HTMLButtonElement[];
let filter: HTMLButtonElement;
let loads = 0;
// Where the widget is and what it shows.
let site = "";
let page = "";
let sort: Sort = "newest";
let inline = false;
let expanded = false;
let count = 0;
let next: string | null = null;

const enc = encodeURIComponent;
const threadKey = () => "posted:" + site + " " + page;
const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-comment-id="${id}"]`);
const all = <E extends Element = HTMLElement>(sel: string, from: ParentNode = root) =>
  Array.from(from.querySelectorAll<E>(sel));

function boot(): void {
  const host = document.getElementById("kibitz");
  if (!host || host.shadowRoot || !script) return;
  setBase(script.src.replace(/\/embed\.js([?#].*)?$/, ""));
  site = host.dataset.site || "";
  page = host.dataset.page || location.pathname.replace(/(.)\/+$/, "$1");
  const stored = get("sort") as Sort;
  sort = SORTS.indexOf(stored) >= 0 ? stored : "newest";
  setLang(host);
  const ssr = host.querySelector("section[data-kibitz-ssr]");
  const shadow = host.attachShadow({ mode: "open" });
  if (shadow.adoptedStyleSheets && window.CSSStyleSheet && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS); // not subject to a host page's style-src CSP, unlike <style>
    shadow.adoptedStyleSheets = [sheet];
  } else shadow.appendChild(h("style", null, CSS));
  shadow.appendChild(skeleton());
  const dark = matchMedia("(prefers-color-scheme: dark)");
  const theme = () => {
    const wanted = host.dataset.theme;
    root.dataset.theme = wanted == "dark" || (wanted != "light" && dark.matches) ? "dark" : "light";
  };
  theme();
  dark.addEventListener?.("change", theme);
  if (ssr) {
    // Hydration: the server-rendered thread gives the first paint; the API's answer replaces it.
    const first = fromSsr(ssr);
    ssr.remove();
    if (ssr.getAttribute("data-sort") == sort) {
      first.comments = first.comments.slice(0, FIRST);
      paint(first, false);
    }
  }
  root.addEventListener("click", onClick);
  root.addEventListener("submit", onSubmit);
  root.addEventListener("keydown", onKey);
  window.addEventListener("hashchange", target);
  load(false)
    .then(target)
    .then(() => {
      // Live updates and the bubble: a separate bundle, so this one stays small (types.ts LiveHost).
      window.kibitzLive = { site, page, root, count: setCount, comment: commentEl, article: articleEl, t, lang, ago };
      document.head.appendChild(h("script", { src: script!.src.replace(/embed\.js.*/, "live.js"), async: true }));
    });
}

function skeleton(): HTMLElement {
  heading = h("h2", { tabindex: -1 }, t.comments);
  invite = h("p", { class: "kb-invite", "data-invite": "" }, t.invite);
  mainForm = formEl("main");
  closedNote = h("p", { class: "kb-closed", hidden: true }, t.closed);
  tabs = SORTS.map((s) =>
    h("button", { type: "button", role: "tab", id: "kb-tab-" + s, "data-sort": s, "aria-controls": "kb-list" }, t[s]),
  );
  filter = h("button", { type: "button", "data-filter": "inline", "aria-pressed": "false" }, t.inline);
  list = h("ol", { "data-comments": "" });
  moreButton = button("load-more", t.viewAll, { class: "kb-more", hidden: true });
  live = h("div", { class: "kb-sr", "aria-live": "polite", "data-live": "" });
  root = h(
    "section",
    { class: "kb", "data-kibitz-root": "", "aria-label": t.comments, lang },
    h("header", { class: "kb-top" }, heading, invite),
    closedNote,
    mainForm,
    h("div", { class: "kb-bar" }, filter, h("div", { role: "tablist", "aria-label": t.sortBy }, tabs)),
    h("div", { role: "tabpanel", id: "kb-list" }, list),
    moreButton,
    live,
  );
  selectTab();
  return root;
}

function selectTab(): void {
  for (const tab of tabs) {
    const on = tab.dataset.sort == sort;
    tab.setAttribute("aria-selected", String(on));
    tab.tabIndex = on ? 0 : -1;
    if (on) list.parentElement!.setAttribute("aria-labelledby", tab.id);
  }
}

function setCount(n: number): void {
  count = Math.max(0, n);
  heading.setAttribute("data-count", String(count));
  heading.textContent = countText(count);
  invite.hidden = count > 0 && !!get(threadKey());
}

function paint(data: ThreadPage, append: boolean): void {
  setClosed(data.thread.closed);
  next = data.next;
  closedNote.hidden = !closed;
  mainForm.hidden = closed;
  setCount(data.thread.count);
  if (!append) list.textContent = "";
  for (const c of data.comments) if (!find(c.id)) list.appendChild(commentEl(c, 0));
  moreButton.hidden = !next;
  moreButton.textContent = expanded ? t.more : t.viewAll;
}

async function load(append: boolean): Promise<void> {
  const mine = ++loads;
  const q = new URLSearchParams({ page, sort, limit: String(expanded ? 100 : FIRST) });
  if (inline) q.set("filter", "inline");
  if (append && next) q.set("cursor", next);
  list.setAttribute("aria-busy", "true");
  try {
    const data = await call<ThreadPage>("GET", `/api/v1/sites/${enc(site)}/comments?${q}`);
    if (mine == loads) paint(data, append);
  } catch (e) {
    if (mine == loads) announce(say(e));
  } finally {
    if (mine == loads) list.removeAttribute("aria-busy");
  }
}

/** Scroll to and highlight `#comment-ID`, loading further pages of the thread if needed. */
async function target(): Promise<void> {
  const m = /^#comment-(\d+)$/.exec(location.hash);
  if (!m) return;
  let li = find(m[1] as string);
  for (let i = 0; !li && next && i < 20; i++) {
    expanded = true;
    await load(true);
    li = find(m[1] as string);
  }
  if (!li) return;
  for (const el of all("[data-highlighted]")) el.removeAttribute("data-highlighted");
  li.setAttribute("data-highlighted", "");
  li.scrollIntoView({ block: "center" });
}

function announce(text: string): void {
  // The same message twice still changes the region (so it is read again): a trailing no-break space.
  live.textContent = live.textContent == text ? text + "\u00a0" : text;
}

/** A problem (or a network failure) in plain words. */
function say(e: unknown): string {
  const code = e instanceof ApiError ? e.code : "";
  // The problem codes with a sentence of their own are keys of the table (rate_limited, ...).
  return code == "payload_too_large" ? t.long : (/_/.test(code) && t[code as keyof Strings]) || t.oops;
}

function fieldText(field: string, message: string): string {
  if (field == "text") {
    if (/at most|too long/i.test(message)) return t.long;
    if (/empty|at least|required/i.test(message)) return t.needText;
  }
  if (field == "name" && /empty|at least|required/i.test(message)) return t.needName;
  const label = /^(name|email|url)$/.test(field) ? t[field as "name"].replace(/ \(.*/, "") : field;
  return label + " " + message.replace(/\.?$/, ".");
}

/** A note under one comment (errors and thanks for votes, deletions, reports). */
function notice(li: HTMLElement, text: string): void {
  const main = li.querySelector(":scope>.kb-c");
  if (!main) return;
  let note = main.querySelector(".kb-note");
  if (!note) main.lastElementChild!.appendChild((note = h("p", { class: "kb-note", role: "alert" })));
  note.textContent = text;
}

/** Errors beside their fields: the server's field errors, the widget's own checks, or one problem. */
function showErrors(form: HTMLFormElement, e: unknown): void {
  const api = e instanceof ApiError ? e : null;
  const fields: [string, string][] =
    api && api.code == "check"
      ? api.errors.map((x) => [x.field, x.message])
      : api && api.errors.length
        ? api.errors.map((x) => [FIELDS[x.field] || "form", fieldText(FIELDS[x.field] || x.field, x.message)])
        : [[api && api.code == "payload_too_large" ? "text" : "form", say(e)]];
  let first: HTMLElement | null = null;
  for (const [field, text] of fields) {
    const spot = (form.querySelector(`[data-error-for="${field}"]`) || form.querySelector("[data-error-for=form]"))!;
    if (!spot.textContent) spot.textContent = text;
    const control = form.elements.namedItem(field) as HTMLElement | null;
    if (control) {
      control.setAttribute("aria-invalid", "true");
      first = first || control;
    }
  }
  if (first) first.focus();
}

function clearErrors(form: HTMLFormElement): void {
  for (const spot of all("[data-error-for]", form)) spot.textContent = "";
  for (const el of all("[aria-invalid]", form)) el.removeAttribute("aria-invalid");
}

const idOf = (el: Element) => (el.closest("li[data-comment-id]") as HTMLElement).dataset.commentId as string;
const value = (form: HTMLFormElement, name: string) =>
  ((form.elements.namedItem(name) as HTMLInputElement | null)?.value || "").trim();

async function onSubmit(e: Event): Promise<void> {
  e.preventDefault();
  const form = e.target as HTMLFormElement;
  const kind = form.dataset.form;
  const text = (form.elements.namedItem("text") as HTMLTextAreaElement).value;
  if (form.dataset.busy) return;
  clearErrors(form);
  if (!text.trim()) return showErrors(form, check([["text", t.needText]]));
  const li = form.closest<HTMLLIElement>("li[data-comment-id]");
  // Busy, not disabled: a disabled button would drop the keyboard focus.
  form.dataset.busy = "1";
  try {
    if (kind == "edit") await saveEdit(li!, text);
    else await post(form, li, text);
  } catch (err) {
    if (err instanceof ApiError && err.code == "edit_window_closed" && li) dropEditing(li.firstElementChild!);
    showErrors(form, err);
  } finally {
    delete form.dataset.busy;
  }
}

/** The widget's own checks, shown like the server's field errors. */
function check(problems: [string, string][]): ApiError {
  return new ApiError(0, "check", problems.map(([field, message]) => ({ field, message })));
}

async function post(form: HTMLFormElement, parent: HTMLLIElement | null, text: string): Promise<void> {
  const author = { name: value(form, "name"), email: value(form, "email"), url: value(form, "url") };
  const notify = value(form, "notify");
  const missing: [string, string][] = [];
  if (!author.name) missing.push(["name", t.needName]);
  if (notify != "none" && !author.email) missing.push(["email", t.needEmail]);
  if (missing.length) throw check(missing);
  const host = root.getRootNode() as ShadowRoot;
  const data = (host.host as HTMLElement).dataset;
  const posted = await call<Posted>("POST", `/api/v1/sites/${enc(site)}/comments`, {
    page,
    title: (data.title || document.title).slice(0, 300) || null,
    url: data.url || location.origin + location.pathname,
    parent: parent ? parent.dataset.commentId : null,
    text,
    author: { name: author.name, email: author.email || null, url: author.url || null },
    notify,
  });
  const c = posted.comment;
  set("author", JSON.stringify({ ...author, notify }));
  if (posted.reader) set("reader", posted.reader);
  set("token:" + c.id, JSON.stringify({ token: posted.token, created: Date.now(), text }));
  // Commented here; until the public thread shows it (held, shadow ban), live.js draws it for its author.
  set(threadKey(), JSON.stringify(([] as string[]).concat(getJson<string[]>(threadKey()) || [], c.id)));
  // live.js may have drawn it (and counted it) first.
  const drawn = find(c.id);
  setCount(count + (posted.status == "pending" || drawn ? 0 : 1));
  drawn?.remove();
  if (parent) {
    const depth = +(parent.dataset.depth || 0) + 1;
    let replies = parent.querySelector(":scope>[data-replies]");
    if (!replies) parent.firstElementChild!.after((replies = repliesEl([], depth)));
    const li = replies.appendChild(commentEl(c, depth));
    closeForm(form);
    (li.firstElementChild as HTMLElement).focus();
  } else {
    list.insertBefore(commentEl(c, 0), list.firstChild);
    (form.elements.namedItem("text") as HTMLTextAreaElement).value = "";
    showPreview(form, "");
  }
  announce(posted.status == "pending" ? t.pending : t.posted);
}

async function saveEdit(li: HTMLLIElement, text: string): Promise<void> {
  const id = li.dataset.commentId as string;
  const own = token(id);
  if (!own) throw new ApiError(403, "forbidden");
  const { comment } = await call<{ comment: Comment }>("PATCH", `/api/v1/comments/${id}`, { text }, own.token);
  set("token:" + id, JSON.stringify({ ...own, text }));
  const fresh = articleEl(comment);
  li.replaceChild(fresh, li.firstElementChild!);
  fresh.querySelector<HTMLElement>("[data-action=edit]")?.focus();
  announce(t.saved);
}

/** Edit and delete controls go when the server says the edit window is over (live.js drops them on time). */
function dropEditing(scope: Element): void {
  for (const b of all("[data-action=edit],[data-action=delete]", scope)) b.remove();
}

function showPreview(form: HTMLFormElement, html: string): void {
  const box = form.querySelector<HTMLElement>("[data-preview]")!;
  box.textContent = "";
  box.appendChild(safeHtml(html));
  box.hidden = !html;
}

function closeForm(form: HTMLFormElement): void {
  const main = form.parentElement!;
  const kind = form.dataset.form;
  form.remove();
  const body = main.querySelector<HTMLElement>("[data-body]");
  if (body) body.hidden = false;
  const toggle = main.querySelector<HTMLElement>(`[data-action=${kind}]`);
  if (toggle) {
    toggle.setAttribute("aria-expanded", "false");
    toggle.focus();
  }
}

function openForm(b: HTMLButtonElement, kind: "reply" | "edit"): void {
  const main = b.closest(".kb-main")!;
  const open = main.querySelector<HTMLFormElement>(":scope>form");
  if (open) {
    const was = open.dataset.form;
    closeForm(open);
    if (was == kind) return;
  }
  const id = idOf(b);
  const body = main.querySelector<HTMLElement>("[data-body]")!;
  const form = formEl(kind, kind == "edit" ? token(id)?.text ?? body.innerText : "");
  if (kind == "edit") {
    body.hidden = true;
    body.after(form);
  } else main.appendChild(form);
  b.setAttribute("aria-expanded", "true");
  (form.elements.namedItem("text") as HTMLElement).focus();
}

async function onClick(e: Event): Promise<void> {
  const el = e.target as Element;
  const tab = el.closest<HTMLElement>("[data-sort]");
  if (tab) return choose(tab.dataset.sort as Sort);
  if (el.closest("[data-filter]")) {
    inline = !inline;
    filter.setAttribute("aria-pressed", String(inline));
    return load(false);
  }
  const b = el.closest<HTMLButtonElement>("button[data-action]");
  if (!b) return;
  const form = b.closest("form");
  const li = b.closest<HTMLLIElement>("li[data-comment-id]");
  const id = li ? (li.dataset.commentId as string) : "";
  if (b.dataset.busy) return;
  b.dataset.busy = "1";
  try {
    switch (b.dataset.action) {
      case "preview": {
        clearErrors(form!);
        const text = (form!.elements.namedItem("text") as HTMLTextAreaElement).value;
        const r = await call<{ html: string }>("POST", `/api/v1/sites/${enc(site)}/preview`, { text });
        return showPreview(form!, r.html);
      }
      case "cancel":
        return closeForm(form!);
      case "reply":
      case "edit":
        return openForm(b, b.dataset.action);
      case "upvote":
      case "downvote":
        return await vote(li!, b.dataset.action == "upvote" ? 1 : -1);
      case "delete":
        return await remove(li!);
      case "flag": {
        const reason = prompt(t.why);
        if (!reason || !reason.trim()) return;
        await call("POST", `/api/v1/comments/${id}/flag`, { reason: reason.trim().slice(0, 500) });
        return notice(li!, t.thanks);
      }
      case "load-more":
        return await more();
      case "continue":
        return await continueThread(li!, b);
    }
  } catch (err) {
    if (form) showErrors(form, err);
    else if (li) {
      if (err instanceof ApiError && err.code == "edit_window_closed") dropEditing(li.firstElementChild!);
      notice(li, say(err));
    } else announce(say(err));
  } finally {
    delete b.dataset.busy;
  }
}

function choose(wanted: Sort): void {
  if (wanted == sort) return;
  sort = wanted;
  set("sort", wanted);
  selectTab();
  load(false);
}

async function vote(li: HTMLLIElement, wanted: number): Promise<void> {
  const id = li.dataset.commentId as string;
  const now = get("vote:" + id) == String(wanted) ? 0 : wanted;
  const tally = await call<Tally>("POST", `/api/v1/comments/${id}/vote`, { value: now });
  set("vote:" + id, tally.value ? String(tally.value) : null);
  const article = li.firstElementChild!;
  const score = article.querySelector<HTMLElement>("[data-score]")!;
  score.textContent = String(tally.score);
  score.title = `+${tally.up} / −${tally.down}`;
  for (const b of all("[data-action=upvote],[data-action=downvote]", article)) {
    b.setAttribute("aria-pressed", String((b.dataset.action == "upvote" ? 1 : -1) == tally.value));
  }
}

async function remove(li: HTMLLIElement): Promise<void> {
  const id = li.dataset.commentId as string;
  const own = token(id);
  if (!own || !confirm(t.sure)) return;
  await call("DELETE", `/api/v1/comments/${id}`, undefined, own.token);
  set("token:" + id, null);
  // The live stream may have brought the deletion (and the new count) before this answer.
  if (!li.isConnected || li.hasAttribute("data-deleted")) return announce(t.gone);
  setCount(count - 1);
  let focus: HTMLElement = heading;
  if (li.querySelector(":scope>[data-replies]>li,:scope>[data-action=continue]")) {
    // Its replies stay, under a tombstone.
    li.setAttribute("data-deleted", "");
    li.replaceChild((focus = articleEl({ deleted: true } as Comment)), li.firstElementChild!);
  } else {
    const parent = li.parentElement!.closest("li");
    if (parent) focus = parent.firstElementChild as HTMLElement;
    li.remove();
  }
  focus.focus();
  announce(t.gone);
}

async function more(): Promise<void> {
  const before = list.children.length;
  expanded = true;
  await load(true);
  const added = list.children[before];
  // The button is gone once the thread is complete: keep the keyboard focus in the list.
  if (moreButton.hidden && added) (added.firstElementChild as HTMLElement).focus();
}

async function continueThread(li: HTMLLIElement, b: HTMLButtonElement): Promise<void> {
  const q = new URLSearchParams({ sort: sort == "votes" ? "votes" : "oldest" });
  if (b.dataset.cursor) q.set("cursor", b.dataset.cursor);
  const r = await call<{ comments: Comment[]; next: string | null }>(
    "GET",
    `/api/v1/comments/${li.dataset.commentId}/replies?${q}`,
  );
  const depth = +(li.dataset.depth || 0) + 1;
  let replies = li.querySelector(":scope>[data-replies]");
  if (!replies) li.insertBefore((replies = repliesEl([], depth)), b);
  let first: HTMLLIElement | null = null;
  for (const c of r.comments) {
    if (find(c.id)) continue;
    const added = replies.appendChild(commentEl(c, depth));
    first = first || added;
  }
  if (r.next) {
    b.dataset.cursor = r.next;
    b.textContent = t.more;
  } else {
    b.remove();
    if (first) (first.firstElementChild as HTMLElement).focus();
  }
}

function onKey(e: KeyboardEvent): void {
  const el = e.target as HTMLElement;
  if (el.getAttribute("role") == "tab") {
    const i = tabs.indexOf(el as HTMLButtonElement);
    const to = ({ ArrowRight: i + 1, ArrowLeft: i - 1 } as Record<string, number>)[e.key];
    if (to === undefined) return;
    e.preventDefault();
    const tab = tabs[(to + tabs.length) % tabs.length]!;
    tab.focus();
    choose(tab.dataset.sort as Sort);
  } else if (e.key == "Escape") {
    const form = el.closest("form");
    if (form && form.dataset.form != "main") closeForm(form);
  }
}

if (document.readyState == "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
