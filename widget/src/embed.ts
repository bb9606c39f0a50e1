/**
 * embed.js: the reader's comment section, drawn into an open shadow root on `#kibitz`
 * (DESIGN.md §3 "Embedding contract"). It talks to the Kibitz server it was loaded from, only.
 * It draws the thread; what the reader does (posting, votes, dialogs, following) is actions.js,
 * loaded on the first interaction, and live updates are live.js, loaded after the first render.
 */

import { ApiError, call, setBase } from "./api";
import { h } from "./dom";
import { badgeText, countText, lang, num, setLang, t } from "./i18n";
import { articleEl, button, commentEl, formEl, repliesEl } from "./render";
import { fromSsr } from "./ssr";
import { get, set } from "./store";
import { CSS } from "./styles";
import { counted, mine, now, saw, total } from "./tally";
import { ago } from "./time";
import type { Actions, Sort, ThreadPage, Update } from "./types";

const FIRST = 10; // top-level comments drawn when a thread opens
const SORTS: Sort[] = ["newest", "oldest", "votes"];

const script =
  (document.currentScript as HTMLScriptElement | null) ||
  Array.from(document.querySelectorAll<HTMLScriptElement>("script[src]")).find((s) => /\/embed\.js([?#]|$)/.test(s.src));

let root: HTMLElement;
let list: HTMLOListElement;
let heading: HTMLElement;
let invite: HTMLElement;
let mainForm: HTMLFormElement;
let accountBar: HTMLElement;
let signIns: Promise<(b: HTMLButtonElement) => Promise<void>> | undefined;
let sso: string | null = null; // data-sso: the publisher's token for its signed-in reader ("" signed out)
let closedNote: HTMLElement;
let offNote: HTMLElement;
let empty: HTMLElement;
let moreButton: HTMLButtonElement;
let live: HTMLElement;
let updates: Update[] = [];
let tabs: HTMLButtonElement[];
let filter: HTMLButtonElement;
let loads = 0;
let shown = false; // the API's thread has been drawn once
let acts: Promise<Actions> | undefined;
// Where the widget is and what it shows.
let site = "";
let page = "";
let base = ""; // the Kibitz server's address
let sort: Sort = "newest";
let inline = false;
let expanded = false;
let closed = false;
let next: string | null = null;

const enc = encodeURIComponent;
const threadKey = () => "posted:" + site + " " + page;
const find = (id: string) => list.querySelector<HTMLLIElement>(`li[data-comment-id="${id}"]`);
const asset = (name: string) => script!.src.replace(/embed\.js.*/, name);

function boot(): void {
  const host = document.getElementById("kibitz");
  if (!host || host.shadowRoot || !script) return;
  setBase((base = script.src.replace(/\/embed\.js([?#].*)?$/, "")));
  site = host.dataset.site || "";
  sso = host.getAttribute("data-sso");
  // Back from a mailed sign-in link: the session rides in the fragment; keep it, then drop it.
  const back = /[#&]kibitz-session=([^&]+)/.exec(location.hash);
  if (back) {
    set("session", decodeURIComponent(back[1] as string));
    history.replaceState(null, "", location.pathname + location.search);
  }
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
      counted(first.thread.count, 0, 0);
      paint(first, false);
    }
  }
  root.addEventListener("click", onClick);
  // Targets are read at once: after dispatch, an event from a shadow tree has none.
  root.addEventListener("submit", (e) => {
    e.preventDefault();
    const form = e.target as HTMLFormElement;
    act((a) => a.submit(form));
  });
  root.addEventListener("keydown", onKey);
  root.addEventListener("input", (e) => {
    const el = e.target as Element;
    act((a) => a.input(el));
  });
  // The reader is about to do something: fetch what it takes.
  for (const kind of ["focusin", "pointerdown"]) root.addEventListener(kind, () => actions().catch(() => {}));
  window.addEventListener("hashchange", target);
  load(false).then((ok) => {
    if (!ok) return;
    target();
    // Live updates and the bubble: a separate bundle, so this one stays small (types.ts LiveHost).
    window.kibitzLive = {
      site,
      page,
      root,
      now,
      count: (n, since, issued) => counted(n, since, issued) && show(),
      saw,
      closed: setClosed,
      comment: commentEl,
      article: articleEl,
      lang,
      updates,
      ago,
    };
    // Inline feedback (anchor.js): the same hook; it places the passages when the browser is idle.
    for (const name of ["live.js", "anchor.js"]) document.head.appendChild(h("script", { src: asset(name), async: true }));
    // Signed in already, or the publisher's page names its signed-in reader: the sign-in bundle.
    if (get("session") || sso) signIn().catch(() => {});
  });
}

/** signin.js, loaded once: sign-in (mailed link, provider popup, the publisher's token) and the account line. */
function signIn(): Promise<(b: HTMLButtonElement) => Promise<void>> {
  return (signIns ||= new Promise((ready, fail) => {
    window.kibitzSignIn = { site, base, root, bar: accountBar, sso, announce, button, ready, load, lang, asset, badge: badgeText };
    const s = h("script", { src: asset("signin.js"), async: true });
    s.onerror = () => {
      signIns = undefined;
      s.remove();
      fail(new Error("signin.js"));
    };
    document.head.appendChild(s);
  }));
}

function skeleton(): HTMLElement {
  heading = h("h2", { tabindex: -1 }, t.comments);
  invite = h("p", { class: "kb-invite", "data-invite": "" }, t.invite);
  mainForm = formEl("main");
  accountBar = h("div", { class: "kb-account", "data-account": "" }, button("sign-in", t.signIn, { class: "kb-ghost" }));
  closedNote = h("p", { class: "kb-closed", hidden: true }, t.closed);
  offNote = h("p", { class: "kb-off", role: "status", "data-unavailable": "", hidden: true }, t.off);
  tabs = SORTS.map((s) =>
    h("button", { type: "button", role: "tab", id: "kb-tab-" + s, "data-sort": s, "aria-controls": "kb-list" }, t[s]),
  );
  filter = h("button", { type: "button", "data-filter": "inline", "aria-pressed": "false" }, t.inline);
  list = h("ol", { "data-comments": "" });
  empty = h("p", { class: "kb-empty", "data-empty": "", hidden: true }, t.noInline);
  moreButton = button("load-more", t.more, { class: "kb-more", hidden: true });
  live = h("div", { class: "kb-sr", "aria-live": "polite", "data-live": "" });
  root = h(
    "section",
    { class: "kb", "data-kibitz-root": "", "aria-label": t.comments, lang },
    h(
      "header",
      { class: "kb-top" },
      heading,
      invite,
      button("follow", t.follow, { class: "kb-ghost kb-follow", "aria-expanded": "false" }),
    ),
    offNote,
    closedNote,
    accountBar,
    mainForm,
    h("div", { class: "kb-bar" }, filter, h("div", { role: "tablist", "aria-label": t.sortBy }, tabs)),
    h("div", { role: "tabpanel", id: "kb-list" }, list, empty),
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

/** The header (count and invitation) and the "View all N comments" button, from the count ledger. */
function show(): void {
  const n = total();
  heading.setAttribute("data-count", String(n));
  heading.textContent = countText(n);
  // Its text also when hidden: live.js's bubble repeats it.
  invite.textContent = closed ? t.closed : n ? t.invite : t.first;
  invite.hidden = closed || (n > 0 && !!get(threadKey()));
  moreButton.textContent = expanded ? t.more : t.viewAll.replace("%", num(n));
}

/** The thread closed or reopened: the form gives way to "Comments are closed", and back. */
function setClosed(value: boolean): void {
  closed = value;
  root.toggleAttribute("data-closed", value);
  closedNote.hidden = !value;
  mainForm.hidden = value;
  show();
}

function paint(data: ThreadPage, append: boolean): void {
  next = data.next;
  setClosed(data.thread.closed);
  if (!append) list.textContent = "";
  updates = data.updates || updates;
  for (const c of data.comments) if (!find(c.id)) list.appendChild(commentEl(c, 0));
  moreButton.hidden = !next;
  empty.hidden = !inline || !!list.children.length;
}

/** Reads the thread; false when it could not be read. `again`: a second read (see below). */
async function load(append: boolean, again?: boolean): Promise<boolean> {
  const mine = ++loads;
  const q = new URLSearchParams({ page, sort, limit: String(expanded ? 100 : FIRST) });
  if (inline) q.set("filter", "inline");
  if (append && next) q.set("cursor", next);
  list.setAttribute("aria-busy", "true");
  const issued = now();
  try {
    const data = await call<ThreadPage>("GET", `/api/v1/sites/${enc(site)}/comments?${q}`);
    if (mine != loads) return true;
    // A live count that arrived meanwhile may be newer than this read, whose list would then lack
    // what the stream drew: read once more rather than draw the older thread.
    if (!counted(data.thread.count, issued, issued) && !append && !again) return load(false, true);
    paint(data, append);
    return (shown = true);
  } catch (e) {
    if (mine != loads) return false;
    if (shown) {
      announce(t.off);
      return false;
    }
    // Readers get a calm sentence; actions.js finds out why for the site's owner (refused origin, ...).
    root.setAttribute("data-down", "");
    offNote.hidden = false;
    if (e instanceof ApiError && !e.status) act((a) => a.diagnose());
    return false;
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
  for (const el of root.querySelectorAll("[data-highlighted]")) el.removeAttribute("data-highlighted");
  li.setAttribute("data-highlighted", "");
  li.scrollIntoView({ block: "center" });
}

function announce(text: string): void {
  // The same message twice still changes the region (so it is read again): a trailing no-break space.
  live.textContent = live.textContent == text ? text + "\u00a0" : text;
}

/** actions.js, loaded once (again after a failed load); what it needs goes in `window.kibitzAct`. */
function actions(): Promise<Actions> {
  return (acts ||= new Promise<Actions>((ready, fail) => {
    window.kibitzAct = {
      site,
      page,
      base,
      root,
      list,
      heading,
      lang,
      t,
      find,
      comment: commentEl,
      article: articleEl,
      replies: repliesEl,
      form: formEl,
      button,
      announce,
      mine: (id, gone) => {
        mine(id, gone);
        show();
      },
      sort: () => sort,
      ready,
    };
    const s = h("script", { src: asset("actions.js"), async: true });
    s.onerror = () => {
      acts = undefined;
      s.remove();
      fail(new Error("actions.js"));
    };
    document.head.appendChild(s);
  }));
}

/** Runs `f` with the actions; when they cannot be loaded, says the comments are unavailable. */
function act(f: (a: Actions) => unknown): void {
  actions()
    .then(f)
    .catch(() => announce(t.off));
}

function onClick(e: Event): void {
  const el = e.target as Element;
  const tab = el.closest<HTMLElement>("[data-sort]");
  if (tab) return choose(tab.dataset.sort as Sort);
  if (el.closest("[data-filter]")) {
    inline = !inline;
    filter.setAttribute("aria-pressed", String(inline));
    load(false);
    return;
  }
  const b = el.closest<HTMLButtonElement>("button[data-action]");
  if (!b) return;
  if (b.dataset.action == "load-more") more();
  else if (b.closest("[data-account]")) signIn().then((click) => click(b), () => announce(t.off));
  else act((a) => a.click(current(b)));
}

/** The button as drawn now: a click made while actions.js loaded may name one since redrawn. */
function current(b: HTMLButtonElement): HTMLButtonElement {
  const id = b.closest<HTMLElement>("li[data-comment-id]")?.dataset.commentId;
  if (b.isConnected || !id) return b;
  const twin = Array.from(find(id)?.querySelectorAll<HTMLButtonElement>(`button[data-action="${b.dataset.action}"]`) ?? []);
  return twin.find((x) => x.closest("li[data-comment-id]") == find(id)) ?? b;
}

function choose(wanted: Sort): void {
  if (wanted == sort) return;
  sort = wanted;
  set("sort", wanted);
  selectTab();
  load(false);
}

async function more(): Promise<void> {
  const before = list.children.length;
  expanded = true;
  await load(true);
  const added = list.children[before];
  // The button is gone once the thread is complete: keep the keyboard focus in the list.
  if (moreButton.hidden && added) (added.firstElementChild as HTMLElement).focus();
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
  } else if (e.key == "Escape") act((a) => a.escape(el));
}

if (document.readyState == "loading") document.addEventListener("DOMContentLoaded", boot);
else boot();
