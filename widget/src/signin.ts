/**
 * signin.js: the reader signs in (a mailed link, a provider in a popup, or the publisher's own login
 * through `data-sso`) and sees "Signed in as …" with a way to sign out. Loaded by embed.js when the
 * reader presses "Sign in" or is signed in already. The session is kept in localStorage
 * (`kibitz:session`) and sent in X-Kibitz-Session by api.ts; a popup's answer is taken only from the
 * Kibitz server's own origin and only from the popup this page opened.
 */

import { ApiError, call, setBase } from "./api";
import { h } from "./dom";
import { get, set } from "./store";

interface Account {
  name: string;
  badges: string[];
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
    ...a.badges.map((b) => h("span", { class: "kb-badge", "data-badge": b }, b)),
    H.button("sign-out", "Sign out", { class: "kb-ghost" }),
  );
}

function signedOut(): void {
  set("session", null);
  set("sso-sub", null);
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
  if (action == "sign-out") {
    await call("POST", "/api/v1/me/sign-out", {}).catch(() => {});
    signedOut();
  }
}

start().finally(() => H.ready(click));
