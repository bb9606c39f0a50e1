/**
 * actions.js: what the reader does in the widget (posting, replies, edits, deletes, votes, reports,
 * following) and the owner's diagnostics, loaded by embed.js on the reader's first interaction so that
 * embed.js stays small. embed.js leaves what this needs in `window.kibitzAct` (types.ts ActHost).
 */

import { ApiError, call } from "./api";
import { diagnose } from "./diagnose";
import { modal } from "./dialog";
import { h } from "./dom";
import { changed, enhance, follow, toggleFollow } from "./follow";
import { enc, H, init, value, w } from "./here";
import { check, clearErrors, confirmNote, notice, say, showErrors } from "./problems";
import { safeHtml } from "./sanitize";
import { get, getJson, set, token } from "./store";
import type { Comment, Posted, Tally } from "./types";

const CSS = `
.kb-dlg{border:1px solid var(--border);border-radius:10px;background:var(--bg);color:var(--fg);padding:18px 20px;
width:min(440px,calc(100vw - 32px));box-shadow:0 8px 32px #0005}
.kb-dlg::backdrop{background:#0007}
.kb-dlg h3{margin:0 0 8px;font-size:1.1em}
.kb-dlg p{margin:0 0 12px}
.kb-dlg label{display:block;margin-bottom:4px}
.kb-dlg .kb-btns{margin-top:12px}
.kb-follow-form{border:1px solid var(--border);border-radius:8px;padding:12px}
.kb-hint{margin:0;color:var(--muted)}
.kb-ok{color:var(--fg);font-weight:600}
.kb-notify select+select{margin-inline-start:4px}
.kb-owner{border:2px solid var(--error);border-radius:8px;padding:10px 14px;margin:0 0 16px;font-size:.93em}
.kb-owner p{margin:0 0 6px}
.kb-owner p:last-child{margin:0;color:var(--muted)}
.kb-hp{display:none}
`;

const host = window.kibitzAct;
if (host) {
  init(host);
  const shadow = host.root.getRootNode() as ShadowRoot;
  if (shadow.adoptedStyleSheets && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(CSS);
    shadow.adoptedStyleSheets = [...shadow.adoptedStyleSheets, sheet];
  } else shadow.appendChild(h("style", null, CSS));
  for (const form of host.root.querySelectorAll("form")) enhance(form);
  host.ready({ click, submit, input: changed, escape: onEscape, diagnose });
}

/* The comment form's token (GET .../form): proof that a browser drew the form, sent back with the post
 * and good for one. The server takes a post sooner than 2 s after its token for a script's, so a reader
 * that quick waits out the rest; a token older than an hour is replaced first (they last a day). */
let formAt = 0;
let formToken = freshToken();
function freshToken(): Promise<string | null> {
  return call<{ form: string }>("GET", `/api/v1/sites/${enc(H.site)}/form`).then(
    (r) => ((formAt = Date.now()), r.form),
    () => null,
  );
}
async function useToken(): Promise<string | null> {
  if (Date.now() - formAt > 3600e3) formToken = freshToken();
  const token = await formToken;
  const wait = formAt + 2100 - Date.now();
  if (token && wait > 0) await new Promise((done) => setTimeout(done, wait));
  formToken = freshToken();
  return token;
}

const threadKey = () => "posted:" + H.site + " " + H.page;
const textOf = (form: HTMLFormElement) => (form.elements.namedItem("text") as HTMLTextAreaElement).value;

async function submit(form: HTMLFormElement): Promise<void> {
  if (form.dataset.busy) return;
  clearErrors(form);
  const li = form.closest<HTMLLIElement>("li[data-comment-id]");
  // Busy, not disabled: a disabled button would drop the keyboard focus.
  form.dataset.busy = "1";
  try {
    if (form.dataset.form == "follow") await follow(form);
    else if (!textOf(form).trim()) throw check([["text", w.needText]]);
    else if (form.dataset.form == "edit") await saveEdit(li!, textOf(form));
    else await post(form, li, textOf(form));
  } catch (err) {
    if (err instanceof ApiError && err.code == "edit_window_closed" && li) dropEditing(li.firstElementChild!);
    showErrors(form, err);
  } finally {
    delete form.dataset.busy;
  }
}

