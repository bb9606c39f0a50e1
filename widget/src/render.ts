/** Comments and forms as DOM, built with `h` (text) and `safeHtml` (the server's comment HTML). */

import { arrow, h } from "./dom";
import { badgeText, t } from "./i18n";
import { safeHtml } from "./sanitize";
import { editLeft, get, getJson, token } from "./store";
import { ago, dated } from "./time";
import type { Comment } from "./types";

/** Replies are indented up to this depth (top-level comments are depth 0); deeper ones line up. */
export const MAX_DEPTH = 5;
let uid = 0;

/** A score as text, with a real minus sign (U+2212). */
export const scoreText = (n: number) => (n < 0 ? "\u2212" + -n : String(n));

export function button(action: string, label: string, attrs?: Record<string, string | boolean>): HTMLButtonElement {
  return h("button", { type: "button", "data-action": action, ...attrs }, label);
}

export function timeEl(iso: string): HTMLTimeElement {
  return dated(h("time", { datetime: iso }, ago(iso)), iso);
}

/** The body of a comment: the server's HTML, re-checked. */
export function bodyEl(html: string): HTMLDivElement {
  const body = h("div", { class: "kb-body", "data-body": "" });
  body.appendChild(safeHtml(html));
  return body;
}

function voteButton(c: Comment, value: number, own: boolean): HTMLButtonElement {
  const b = h("button", {
    type: "button",
    class: "kb-vote",
    "data-action": value > 0 ? "upvote" : "downvote",
    "aria-label": value > 0 ? t.up : t.down,
    "aria-pressed": String(get("vote:" + c.id) == String(value)),
    disabled: own,
  });
  b.appendChild(arrow(value > 0));
  return b;
}

function authorEl(c: Comment): HTMLElement[] {
  const { name, url } = c.author;
  const el =
    url && /^https?:\/\//i.test(url)
      ? h("a", { class: "kb-name", "data-author": "", href: url, rel: "nofollow ugc noopener noreferrer" }, name)
      : h("span", { class: "kb-name", "data-author": "" }, name);
  // A signed-in author's badges (staff, moderator, verified; author on the story they wrote), as the
  // server stored them with the post.
  return [el, ...(c.author.badges || []).map((b) => h("span", { class: "kb-badge", "data-badge": b }, badgeText(b)))];
}

/** The article of one comment (without its replies). */
export function articleEl(c: Comment): HTMLElement {
  if (c.deleted) {
    return h("article", { class: "kb-c", tabindex: -1 }, h("span", { class: "kb-av" }), h("p", { class: "kb-tomb" }, t.tomb));
  }
  const own = !!token(c.id);
  // A held comment cannot be edited or deleted (the API answers 404 until it is approved).
  const held = c.status == "pending";
  const canEdit = !held && editLeft(c.id) > 0;
  return h(
    "article",
    { class: "kb-c", tabindex: -1 },
    c.author.avatar
      ? h("img", { class: "kb-av", "data-avatar": "", alt: "", src: c.author.avatar, width: 40, height: 40 })
      : h("span", { class: "kb-av" }),
    h(
      "div",
      { class: "kb-main" },
      h(
        "header",
        { class: "kb-meta" },
        authorEl(c),
        timeEl(c.created),
        // A moderator's edit (which sets `edited` too) says so instead of "edited".
        c.edited &&
          dated(
            h(
              "span",
              { class: "kb-ed", "data-mod-edited": c.edited_by_moderator },
              c.edited_by_moderator ? t.byMod : t.edited,
            ),
            c.edited,
          ),
        c.pinned && h("span", { class: "kb-tag", "data-pinned": "" }, t.pinned),
        c.featured && h("span", { class: "kb-tag", "data-featured": "" }, t.featured),
        held && h("span", { class: "kb-tag" }, t.held),
      ),
      bodyEl(c.html),
      h(
        "div",
        { class: "kb-acts" },
        voteButton(c, 1, own),
        h("span", { class: "kb-score", "data-score": "", title: `+${c.up} / −${c.down}` }, scoreText(c.score)),
        voteButton(c, -1, own),
        // Drawn on closed threads too, hidden by the stylesheet: a thread can reopen live.
        button("reply", t.reply, { "aria-expanded": "false" }),
        canEdit && button("edit", t.edit),
        canEdit && button("delete", t.del),
        !own && button("flag", t.flag),
      ),
    ),
  );
}

