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
  deleted: boolean;
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
