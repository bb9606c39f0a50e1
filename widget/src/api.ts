/** Calls to the Kibitz API (the only host the widget talks to); failures become `ApiError`s. */

import { get, set } from "./store";

export interface FieldError {
  field: string;
  message: string;
}

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    readonly errors: FieldError[] = [],
    /** Seconds to wait before trying again (a 429's or 503's Retry-After), else 0. */
    readonly retry = 0,
  ) {
    super(code);
  }
}

let base = "";
/** The Kibitz server's address (where embed.js came from). */
export const setBase = (url: string) => (base = url);

/** For this long after the reader's own write, reads skip shared caches (CDN, browser): `fresh=`. */
const FRESH = 120e3;

export async function call<T>(method: string, path: string, body?: unknown, token?: string): Promise<T> {
  const headers: Record<string, string> = {};
  const wrote = Number(get("wrote")) || 0;
  if (method == "GET" && Date.now() - wrote < FRESH) path += (path.includes("?") ? "&" : "?") + "fresh=" + wrote;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  const reader = get("reader");
  const session = get("session");
  // Reads stay anonymous (the same for every reader, cacheable, no preflight); the account's own
  // page (/api/v1/me) is the one read that needs the session.
  if (method != "GET" && reader) headers["X-Kibitz-Reader"] = reader;
  if (session && (method != "GET" || path.startsWith("/api/v1/me"))) headers["X-Kibitz-Session"] = session;
  if (token) headers.Authorization = "Bearer " + token;
  let res: Response;
  try {
    res = await fetch(base + path, {
      method,
      headers,
      body: body === undefined ? null : JSON.stringify(body),
      cache: "no-cache",
    });
  } catch {
    throw new ApiError(0, "network");
  }
  if (method != "GET" && res.ok && !path.endsWith("/preview")) set("wrote", String(Date.now()));
  const issued = res.headers.get("X-Kibitz-Reader");
  if (issued) set("reader", issued);
  const data: any = res.status == 204 ? null : await res.json().catch(() => null);
  if (!res.ok) {
    // The sign-in ended (signed out elsewhere, erased): the widget is a guest's again.
    if (data && data.code == "session_invalid") set("session", null);
    const retry = Number(res.headers.get("Retry-After")) || 0;
    throw new ApiError(res.status, (data && data.code) || "", (data && data.errors) || [], retry);
  }
  return data as T;
}
