/**
 * signin.js: the reader signs in (a mailed link, a provider in a popup, or the publisher's own login
 * through `data-sso`) and sees "Signed in as …" with a way to sign out. Loaded by embed.js when the
 * reader presses "Sign in" or is signed in already. The session is kept in localStorage
 * (`kibitz:session`) and sent in X-Kibitz-Session by api.ts; a popup's answer is taken only from the
 * Kibitz server's own origin and only from the popup this page opened.
 */

import { ApiError, call, setBase } from "./api";
import { h } from "./dom";
import { get, getJson, set } from "./store";

interface Account {
  name: string;
  badges: string[];
  moderates?: boolean;
  email?: string | null;
  picture?: string | null;
  avatar?: string;
  notify?: string;
  digest?: string;
}
interface Options {
  authors: string;
  email: boolean;
  sso: boolean;
  providers: { id: string; name: string }[];
}

const H = window.kibitzSignIn!;
setBase(H.base);
const enc = encodeURIComponent;
const kibitz = new URL(H.base, location.href).origin;
let popup: Window | null = null;

function signedIn(a: Account): void {
  H.root.setAttribute("data-signed-in", "");
  H.root.dataset.signedIn = a.name;
  H.bar.textContent = "";
  H.bar.append(
    "Signed in as ",
    h("strong", { "data-account-name": "" }, a.name),
    ...a.badges.map((b) => h("span", { class: "kb-badge", "data-badge": b }, H.badge(b))),
    H.button("sign-out", "Sign out", { class: "kb-ghost" }),
    mePanel(a),
  );
  meDefault(a);
  moderation(!!a.moderates);
}

/** A moderator from the site's own login gets moderate.js (the menu on each comment); others lose it. */
function moderation(on: boolean): void {
  const M = window.kibitzModerate;
  if (M) {
    M.on = on; // read by moderate.js when it is still loading
    return on ? M.start?.() : M.stop?.();
  }
  if (!on) return;
  window.kibitzModerate = { base: H.base, root: H.root, lang: H.lang, announce: H.announce, load: H.load, on };
  document.head.append(h("script", { src: H.asset("moderate.js"), async: true }));
}

/** The account's default "Notify of": where new comment forms start (render.ts), and the main form now. */
function meDefault(a: Account): void {
  set("me-notify", a.notify || null);
  mainNotify(a.notify, a.digest);
}

/** The main form's "Notify of" and digest (unless the reader is writing in it already). */
function mainNotify(notify = "none", digest?: string): void {
  const form = H.root.querySelector<HTMLFormElement>("form[data-form=main]");
  const select = form?.elements.namedItem("notify") as HTMLSelectElement | null;
  if (!select || form!.querySelector("textarea")!.value) return;
  select.value = notify;
  const more = form!.elements.namedItem("digest") as HTMLSelectElement | null;
  if (!more) return; // actions.js adds it (from the reader's last choice) when it loads
  more.hidden = notify == "none";
  if (digest) more.value = digest;
}

const select = (name: string, label: string, value: string | undefined, options: [string, string][]) =>
  h(
    "label",
    null,
    label + " ",
    h("select", { name, "data-me": name }, ...options.map(([v, text]) => h("option", { value: v, selected: v == value }, text))),
  );

/** "Your account": name, avatar, notification defaults, earlier comments, the reader's data, erasure. */
function mePanel(a: Account): HTMLElement {
  return h(
    "details",
    { class: "kb-me", "data-account-panel": "" },
    h("summary", null, "Your account"),
    h("style", null, ".kb-me{flex-basis:100%}.kb-me>div{display:flex;flex-wrap:wrap;gap:6px 10px;margin:8px 0}.kb-me [data-me-note]:empty{display:none}"),
    h(
      "div",
      null,
      h("label", null, "Display name ", h("input", { name: "name", "data-me": "name", value: a.name, maxlength: 64, autocomplete: "nickname" })),
      a.picture &&
        select("avatar", "Picture", a.avatar, [
          ["identicon", "A pattern"],
          ["picture", "My picture"],
        ]),
      select("notify", "Notify me of", a.notify, [
        ["none", "nothing"],
        ["replies", "replies to my comments"],
        ["all", "all follow-up comments"],
      ]),
      select("digest", "Email", a.digest, [
        ["instant", "at once"],
        ["daily", "in a daily digest"],
      ]),
      H.button("me-save", "Save", { class: "kb-ghost" }),
    ),
    h(
      "div",
      null,
      a.email && H.button("me-join", "Add my earlier comments", { class: "kb-ghost" }),
      H.button("me-export", "Download my data", { class: "kb-ghost" }),
      H.button("me-erase", "Erase me", { class: "kb-ghost", "aria-expanded": "false" }),
      h("span", { hidden: true, "data-me-confirm": "" }, "This deletes your account and every comment you posted. ", H.button("me-erase-yes", "Yes, erase my account and comments", { class: "kb-ghost" })),
    ),
    h("p", { role: "status", "data-me-note": "" }),
  );
}

