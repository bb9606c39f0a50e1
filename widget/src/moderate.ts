/**
 * moderate.js: the moderation menu of a reader the publisher's login marks "moderator", on a site that
 * allows it (`sso_moderators`; the account's `moderates`). Loaded by signin.js only then. Each shown
 * comment gets a "Moderate" disclosure (a `details`: keyboard and screen readers know it) with Hide,
 * Mark as spam and Pin or Unpin; the act goes to `POST /api/v1/comments/{id}/moderate` with the
 * session, and the thread is read again, so the reader sees what every other reader now sees.
 */

import { ApiError, call, setBase } from "./api";
import { h } from "./dom";

const en = {
  menu: "Moderate",
  reject: "Hide",
  spam: "Mark as spam",
  pin: "Pin",
  unpin: "Unpin",
  rejected: "The comment is hidden.",
  spammed: "The comment is marked as spam.",
  pinned: "The comment is pinned.",
  unpinned: "The comment is unpinned.",
  refused: "You may not moderate here any more.",
  failed: "That did not work. Please try again.",
};
type Words = typeof en;

// German, French, Spanish and Turkish, one line per English key, in its order (as i18n.ts).
const OTHERS: Record<string, string> = {
  de: `Moderieren
Ausblenden
Als Spam markieren
Anheften
Nicht mehr anheften
Der Kommentar ist ausgeblendet.
Der Kommentar ist als Spam markiert.
Der Kommentar ist angeheftet.
Der Kommentar ist nicht mehr angeheftet.
Sie dürfen hier nicht mehr moderieren.
Das hat nicht geklappt. Bitte versuchen Sie es erneut.`,
  fr: `Modérer
Masquer
Signaler comme spam
Épingler
Désépingler
Le commentaire est masqué.
Le commentaire est signalé comme spam.
Le commentaire est épinglé.
Le commentaire n’est plus épinglé.
Vous ne pouvez plus modérer ici.
Cela n’a pas fonctionné. Veuillez réessayer.`,
  es: `Moderar
Ocultar
Marcar como spam
Fijar
Dejar de fijar
El comentario está oculto.
El comentario está marcado como spam.
El comentario está fijado.
El comentario ya no está fijado.
Ya no puede moderar aquí.
No ha funcionado. Inténtelo de nuevo.`,
  tr: `Moderasyon
Gizle
Spam olarak işaretle
Sabitle
Sabitlemeyi kaldır
Yorum gizlendi.
Yorum spam olarak işaretlendi.
Yorum sabitlendi.
Yorumun sabitlemesi kaldırıldı.
Burada artık moderasyon yapamazsınız.
Olmadı. Lütfen yeniden deneyin.`,
};

const M = window.kibitzModerate!;
setBase(M.base);
const w: Words = { ...en };
const keys = Object.keys(en) as (keyof Words)[];
OTHERS[M.lang]?.split("\n").forEach((line, i) => (w[keys[i]!] = line));
const DONE: Record<string, keyof Words> = { reject: "rejected", spam: "spammed", pin: "pinned", unpin: "unpinned" };
let on = false;

/** The menu of one comment's article (none on a tombstone, none twice). */
function menu(article: Element): void {
  const acts = article.querySelector(":scope>.kb-main>.kb-acts");
  if (!acts || acts.querySelector("[data-mod-menu]")) return;
  const pinned = !!article.querySelector("[data-pinned]");
  const item = (act: string) => h("button", { type: "button", class: "kb-ghost", "data-mod": act }, w[act as keyof Words]);
  acts.append(
    h(
      "details",
      { class: "kb-mod", "data-mod-menu": "" },
      h("summary", null, w.menu),
      h("div", { role: "group", "aria-label": w.menu }, item("reject"), item("spam"), item(pinned ? "unpin" : "pin")),
    ),
  );
}

function all(): void {
  if (on) for (const a of M.root.querySelectorAll("li[data-comment-id]>article")) menu(a);
}

async function act(b: HTMLButtonElement): Promise<void> {
  const li = b.closest<HTMLElement>("li[data-comment-id]");
  const action = b.dataset.mod || "";
  if (!li || b.disabled) return;
  b.disabled = true;
  try {
    await call("POST", `/api/v1/comments/${encodeURIComponent(li.dataset.commentId || "")}/moderate`, { action });
    // Hidden and spam leave the thread; a pin moves the comment: read the thread as others see it.
    await M.load(false);
    M.announce(w[DONE[action] || "failed"]);
  } catch (e) {
    b.disabled = false;
    M.announce(e instanceof ApiError && (e.status == 403 || e.status == 401) ? w.refused : w.failed);
  }
}

M.root.addEventListener("click", (e) => {
  const b = (e.target as Element).closest<HTMLButtonElement>("button[data-mod]");
  if (b && on) act(b);
});
// Escape closes an open menu and gives the focus back to its summary.
M.root.addEventListener("keydown", (e) => {
  const open = (e.target as Element).closest<HTMLDetailsElement>("details[data-mod-menu][open]");
  if (e.key != "Escape" || !open) return;
  open.open = false;
  open.querySelector("summary")!.focus();
});
// Comments drawn later (more pages, replies, live arrivals, a re-read) get their menu too.
new MutationObserver(all).observe(M.root, { childList: true, subtree: true });

M.root.append(
  h("style", null, ".kb-mod>summary{cursor:pointer;font-weight:600;padding:4px 6px}.kb-mod[open]{flex-basis:100%}.kb-mod>div{display:flex;flex-wrap:wrap;gap:6px;margin:4px 0}"),
);
M.start = () => {
  on = true;
  M.root.setAttribute("data-moderator", "");
  all();
};
M.stop = () => {
  on = false;
  M.root.removeAttribute("data-moderator");
  for (const el of M.root.querySelectorAll("[data-mod-menu]")) el.remove();
};
if (M.on) M.start();
