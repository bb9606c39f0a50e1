/**
 * Following a thread without commenting (the header's "Follow": an email and a digest choice →
 * POST /api/v1/sites/{site}/subscriptions, topic "thread"), the digest choice beside every form's
 * "Notify of", and the reader's name, email and website shared by every form.
 */

import { call } from "./api";
import { h } from "./dom";
import { enc, H, value, w } from "./here";
import { check } from "./problems";
import { getJson, set } from "./store";

const SHARED = /^(name|email|url|notify|digest)$/;
type Author = Record<string, string>;
const author = (): Author => getJson<Author>("author") || {};

function digestSelect(id: string): HTMLSelectElement {
  const select = h(
    "select",
    { id, name: "digest", "aria-label": w.digest },
    h("option", { value: "instant" }, w.instant),
    h("option", { value: "daily" }, w.daily),
  );
  select.value = author().digest == "daily" ? "daily" : "instant";
  return select;
}

/** Adds the digest choice beside a form's "Notify of" (shown while it notifies of something), and to a
 * comment form the field only scripts fill in (hidden from people and from assistive technology). */
export function enhance(form: HTMLFormElement): void {
  if (form.elements.namedItem("text") && !form.elements.namedItem("hp"))
    form.append(h("div", { class: "kb-hp", "aria-hidden": "true" }, h("input", { name: "hp", tabindex: "-1", autocomplete: "off" })));
  const notify = form.elements.namedItem("notify") as HTMLSelectElement | null;
  if (!notify || form.elements.namedItem("digest")) return;
  const select = digestSelect(notify.id.replace(/notify$/, "digest"));
  select.hidden = notify.value == "none";
  notify.after(select);
}

/** A field changed: the digest choice follows "Notify of"; name, email and website go to every form. */
export function changed(el: Element): void {
  const field = el as HTMLInputElement;
  const form = field.form;
  if (!form || !SHARED.test(field.name)) return;
  if (field.name == "notify") (form.elements.namedItem("digest") as HTMLElement | null)?.toggleAttribute("hidden", field.value == "none");
  set("author", JSON.stringify({ ...author(), [field.name]: field.value.trim() }));
  if (field.name == "notify" || field.name == "digest") return;
  for (const other of H.root.querySelectorAll("form")) {
    const twin = other != form && (other.elements.namedItem(field.name) as HTMLInputElement | null);
    if (twin && !twin.matches(":focus")) twin.value = field.value;
  }
}

/** Opens or closes the follow form under the header. */
export function toggleFollow(b: HTMLButtonElement): void {
  const open = H.root.querySelector("form[data-form=follow]");
  H.root.querySelector("[data-follow-done]")?.remove();
  b.setAttribute("aria-expanded", String(!open));
  if (open) {
    open.remove();
    return b.focus();
  }
  const id = "kb-follow-";
  const email = h("input", {
    id: id + "email",
    name: "email",
    type: "email",
    autocomplete: "email",
    value: author().email || "",
    "aria-describedby": id + "email-err",
  });
  const error = (field: string) =>
    h("div", { class: "kb-err", id: id + field + "-err", role: "alert", "data-error-for": field });
  const form = h(
    "form",
    { class: "kb-form kb-follow-form", "data-form": "follow", novalidate: true, "aria-label": H.t.follow },
    h("p", { class: "kb-hint" }, w.followHint),
    h(
      "div",
      { class: "kb-row" },
      h("div", { class: "kb-f" }, h("label", { for: id + "email" }, w.followEmail), email, error("email")),
      h("div", { class: "kb-f" }, h("label", { for: id + "digest" }, w.digest), digestSelect(id + "digest")),
    ),
    error("form"),
    h(
      "div",
      { class: "kb-btns" },
      H.button("cancel", H.t.cancel, { class: "kb-ghost" }),
      h("button", { type: "submit", class: "kb-primary" }, H.t.follow),
    ),
  );
  b.closest("header")!.after(form);
  email.focus();
}

/** Sends the follow form; "Check your inbox to confirm" takes its place. */
export async function follow(form: HTMLFormElement): Promise<void> {
  const email = value(form, "email");
  if (!email) throw check([["email", w.needEmail]]);
  const digest = value(form, "digest");
  await call("POST", `/api/v1/sites/${enc(H.site)}/subscriptions`, { email, topic: "thread", page: H.page, digest });
  set("author", JSON.stringify({ ...author(), email, digest }));
  const done = h("p", { class: "kb-note kb-ok", role: "status", "data-follow-done": "" });
  form.replaceWith(done);
  const b = H.root.querySelector<HTMLElement>("[data-action=follow]")!;
  b.setAttribute("aria-expanded", "false");
  b.focus();
  // Filled after it is in the page, so that screen readers announce it.
  setTimeout(() => (done.textContent = w.confirm));
}