/** What happened, in the panel and through the live region; a problem (problem+json) in plain words. */
function note(text: string): void {
  const p = H.bar.querySelector("[data-me-note]");
  if (p) p.textContent = text;
  H.announce(text);
}

function problem(e: unknown): string {
  if (!(e instanceof ApiError) || !e.status) return "That did not work: the comments server could not be reached.";
  const f = e.errors.map((x) => x.field.replace(/^.*\./, "") + ": " + x.message).join("; ");
  return "That did not work" + (f ? ": " + f : e.status == 429 ? ": too many tries, wait a little." : ".");
}

async function me(action: string): Promise<void> {
  const field = (name: string) => H.bar.querySelector<HTMLInputElement>(`[data-me=${name}]`)?.value;
  if (action == "me-save") {
    const body: Record<string, string> = {};
    for (const k of ["name", "avatar", "notify", "digest"]) {
      const v = field(k)?.trim();
      if (v) body[k] = v;
    }
    const done = await call<{ account: Account }>("PATCH", "/api/v1/me", body);
    H.bar.querySelector("[data-account-name]")!.textContent = done.account.name;
    H.root.dataset.signedIn = done.account.name;
    meDefault(done.account);
    return note("Saved.");
  }
  if (action == "me-join") {
    const done = await call<{ joined: number }>("POST", "/api/v1/me/join", {});
    const n = done.joined;
    return note(!n ? "No earlier comments to add." : n == 1 ? "1 earlier comment is now your account's." : `${n} earlier comments are now your account's.`);
  }
  if (action == "me-export") {
    const data = await call<unknown>("GET", "/api/v1/me/export");
    const url = URL.createObjectURL(new Blob([JSON.stringify(data, null, 2)], { type: "application/json" }));
    const link = h("a", { href: url, download: "kibitz-my-data.json", hidden: true });
    H.root.append(link);
    link.click();
    link.remove();
    setTimeout(() => URL.revokeObjectURL(url), 1e3);
    return note("Your data is downloaded.");
  }
  const confirm = H.bar.querySelector<HTMLElement>("[data-me-confirm]")!;
  if (action == "me-erase") {
    confirm.hidden = !confirm.hidden;
    H.bar.querySelector("[data-action=me-erase]")!.setAttribute("aria-expanded", String(!confirm.hidden));
    if (!confirm.hidden) confirm.querySelector("button")!.focus();
    return;
  }
  await call("DELETE", "/api/v1/me");
  signedOut();
  H.announce("Your account is erased; your comments show as deleted.");
  await H.load(false);
}

function signedOut(): void {
  moderation(false);
  set("session", null);
  set("sso-sub", null);
  // A guest's form starts from the guest's own last choice again (a guest's notice needs an address).
  if (get("me-notify")) mainNotify(getJson<Account>("author")?.notify, getJson<Account>("author")?.digest);
  set("me-notify", null);
  H.root.removeAttribute("data-signed-in");
  H.bar.textContent = "";
  H.bar.append(H.button("sign-in", "Sign in", { class: "kb-ghost" }));
}

/** The `sub` of the publisher's token (read, not verified: the server verifies), or "". */
function subOf(token: string): string {
  try {
    const part = (token.split(".")[1] || "").replace(/-/g, "+").replace(/_/g, "/");
    return String(JSON.parse(atob(part)).sub || "");
  } catch {
    return "";
  }
}

