/** The public API's shapes (DESIGN.md §3), as far as the widget reads them, and the hooks between bundles. */

import type { Strings } from "./i18n";

export interface Author {
  name: string;
  avatar: string | null;
  url: string | null;
  /** A signed-in author's: staff, moderator, verified (absent from older servers' answers). */
  badges?: string[];
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

/** A story update (a correction, update or follow-up staff posted: DESIGN.md §3b). */
export interface Update {
  id: string;
  kind: string;
  title: string;
  html: string;
  url: string | null;
  created: string;
}

export interface ThreadPage {
  thread: Thread;
  comments: Comment[];
  next: string | null;
  /** The story's latest updates, newest first (absent from older servers). */
  updates?: Update[];
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
 * anchor.js (src/anchor.ts, loaded with it) reads the same object: site, page, root, lang.
 */
export interface LiveHost {
  site: string;
  page: string;
  root: HTMLElement;
  /** The count ledger's clock (tally.ts): call it when a stream opens or a poll starts. */
  now(): number;
  /** A count from the server that includes every own write answered before `since` (tally.ts). */
  count(n: number, since: number, issued?: number): void;
  /** The stream showed comment `id` created (or restored) or, with `gone`, deleted or hidden. */
  saw(id: string, gone: boolean): void;
  /** The thread was closed or reopened (`thread.changed`). */
  closed(closed: boolean): void;
  comment(c: Comment, depth: number): HTMLLIElement;
  article(c: Comment): HTMLElement;
  lang: string;
  /** The story's latest updates from the first read, newest first (live.js shows them: banner.ts). */
  updates: Update[];
  /** "3 minutes ago", in the widget's language (time.ts). */
  ago(iso: string): string;
}

/** What actions.js (src/actions.ts, loaded on the reader's first interaction) gives embed.js. */
export interface Actions {
  click(b: HTMLButtonElement): Promise<void>;
  submit(form: HTMLFormElement): Promise<void>;
  /** A field changed (name, email, url, notify): remembered for every form. */
  input(el: Element): void;
  escape(el: Element): void;
  /** The thread could not be read: find out why and tell the site's owner. */
  diagnose(): Promise<void>;
}

/**
 * What embed.js hands actions.js through `window.kibitzAct`: the widget's parts, its drawing and
 * its count ledger; `ready` takes the actions once the bundle has run.
 */
export interface ActHost {
  site: string;
  page: string;
  base: string;
  root: HTMLElement;
  list: HTMLOListElement;
  heading: HTMLElement;
  lang: string;
  t: Strings;
  find(id: string): HTMLLIElement | null;
  comment(c: Comment, depth: number): HTMLLIElement;
  article(c: Comment): HTMLElement;
  replies(list: Comment[], depth: number): HTMLOListElement;
  form(kind: "reply" | "edit", text?: string): HTMLFormElement;
  button(action: string, label: string, attrs?: Record<string, string | boolean>): HTMLButtonElement;
  announce(text: string): void;
  /** The reader's own write was answered: comment `id` posted (approved) or, with `gone`, deleted. */
  mine(id: string, gone: boolean): void;
  sort(): Sort;
  ready(actions: Actions): void;
}

/**
 * What embed.js hands signin.js through `window.kibitzSignIn`: where the widget is, its root and the
 * bar where the sign-in button or the signed-in reader's name goes; the publisher's token (`data-sso`).
 */
export interface SignInHost {
  site: string;
  base: string;
  root: HTMLElement;
  bar: HTMLElement;
  /** The widget element's data-sso: the publisher's token, "" (its reader signed out), or null. */
  sso: string | null;
  announce(text: string): void;
  button(action: string, label: string, attrs?: Record<string, string | boolean>): HTMLButtonElement;
  ready(click: (b: HTMLButtonElement) => Promise<void>): void;
  /** Reads the thread again (after "Erase me", so the reader's comments show as deleted). */
  load(append: boolean): Promise<boolean>;
  /** The reader's language (i18n.ts) and the address of another bundle beside embed.js. */
  lang: string;
  asset(name: string): string;
  /** A badge's label in the reader's language (staff, moderator, verified, author). */
  badge(name: string): string;
}

/** What signin.js hands moderate.js through `window.kibitzModerate` (a moderator from the site's login). */
export interface ModerateHost {
  base: string;
  root: HTMLElement;
  lang: string;
  announce(text: string): void;
  load(append: boolean): Promise<boolean>;
  /** Whether the menus are wanted now (the rights can go while moderate.js loads). */
  on: boolean;
  /** Set by moderate.js: show the menus (again), or take them away (signed out, rights gone). */
  start?(): void;
  stop?(): void;
}

declare global {
  interface Window {
    kibitzLive?: LiveHost;
    kibitzAct?: ActHost;
    kibitzSignIn?: SignInHost;
    kibitzModerate?: ModerateHost;
  }
}
