/**
 * The article as anchor.js reads it: its text with every run of white space as one space, a map from
 * each character back to its text node, and selectors made from a range of it (match.ts Selector).
 * Elements Kibitz adds to the article carry `data-kibitz-ui` and are never part of its text.
 */

import { h } from "./dom";
import { hash, type Selector } from "./match";

const CONTEXT = 32; // characters of prefix and suffix stored with a quote
const MAX_QUOTE = 500;
export const UI = "data-kibitz-ui"; // our own elements in the article: never part of its text
const SKIP = /^(SCRIPT|STYLE|NOSCRIPT|TEMPLATE|TEXTAREA)$/;

/** The article's text with runs of white space as one space, and where each character came from. */
export class Prose {
  text = "";
  nodes: globalThis.Text[] = [];
  first: number[] = []; // index in `text` of each node's first character
  node!: Int32Array;
  offset!: Int32Array;

  constructor(readonly root: Element) {
    const chars: string[] = [];
    const node: number[] = [];
    const offset: number[] = [];
    const walk = document.createTreeWalker(root, NodeFilter.SHOW_TEXT, {
      acceptNode: (n) => {
        for (let p = n.parentElement; p && p != root; p = p.parentElement) {
          if (SKIP.test(p.tagName) || p.hasAttribute(UI)) return NodeFilter.FILTER_REJECT;
        }
        return NodeFilter.FILTER_ACCEPT;
      },
    });
    let space = true; // drop leading white space
    for (let n = walk.nextNode() as globalThis.Text | null; n; n = walk.nextNode() as globalThis.Text | null) {
      const i = this.nodes.push(n) - 1;
      this.first.push(chars.length);
      const data = n.data;
      for (let j = 0; j < data.length; j++) {
        const white = /\s/.test(data[j]!);
        if (white && space) continue;
        space = white;
        chars.push(white ? " " : data[j]!);
        node.push(i);
        offset.push(j);
      }
    }
    this.text = chars.join("");
    this.node = Int32Array.from(node);
    this.offset = Int32Array.from(offset);
  }

  /** The index in `text` of a DOM boundary point (a selection's start or end). */
  at(container: Node, off: number): number {
    const i = container.nodeType == 3 ? this.nodes.indexOf(container as globalThis.Text) : -1;
    if (i >= 0) {
      let k = this.first[i]!;
      while (k < this.text.length && this.node[k] == i && this.offset[k]! < off) k++;
      return k;
    }
    const point = document.createRange();
    point.setStart(container, off);
    for (let n = 0; n < this.nodes.length; n++) {
      if (point.comparePoint(this.nodes[n]!, 0) > 0) return this.first[n]!;
    }
    return this.text.length;
  }

  /** The selector of text[s, e), trimmed of white space at its ends. */
  selector(s: number, e: number): Selector | null {
    const t = this.text;
    while (s < e && t[s] == " ") s++;
    while (e > s && t[e - 1] == " ") e--;
    if (e - s > MAX_QUOTE) e = s + MAX_QUOTE;
    if (e <= s) return null;
    return {
      exact: t.slice(s, e),
      prefix: t.slice(Math.max(0, s - CONTEXT), s),
      suffix: t.slice(e, e + CONTEXT),
      start: s,
      end: e,
      hash: hash(t),
    };
  }
}

/** Takes the marks and markers out of the article, leaving its text as it was. */
export function clear(article: Element): void {
  for (const b of article.querySelectorAll("[data-kibitz-marker]")) b.remove();
  const parents = new Set<Node>();
  for (const m of article.querySelectorAll("mark[data-kibitz-mark]")) {
    const p = m.parentNode!;
    parents.add(p);
    m.replaceWith(...m.childNodes);
  }
  for (const p of parents) p.normalize();
}

export function addCss(where: Document | ShadowRoot, css: string): void {
  if (where.adoptedStyleSheets && "replaceSync" in CSSStyleSheet.prototype) {
    const sheet = new CSSStyleSheet();
    sheet.replaceSync(css);
    where.adoptedStyleSheets = [...where.adoptedStyleSheets, sheet];
  } else (where instanceof Document ? where.head : where).appendChild(h("style", null, css));
}