async function post(form: HTMLFormElement, parent: HTMLLIElement | null, text: string): Promise<void> {
  // Signed in (signin.ts): the account's name and proven address go with the post, not the fields.
  const account = H.root.dataset.signedIn;
  const author =
    account != null
      ? { name: account, email: "", url: "" }
      : { name: value(form, "name"), email: value(form, "email"), url: value(form, "url") };
  const notify = value(form, "notify") || "none";
  const digest = value(form, "digest") || "instant";
  const missing: [string, string][] = [];
  if (!author.name) missing.push(["name", w.needName]);
  if (notify != "none" && !author.email && account == null) missing.push(["email", w.needEmail]);
  if (missing.length) throw check(missing);
  const form_token = await useToken();
  const data = ((H.root.getRootNode() as ShadowRoot).host as HTMLElement).dataset;
  const posted = await call<Posted>("POST", `/api/v1/sites/${enc(H.site)}/comments`, {
    page: H.page,
    title: (data.title || document.title).slice(0, 300) || null,
    url: data.url || location.origin + location.pathname,
    parent: parent ? parent.dataset.commentId : null,
    text,
    author: { name: author.name, email: author.email || null, url: author.url || null },
    notify,
    digest,
    hp: value(form, "hp") || null,
    form: form_token,
    // A passage of the article the reader chose (anchor.js puts it on the main form).
    anchor: parent || !form.dataset.anchor ? undefined : JSON.parse(form.dataset.anchor),
  });
  delete form.dataset.anchor;
  const c = posted.comment;
  const held = posted.status == "pending";
  if (account == null) set("author", JSON.stringify({ ...getJson<object>("author"), ...author, notify, digest }));
  if (posted.reader) set("reader", posted.reader);
  set("token:" + c.id, JSON.stringify({ token: posted.token, created: Date.now(), text }));
  // Commented here; until the public thread shows it (held, shadow ban), live.js draws it for its author.
  set(threadKey(), JSON.stringify(([] as string[]).concat(getJson<string[]>(threadKey()) || [], c.id)));
  if (!held) H.mine(c.id, false); // counted (once: the live stream may have shown it first)
  H.find(c.id)?.remove(); // live.js may have drawn it first
  // Every subscription waits for its address to confirm it (docs/api.md "Consent, per subscription").
  const subscribed = notify != "none" && !!author.email;
  let li: HTMLLIElement;
  if (parent) {
    const depth = +(parent.dataset.depth || 0) + 1;
    let replies = parent.querySelector(":scope>[data-replies]");
    if (!replies) parent.firstElementChild!.after((replies = H.replies([], depth)));
    li = replies.appendChild(H.comment(c, depth));
    closeForm(form);
    (li.firstElementChild as HTMLElement).focus();
    if (subscribed) notice(li, w.confirm);
  } else {
    H.list.insertBefore((li = H.comment(c, 0)), H.list.firstChild);
    (form.elements.namedItem("text") as HTMLTextAreaElement).value = "";
    showPreview(form, "");
    if (subscribed) confirmNote(form.querySelector(".kb-btns")!);
  }
  H.announce((held ? w.pending : w.posted) + (subscribed ? " " + w.confirm : ""));
}

async function saveEdit(li: HTMLLIElement, text: string): Promise<void> {
  const id = li.dataset.commentId as string;
  const own = token(id);
  if (!own) throw new ApiError(403, "forbidden");
  const { comment } = await call<{ comment: Comment }>("PATCH", `/api/v1/comments/${id}`, { text }, own.token);
  set("token:" + id, JSON.stringify({ ...own, text }));
  const fresh = H.article(comment);
  li.replaceChild(fresh, li.firstElementChild!);
  fresh.querySelector<HTMLElement>("[data-action=edit]")?.focus();
  H.announce(w.saved);
}

/** Edit and delete controls go when the server says the edit window is over (live.js drops them on time). */
function dropEditing(scope: Element): void {
  for (const b of scope.querySelectorAll("[data-action=edit],[data-action=delete]")) b.remove();
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
  if (kind == "edit") main.querySelector<HTMLElement>("[data-body]")!.hidden = false;
  const toggle = (kind == "follow" ? H.root : main).querySelector<HTMLElement>(`[data-action=${kind}]`);
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
  const id = b.closest<HTMLElement>("li[data-comment-id]")!.dataset.commentId!;
  const body = main.querySelector<HTMLElement>("[data-body]")!;
  const form = H.form(kind, kind == "edit" ? (token(id)?.text ?? body.innerText) : "");
  const area = form.elements.namedItem("text") as HTMLTextAreaElement;
  if (kind == "edit") {
    body.hidden = true;
    body.after(form);
  } else {
    area.placeholder = w.replyPh;
    enhance(form);
    main.appendChild(form);
  }
  b.setAttribute("aria-expanded", "true");
  area.focus();
}

