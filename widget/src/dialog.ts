/**
 * The widget's own modal dialogs (instead of the browser's prompt() and confirm()): a native
 * `<dialog>` shown modal inside the shadow root, with role dialog or alertdialog, a name and a
 * description; Tab stays inside, Escape and Cancel close it, and the focus goes back where it was.
 */

import { h } from "./dom";
import { focused, H } from "./here";

let uid = 0;

export interface Ask {
  /** What the dialog asks (its accessible name). */
  title: string;
  /** The confirming button's label. */
  ok: string;
  /** A sentence under the title (its accessible description). */
  text?: string;
  /** The label of a text field, when the dialog asks for text. */
  field?: string;
  /** Said when the field is left empty. */
  need?: string;
  /** A destructive confirmation: role alertdialog, focus on Cancel first. */
  alert?: boolean;
}

/** Resolves with the field's text ("" without a field) when confirmed, null when cancelled. */
export function modal(ask: Ask): Promise<string | null> {
  const opener = focused();
  const id = "kb-dlg" + uid++;
  const area = ask.field ? h("textarea", { id: id + "f", rows: 3, maxlength: 500, "aria-describedby": id + "e" }) : null;
  const error = h("p", { class: "kb-err", id: id + "e", role: "alert" });
  const cancel = h("button", { type: "button", class: "kb-ghost", "data-dialog": "cancel" }, H.t.cancel);
  const ok = h("button", { type: "button", class: "kb-primary", "data-dialog": "ok" }, ask.ok);
  const dialog = h(
    "dialog",
    {
      class: "kb-dlg",
      role: ask.alert ? "alertdialog" : "dialog",
      "aria-modal": "true",
      "aria-labelledby": id + "t",
      "aria-describedby": ask.text ? id + "d" : null,
    },
    h("h3", { id: id + "t" }, ask.title),
    ask.text && h("p", { id: id + "d" }, ask.text),
    area && h("label", { for: id + "f" }, ask.field),
    area,
    error,
    h("div", { class: "kb-btns" }, cancel, ok),
  );
  H.root.appendChild(dialog);
  return new Promise((resolve) => {
    const done = (answer: string | null) => {
      dialog.close();
      dialog.remove();
      opener?.focus();
      resolve(answer);
    };
    dialog.addEventListener("cancel", (e) => {
      e.preventDefault();
      done(null);
    });
    dialog.addEventListener("keydown", (e) => {
      e.stopPropagation(); // not the widget's own keys (Escape closes forms there)
      if (e.key == "Escape") {
        e.preventDefault();
        done(null);
      } else if (e.key == "Tab") {
        const items: HTMLElement[] = area ? [area, cancel, ok] : [cancel, ok];
        const at = items.indexOf(focused()!);
        const to = e.shiftKey ? (at <= 0 ? items.length - 1 : -1) : at == items.length - 1 || at < 0 ? 0 : -1;
        if (to >= 0) {
          e.preventDefault();
          items[to]!.focus();
        }
      }
    });
    cancel.addEventListener("click", () => done(null));
    ok.addEventListener("click", () => {
      const text = area ? area.value.trim() : "";
      if (area && !text) {
        error.textContent = ask.need || "";
        area.setAttribute("aria-invalid", "true");
        return area.focus();
      }
      done(text);
    });
    dialog.showModal();
    (area || (ask.alert ? cancel : ok)).focus();
  });
}
