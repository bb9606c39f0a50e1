/**
 * newsletter.js: fills every `<form data-kibitz-newsletter data-site="S">` with a newsletter sign-up form: a
 * labelled email field, the list (`data-list`, else a choice of the site's lists from
 * GET /api/v1/sites/S/lists), the consent sentence, a hidden field for scripts that fill in everything and the
 * form token (GET /api/v1/sites/S/form). It posts to POST /api/v1/sites/S/subscriptions and says "Check your
 * inbox" in its live region (`[data-kibitz-status]`). The form stays the publisher's own element, styled by
 * their CSS; what it held before (a form that works without JavaScript) gives way.
 */

export {}; // a module: its names stay its own (count.ts is a script too)

interface List {
  id: string;
  name: string;
  description: string;
}

// Per language, split at "|": the email label, the lists' legend, the button, the consent sentence, then what
// is said after a post: done, a bad address, failed (too many sign-ups, or the server away).
const WORDS: Record<string, string> = {
  en:
    "Email address|Newsletter|Subscribe|We will email you a link to confirm. Unsubscribe at any time." +
    "|Check your inbox to confirm your subscription.|Please enter a valid email address." +
    "|Sign-up failed: please try again later.",
  de:
    "E-Mail-Adresse|Newsletter|Abonnieren|Sie erhalten einen Link zur Bestätigung. Jederzeit abbestellbar." +
    "|Bitte bestätigen Sie über den Link in Ihrem Posteingang.|Bitte geben Sie eine gültige E-Mail-Adresse ein." +
    "|Anmeldung fehlgeschlagen: Bitte später erneut versuchen.",
  fr:
    "Adresse e-mail|Lettre d’information|S’abonner|Vous recevrez un lien de confirmation. Désabonnement à tout moment." +
    "|Consultez votre boîte de réception pour confirmer.|Veuillez saisir une adresse e-mail valide." +
    "|Échec de l’inscription : réessayez plus tard.",
  es:
    "Correo electrónico|Boletín|Suscribirse|Recibirás un enlace para confirmar. Date de baja cuando quieras." +
    "|Revisa tu bandeja de entrada para confirmar.|Introduce un correo electrónico válido." +
    "|No se pudo suscribir: inténtalo más tarde.",
  tr:
    "E-posta adresi|Bülten|Abone ol|Onay için bir bağlantı alacaksınız. Dilediğiniz zaman ayrılın." +
    "|Onaylamak için gelen kutunuza bakın.|Lütfen geçerli bir e-posta adresi girin." +
    "|Kayıt başarısız: lütfen daha sonra tekrar deneyin.",
};
// The server takes a form sent back sooner than 2 s after its token for a script's; a person using autofill
// can be that fast, so a post waits out the rest.
const MIN_FILL = 2100;

// The Kibitz server: where this script came from (read while it first runs).
const base = ((document.currentScript as HTMLScriptElement | null)?.src || "").replace(/\/newsletter\.js([?#].*)?$/, "");
let uid = 0;

function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Record<string, string>,
  ...kids: (Node | string)[]
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  for (const k in attrs) e.setAttribute(k, attrs[k] as string);
  e.append(...kids);
  return e;
}

/** GET (or POST ``body`` as JSON) a route of the site: the status and the parsed answer. Cookies never go
 * (the API is on another origin than the page). */
async function api(site: string, path: string, body?: object): Promise<[number, any]> {
  const r = await fetch(
    `${base}/api/v1/sites/${encodeURIComponent(site)}/${path}`,
    body && { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) },
  );
  return [r.status, await r.json().catch(() => ({}))];
}

async function fill(form: HTMLFormElement): Promise<void> {
  const d = form.dataset;
  const site = d.site || "";
  const w = (WORDS[(d.lang || document.documentElement.lang || "").toLowerCase().slice(0, 2)] || WORDS.en)!.split("|");
  const id = "kbn" + uid++ + "-";
  const status = el("p", { role: "status", "data-kibitz-status": "" });
  // The form token: sent back with the post, good for one; when it came, for MIN_FILL.
  let token = "";
  let issued = 0;
  const renew = async () => {
    const [code, data] = await api(site, "form");
    if (code != 200) throw code;
    token = data.form;
    issued = Date.now();
  };
  let lists = [{ id: d.list }] as List[];
  try {
    const [, listed] = await Promise.all([renew(), d.list ? [200, { lists }] : api(site, "lists")]);
    if (listed[0] != 200) throw 0;
    lists = listed[1].lists;
  } catch {
    status.textContent = w[6] as string;
    form.replaceChildren(status);
    return;
  }
  const email = el("input", {
    type: "email",
    name: "email",
    id: id + "email",
    required: "",
    autocomplete: "email",
    "aria-describedby": id + "consent",
  });
  const button = el("button", { type: "submit" }, w[2] as string);
  form.replaceChildren(
    el("label", { for: id + "email" }, w[0] as string),
    " ",
    email,
    lists.length > 1
      ? el(
          "fieldset",
          {},
          el("legend", {}, w[1] as string),
          ...lists.map((l, i) =>
            el(
              "div",
              { "data-kibitz-list": l.id },
              el("input", { type: "radio", name: "list", value: l.id, id: id + i, ...(i ? {} : { checked: "" }) }),
              " ",
              el("label", { for: id + i }, l.name),
              l.description ? el("small", {}, " " + l.description) : "",
            ),
          ),
        )
      : el("input", { type: "hidden", name: "list", value: lists[0]?.id || "" }),
    el("div", { hidden: "" }, el("input", { name: "hp", tabindex: "-1", autocomplete: "off" })),
    el("p", { id: id + "consent" }, w[3] as string),
    button,
    status,
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    if (button.disabled) return;
    button.disabled = true;
    const data = new FormData(form);
    let said = 6;
    try {
      await new Promise((done) => setTimeout(done, MIN_FILL - Date.now() + issued));
      const [code, answer] = await api(site, "subscriptions", {
        email: data.get("email"),
        topic: "newsletter",
        list: data.get("list") || null,
        hp: data.get("hp"),
        form: token,
      });
      said = code == 202 ? 4 : code == 422 && answer.errors?.[0]?.field == "email" ? 5 : 6;
      if (code == 202) {
        email.value = "";
        await renew();
      }
    } catch {}
    email.setAttribute("aria-invalid", String(said == 5));
    if (said == 5) email.focus();
    status.textContent = w[said] as string;
    button.disabled = false;
  });
}

function start(): void {
  for (const form of document.querySelectorAll<HTMLFormElement>("form[data-kibitz-newsletter]:not([data-kibitz-ready])")) {
    form.setAttribute("data-kibitz-ready", "");
    fill(form);
  }
}

if (document.readyState == "loading") document.addEventListener("DOMContentLoaded", start);
else start();