async function start(): Promise<void> {
  // The publisher's page says who is signed in there, and it has the last word: a token for another
  // reader (or for a reader signed in here some other way) replaces the session; data-sso="" (signed
  // out there) ends a session its login made.
  const sub = H.sso ? subOf(H.sso) : "";
  const fromSso = get("sso-sub");
  if (get("session") && ((H.sso && sub != fromSso) || (H.sso === "" && fromSso != null))) {
    await call("POST", "/api/v1/me/sign-out", {}).catch(() => {});
    signedOut();
  }
  if (get("session")) {
    try {
      const me = await call<{ account: Account }>("GET", "/api/v1/me");
      return signedIn(me.account);
    } catch (e) {
      if (!(e instanceof ApiError) || e.status != 401) return;
      signedOut();
    }
  }
  if (H.sso) await withToken(H.sso, sub);
}

/** The publisher's token for its signed-in reader: exchanged for a session. */
async function withToken(token: string, sub: string): Promise<void> {
  try {
    const done = await call<{ session: string; account: Account }>(
      "POST",
      `/api/v1/sites/${enc(H.site)}/auth/sso`,
      { token },
    );
    set("session", done.session);
    set("sso-sub", sub);
    signedIn(done.account);
  } catch {
    H.announce("Signing in with this site's account did not work.");
  }
}

async function panel(): Promise<void> {
  const options = await call<Options>("GET", `/api/v1/sites/${enc(H.site)}/auth`);
  H.bar.textContent = "";
  if (options.email) {
    const input = h("input", { type: "email", autocomplete: "email", "aria-label": "Email", placeholder: "you@example.org", "data-sign-in-email": "" });
    H.bar.append(input, H.button("sign-in-email", "Email me a sign-in link", { class: "kb-ghost" }));
  }
  for (const p of options.providers) {
    H.bar.append(H.button("sign-in-provider", "Sign in with " + p.name, { class: "kb-ghost", "data-provider": p.id }));
  }
  if (!options.email && !options.providers.length) H.bar.append("Sign in on this site to comment.");
  (H.bar.querySelector("input,button") as HTMLElement | null)?.focus();
}

async function byEmail(): Promise<void> {
  const input = H.bar.querySelector<HTMLInputElement>("[data-sign-in-email]");
  const email = input?.value.trim() || "";
  if (!email) return input?.focus();
  try {
    await call("POST", `/api/v1/sites/${enc(H.site)}/auth/email`, { email, return: location.origin + location.pathname + location.search });
    H.bar.textContent = "";
    H.bar.append(h("span", { role: "status", "data-sign-in-sent": "" }, "Check your mail: the link signs you in and brings you back here."));
  } catch (e) {
    H.announce(e instanceof ApiError && e.status == 429 ? "Too many sign-in links; try again later." : "That address was not accepted.");
  }
}

function byProvider(id: string): void {
  const url = `${H.base}/auth/oidc/${enc(id)}/start?site=${enc(H.site)}&return=${enc(location.href.split("#")[0] as string)}`;
  popup = window.open(url, "kibitz-sign-in", "popup,width=520,height=680");
}

window.addEventListener("message", (e: MessageEvent) => {
  const d = e.data;
  if (e.origin != kibitz || !popup || e.source != popup || !d || d.kibitz != "sign-in") return;
  popup = null;
  if (d.session) {
    set("session", d.session);
    signedIn(d.account);
    H.announce("Signed in as " + d.account.name);
  } else H.announce("Signing in did not work.");
});

async function click(b: HTMLButtonElement): Promise<void> {
  const action = b.dataset.action;
  if (action == "sign-in") return panel();
  if (action == "sign-in-email") return byEmail();
  if (action == "sign-in-provider") return byProvider(b.dataset.provider || "");
  if (action?.startsWith("me-")) return me(action).catch((e) => note(problem(e)));
  if (action == "sign-out") {
    await call("POST", "/api/v1/me/sign-out", {}).catch(() => {});
    signedOut();
  }
}

start().finally(() => H.ready(click));
