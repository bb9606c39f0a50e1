/** The server-rendered thread (templates/pages/thread.html) read back as API data, for a first paint. */

import type { Comment, ThreadPage } from "./types";

function parse(a: Element): Comment {
  const attr = (sel: string, name: string) => a.querySelector(":scope>header " + sel)?.getAttribute(name) || "";
  const text = (sel: string) => a.querySelector(":scope>" + sel)?.textContent || "";
  const replies = Array.from(a.querySelectorAll(":scope>.kibitz-replies>article"), parse);
  return {
    id: a.getAttribute("data-comment-id") || "",
    parent: null,
    author: {
      name: text("header [itemprop=name]"),
      avatar: attr("img", "src") || null,
      url: attr("a[itemprop=url]", "href") || null,
    },
    html: a.querySelector(":scope>.kibitz-text")?.innerHTML || "",
    created: attr("time", "datetime"),
    edited: null,
    score: +text("header .kibitz-score"),
    up: +attr("[itemprop=upvoteCount]", "content"),
    down: +attr("[itemprop=downvoteCount]", "content"),
    replies,
    reply_count: replies.length,
    pinned: false,
    deleted: a.classList.contains("kibitz-deleted"),
    status: "approved",
  };
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