/** One comment with its replies, as the `li` of a list. */
export function commentEl(c: Comment, depth: number): HTMLLIElement {
  const li = h("li", {
    "data-comment-id": c.id,
    "data-deleted": c.deleted,
    "data-depth": depth,
    "data-pending": c.status == "pending", // held for moderation: shown to its author alone (live.ts)
  });
  li.appendChild(articleEl(c));
  if (c.replies.length) li.appendChild(repliesEl(c.replies, depth + 1));
  if (c.reply_count > c.replies.length) {
    li.appendChild(button("continue", depth >= MAX_DEPTH ? t.cont : t.more, { class: "kb-link" }));
  }
  return li;
}

export function repliesEl(list: Comment[], depth: number): HTMLOListElement {
  return h("ol", { "data-replies": "", class: depth > MAX_DEPTH ? "kb-flat" : null }, list.map((c) => commentEl(c, depth)));
}

/** The error spot of one field (text, name, email, url) or of the whole form. */
function errorEl(id: string, field: string): HTMLElement {
  return h("div", { class: "kb-err", id: id + field + "-err", role: "alert", "data-error-for": field });
}

function field(
  id: string,
  name: string,
  label: string,
  control: HTMLInputElement | HTMLTextAreaElement | HTMLSelectElement,
  cls = "",
): HTMLElement {
  control.id = id + name;
  control.name = name;
  if (name != "notify") control.setAttribute("aria-describedby", id + name + "-err");
  return h(
    "div",
    { class: "kb-f " + cls },
    h("label", { for: id + name, class: name == "text" ? "kb-sr" : null }, label),
    control,
    name != "notify" && errorEl(id, name),
  );
}

/** The main form, a reply form (same fields) or the edit form of one comment. */
export function formEl(kind: "main" | "reply" | "edit", text = ""): HTMLFormElement {
  const id = "kb" + uid++ + "-";
  const author = getJson<Record<string, string>>("author") || {};
  const input = (name: string, type: string, auto: string) =>
    h("input", { type, value: author[name] || "", autocomplete: auto, maxlength: name == "name" ? 64 : null });
  const area = h("textarea", { rows: kind == "main" ? 4 : 3, placeholder: t.placeholder });
  area.value = text;
  const select = h(
    "select",
    null,
    h("option", { value: "none" }, t.none),
    h("option", { value: "replies" }, t.replies),
    h("option", { value: "all" }, t.all),
    h("option", { value: "updates" }, t.updates),
  );
  // Signed in: the account's default (signin.ts keeps it in `kibitz:me-notify`), else the reader's last choice.
  const notify = (get("session") && get("me-notify")) || author.notify;
  if (notify) select.value = notify;
  const edit = kind == "edit";
  return h(
    "form",
    { class: "kb-form kb-" + kind, "data-form": kind, novalidate: true },
    !edit && h("div", { class: "kb-notify" }, field(id, "notify", t.notify, select, "kb-inl")),
    field(id, "text", t.text, area),
    !edit &&
      h(
        "div",
        { class: "kb-row" },
        field(id, "name", t.name, input("name", "text", "name")),
        field(id, "email", t.email, input("email", "email", "email")),
        field(id, "url", t.url, input("url", "url", "url")),
      ),
    h("div", { class: "kb-preview kb-body", "data-preview": "", hidden: true }),
    errorEl(id, "form"),
    h(
      "div",
      { class: "kb-btns" },
      kind != "main" && button("cancel", t.cancel, { class: "kb-ghost" }),
      !edit && button("preview", t.preview, { class: "kb-ghost" }),
      h("button", { type: "submit", class: "kb-primary" }, edit ? t.save : kind == "main" ? t.post : t.reply),
    ),
  );
}
