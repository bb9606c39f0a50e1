/**
 * What the widget remembers for the reader, in localStorage (or in memory where storage is refused):
 * `kibitz:reader` (the signed reader id), `kibitz:sort`, `kibitz:author` (JSON name, email, url, notify,
 * digest: shared by every form),
 * `kibitz:token:ID` (JSON {token, created, text}: the edit token of the reader's own comment ID, when
 * it was posted (ms) and its Markdown), `kibitz:vote:ID` ("1" or "-1"),
 * `kibitz:posted:SITE PAGE` (the reader commented there: a JSON list of the ids of their comments on that
 * thread not yet seen in its public thread, oldest first — held for moderation, hidden from everyone
 * else by a shadow ban, or not shown yet; "1" from older widgets. live.js asks `GET /api/v1/comments/ID`
 * about them after each load, draws them for their author, and drops an id once the public thread has
 * it, once it is rejected or gone, or 30 days after it was posted; the key itself stays),
 * `kibitz:wrote` (when the reader last changed anything, ms: reads skip shared caches for a while after),
 * `kibitz:session` (the signed-in reader's session, sent in X-Kibitz-Session; signin.ts),
 * `kibitz:me-notify` (the signed-in account's default "Notify of", where a new form starts; signin.ts),
 * `kibitz:sso-sub` (the publisher's `sub` a session was made for by its data-sso token).
 */

const memory: Record<string, string> = {};

export function get(key: string): string | null {
  try {
    return localStorage.getItem("kibitz:" + key);
  } catch {
    return memory[key] ?? null;
  }
}

export function set(key: string, value: string | null): void {
  try {
    if (value == null) localStorage.removeItem("kibitz:" + key);
    else localStorage.setItem("kibitz:" + key, value);
  } catch {
    if (value == null) delete memory[key];
    else memory[key] = value;
  }
}

export function getJson<T>(key: string): T | null {
  try {
    return JSON.parse(get(key) || "null") as T | null;
  } catch {
    return null;
  }
}

export interface Token {
  token: string;
  created: number;
  text?: string; // the Markdown source, for the edit form
}

/** The edit window the widget assumes (the site's default); the server has the last word. */
export const EDIT_WINDOW = 15 * 60e3;

/** The reader's edit token for comment `id`, if this browser posted it. */
export function token(id: string): Token | null {
  return getJson<Token>("token:" + id);
}

/** Milliseconds left to edit or delete comment `id` (0 when it is not the reader's or too late). */
export function editLeft(id: string): number {
  const t = token(id);
  return t ? Math.max(0, t.created + EDIT_WINDOW - Date.now()) : 0;
}
