/**
 * The server-rendered thread (templates/pages/thread.html) read back as API data, for a first paint.
 * What the fragment does not carry (parent, edited, pinned, featured, edited_by_moderator, status: its
 * comments are all public) stays undefined, which the drawing reads as null or false; the API's answer
 * replaces it all a moment later.
 */

import type { Comment, ThreadPage } from "./types";

function parse(a: Element): Comment {
  const attr = (sel: string, name: string) => a.querySelector(":scope>header " + sel)?.getAttribute(name) || "";
  const text = (sel: string) => a.querySelector(":scope>" + sel)?.textContent || "";
  const replies = Array.from(a.querySelectorAll(":scope>.kibitz-replies>article"), parse);
  return {
    id: a.getAttribute("data-comment-id") || "",
    author: {
      name: text("header [itemprop=name]"),
      avatar: attr("img", "src") || null,
      url: attr("a[itemprop=url]", "href") || null,
      badges: Array.from(a.querySelectorAll(":scope>header>[data-badge]"), (b) => b.getAttribute("data-badge") || ""),
    },
    html: a.querySelector(":scope>.kibitz-text")?.innerHTML || "",
    created: attr("time", "datetime"),
    score: +text("header .kibitz-score").replace("\u2212", "-"),
    up: +attr("[itemprop=upvoteCount]", "content"),
    down: +attr("[itemprop=downvoteCount]", "content"),
    replies,
    reply_count: replies.length,
    deleted: a.classList.contains("kibitz-deleted"),
  } as Comment;
}

export function fromSsr(section: Element): ThreadPage {
  return {
    thread: {
      count: +(section.querySelector("[data-count]")?.getAttribute("data-count") || 0),
      closed: !!section.querySelector(".kibitz-closed"),
    },
    comments: Array.from(section.querySelectorAll(":scope>article"), parse),
    next: null,
  };
}
