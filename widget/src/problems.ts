/** Problems in plain words: the API's problem codes, field errors beside their fields, notes under comments. */

import { ApiError } from "./api";
import { h } from "./dom";
import { H, w } from "./here";
import type { Words } from "./words";

const FIELDS: Record<string, string> = { text: "text", "author.name": "name", "author.email": "email", "author.url": "url", email: "email" };
// The problem codes with a sentence of their own (docs/api.md "Errors"), each a key of words.ts.
const CODES = "rate_limited thread_closed edit_window_closed origin_not_allowed vote_limit banned own_comment not_found forbidden unavailable".split(" ");

/** "in 30 seconds", "in 2 minutes", in the widget's language. */
function inTime(seconds: number): string {
  const minutes = seconds > 90;
  return new Intl.RelativeTimeFormat(H.lang).format(minutes ? Math.ceil(seconds / 60) : seconds, minutes ? "minute" : "second");
}

/** A problem (or a network failure) in plain words. */
export function say(e: unknown): string {
  if (!(e instanceof ApiError)) return w.oops;
  const code = e.code == "unauthorized" ? "forbidden" : e.code;
  if (code == "rate_limited" && e.retry > 0) return w.wait.replace("%", inTime(e.retry));
  if (code == "payload_too_large") return w.long;
  if (!e.status) return w.network;
  return CODES.indexOf(code) >= 0 ? w[code as keyof Words] : w.oops;
}

function fieldText(field: string, message: string): string {
  if (field == "text") {
    if (/at most|too long/i.test(message)) return w.long;
    if (/empty|at least|required/i.test(message)) return w.needText;
  }
  if (field == "name" && /empty|at least|required/i.test(message)) return w.needName;
  const label = /^(name|email|url)$/.test(field) ? H.t[field as "name"].replace(/ \(.*/, "") : field;
  return label + " " + message.replace(/\.?$/, ".");
}

/** The widget's own checks, shown like the server's field errors. */
export function check(problems: [string, string][]): ApiError {
  return new ApiError(0, "check", problems.map(([field, message]) => ({ field, message })));
}

/** Errors beside their fields: the server's field errors, the widget's own checks, or one problem. */
export function showErrors(form: HTMLFormElement, e: unknown): void {
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

export function clearErrors(form: HTMLFormElement): void {
  for (const spot of form.querySelectorAll("[data-error-for]")) spot.textContent = "";
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
  form.querySelector("[data-confirm-note]")?.remove();
}

/** A note under one comment (errors and thanks for votes, deletions, reports). */
export function notice(li: HTMLElement, text: string): void {
  const main = li.querySelector(":scope>.kb-c");
  if (!main) return;
  let note = main.querySelector(".kb-note");
  if (!note) main.lastElementChild!.appendChild((note = h("p", { class: "kb-note", role: "alert" })));
  note.textContent = text;
}

/** "Check your inbox to confirm" in a form, after a subscription was asked for. */
export function confirmNote(before: Element): void {
  before.before(h("p", { class: "kb-note kb-ok", role: "status", "data-confirm-note": "" }, w.confirm));
}