async function click(b: HTMLButtonElement): Promise<void> {
  const form = b.closest("form");
  const li = b.closest<HTMLLIElement>("li[data-comment-id]");
  if (b.dataset.busy) return;
  b.dataset.busy = "1";
  try {
    switch (b.dataset.action) {
      case "preview": {
        clearErrors(form!);
        const r = await call<{ html: string }>("POST", `/api/v1/sites/${enc(H.site)}/preview`, { text: textOf(form!) });
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
      case "flag":
        return await flag(li!);
      case "continue":
        return await continueThread(li!, b);
      case "follow":
        return toggleFollow(b);
    }
  } catch (err) {
    if (form) showErrors(form, err);
    else if (li) {
      if (err instanceof ApiError && err.code == "edit_window_closed") dropEditing(li.firstElementChild!);
      notice(li, say(err));
    } else H.announce(say(err));
  } finally {
    delete b.dataset.busy;
  }
}

function onEscape(el: Element): void {
  const form = el.closest("form");
  if (form && form.dataset.form != "main") closeForm(form);
}

async function vote(li: HTMLLIElement, wanted: number): Promise<void> {
  const id = li.dataset.commentId as string;
  const now = get("vote:" + id) == String(wanted) ? 0 : wanted;
  const tally = await call<Tally>("POST", `/api/v1/comments/${id}/vote`, { value: now });
  set("vote:" + id, tally.value ? String(tally.value) : null);
  const article = li.firstElementChild!;
  const score = article.querySelector<HTMLElement>("[data-score]")!;
  score.textContent = String(tally.score).replace("-", "\u2212");
  score.title = `+${tally.up} / −${tally.down}`;
  for (const b of article.querySelectorAll("[data-action=upvote],[data-action=downvote]")) {
    b.setAttribute("aria-pressed", String((b.getAttribute("data-action") == "upvote" ? 1 : -1) == tally.value));
  }
}

async function flag(li: HTMLLIElement): Promise<void> {
  const reason = await modal({ title: w.report, ok: H.t.flag, field: w.why, need: w.needWhy });
  if (reason == null) return;
  await call("POST", `/api/v1/comments/${li.dataset.commentId}/flag`, { reason: reason.slice(0, 500) });
  notice(li, w.thanks);
}

async function remove(li: HTMLLIElement): Promise<void> {
  const id = li.dataset.commentId as string;
  const own = token(id);
  if (!own || (await modal({ title: w.sure, text: w.sureText, ok: H.t.del, alert: true })) == null) return;
  await call("DELETE", `/api/v1/comments/${id}`, undefined, own.token);
  set("token:" + id, null);
  H.mine(id, true);
  // The live stream may have brought the deletion before this answer.
  if (!li.isConnected || li.hasAttribute("data-deleted")) return H.announce(w.gone);
  let focus: HTMLElement = H.heading;
  if (li.querySelector(":scope>[data-replies]>li,:scope>[data-action=continue]")) {
    // Its replies stay, under a tombstone.
    li.setAttribute("data-deleted", "");
    li.replaceChild((focus = H.article({ deleted: true } as Comment)), li.firstElementChild!);
  } else {
    const parent = li.parentElement!.closest("li");
    if (parent) focus = parent.firstElementChild as HTMLElement;
    li.remove();
  }
  focus.focus();
  H.announce(w.gone);
}

async function continueThread(li: HTMLLIElement, b: HTMLButtonElement): Promise<void> {
  const q = new URLSearchParams({ sort: H.sort() == "votes" ? "votes" : "oldest" });
  if (b.dataset.cursor) q.set("cursor", b.dataset.cursor);
  const r = await call<{ comments: Comment[]; next: string | null }>(
    "GET",
    `/api/v1/comments/${li.dataset.commentId}/replies?${q}`,
  );
  const depth = +(li.dataset.depth || 0) + 1;
  let replies = li.querySelector(":scope>[data-replies]");
  if (!replies) li.insertBefore((replies = H.replies([], depth)), b);
  let first: HTMLLIElement | null = null;
  for (const c of r.comments) {
    if (H.find(c.id)) continue;
    const added = replies.appendChild(H.comment(c, depth));
    first = first || added;
  }
  if (r.next) {
    b.dataset.cursor = r.next;
    b.textContent = H.t.more;
  } else {
    b.remove();
    if (first) (first.firstElementChild as HTMLElement).focus();
  }
}
