/** The public API's shapes (DESIGN.md §3), as far as the widget reads them. */

export interface Author {
  name: string;
  avatar: string | null;
  url: string | null;
}

export interface Comment {
  id: string;
  parent: string | null;
  author: Author;
  html: string;
  created: string;
  edited: string | null;
  score: number;
  up: number;
  down: number;
  replies: Comment[];
  reply_count: number;
  pinned: boolean;
  /** Absent from the server-rendered fragment (ssr.ts) and from older servers. */
  featured?: boolean;
  edited_by_moderator?: boolean;
  deleted: boolean;
  /** "approved"; for its own author also "pending" (held for moderation) or "rejected". */
  status: string;
}

export interface Thread {
  count: number;
  closed: boolean;
}

export interface ThreadPage {
  thread: Thread;
  comments: Comment[];
  next: string | null;
}

export interface Posted {
  comment: Comment;
  token: string;
  reader?: string;
  status?: string;
}

export interface Tally {
  score: number;
  up: number;
  down: number;
  value: number;
}

export type Sort = "newest" | "oldest" | "votes";

/**
 * What embed.js hands live.js (src/live.ts, loaded lazily after the first render) through
 * `window.kibitzLive`: where the widget is, its root, and the ways to draw and count comments.
 */
export interface LiveHost {
  site: string;
  page: string;
  root: HTMLElement;
  /** Sets the header's `[data-count]`. */
  count(n: number): void;
  comment(c: Comment, depth: number): HTMLLIElement;
  article(c: Comment): HTMLElement;
  t: { invite: string; one: string; other: string };
  lang: string;
  /** "3 minutes ago", in the widget's language (time.ts). */
  ago(iso: string): string;
}

declare global {
  interface Window {
    kibitzLive?: LiveHost;
  }
}
