/**
 * Why the thread could not be read, for the site's owner. A refused CORS request is unreadable (fetch
 * only throws), so this asks GET /api/v1/sites/{site}/embed-check, a simple request any origin may read,
 * whether this page's origin is one of the site's. The answer goes to the console (once per load) and,
 * when the page is served from a local or private address (the owner's own machine or network), onto
 * the page too; readers of a public site only read "Comments are unavailable right now".
 */

import { h } from "./dom";
import { enc, H } from "./here";

interface Check {
  site: string;
  origin: string | null;
  allowed: boolean;
  setting: string;
}

const HOWTO = (origin: string, site: string) =>
  `add "${origin}" to origins in the [[sites]] table with id = "${site}" in kibitz.toml ` +
  `(or to that site's "origins" in KIBITZ_SITES), then restart Kibitz; for the demo, ` +
  `start it with: kibitz demo --origin ${origin}`;

/** A host name of the owner's own machine or network: loopback, private, link-local, .local, .localhost. */
export function local(host: string): boolean {
  host = host.toLowerCase().replace(/^\[|\]$/g, "");
  if (!host || host == "localhost" || /\.(localhost|local)\.?$/.test(host)) return true;
  if (/^\d+\.\d+\.\d+\.\d+$/.test(host)) return /^(127\.|10\.|192\.168\.|169\.254\.|172\.(1[6-9]|2\d|3[01])\.)/.test(host);
  return host == "::1" || /^(f[cd][0-9a-f]{0,2}|fe[89ab][0-9a-f]?):/.test(host);
}

export async function diagnose(): Promise<void> {
  const site = H.site;
  let text: string;
  try {
    const r = await fetch(`${H.base}/api/v1/sites/${enc(site)}/embed-check`, { cache: "no-store", credentials: "omit" });
    if (r.status == 404) {
      text =
        `Kibitz at ${H.base} has no site "${site}": check data-site on the #kibitz element, ` +
        `or add a [[sites]] table with id = "${site}" to kibitz.toml (or KIBITZ_SITES).`;
    } else {
      const found = (await r.json()) as Check;
      if (found.allowed) return; // a passing failure (the network): nothing for the owner to change
      const origin = found.origin || location.origin;
      text =
        `Kibitz refused this page's origin ${origin}: it is not one of the origins of site "${site}" ` +
        `(setting ${found.setting}). To show comments here, ${HOWTO(origin, site)}`;
    }
  } catch {
    text = `Kibitz did not answer at ${H.base}: is it running, and can this page reach it?`;
  }
  console.warn(text);
  if (!local(location.hostname)) return;
  const note = H.root.querySelector("[data-unavailable]")!;
  note.after(
    h(
      "div",
      { class: "kb-owner", role: "alert", "data-embed-problem": "" },
      h("p", null, h("strong", null, "For the site's owner: "), text),
      h(
        "p",
        null,
        "This note shows because the page is served from a local or private address; " +
          "readers of a public site see only the sentence above.",
      ),
    ),
  );
}
