/**
 * The only way user HTML enters the widget's DOM. The server's `html` is already sanitised
 * (kibitz/markup.py); this re-checks it against the same allow-list, as a second line of defence.
 */

const LINK_REL = "nofollow ugc noopener noreferrer";
// Tags and their attributes, as in markup.py ALLOWED_TAGS / ALLOWED_ATTRIBUTES (+ img, which the
// server emits only for sites that allow images).
const ALLOWED: Record<string, string[]> = {
  p: [],
  br: [],
  em: [],
  strong: [],
  s: [],
  del: [],
  code: ["class"],
  pre: [],
  blockquote: [],
  ul: [],
  ol: ["start"],
  li: [],
  a: ["href", "title", "rel"],
  hr: [],
  img: ["src", "alt", "title"],
};
// No whitespace, controls or backslashes anywhere (browsers read "\" as "/").
const CLEAN = /^[^\s\x00-\x1f\x7f-\x9f\\]+$/;
const CHECKS: Record<string, RegExp> = {
  "a.href": /^(https?:\/\/[^/@?#]|mailto:[^/])/i,
  "img.src": /^https?:\/\/[^/@?#]/i,
  "code.class": /^language-[\w+#.-]{1,32}$/,
  "ol.start": /^\d{1,9}$/,
};

export function safeHtml(html: string): DocumentFragment {
  const tpl = document.createElement("template");
  tpl.innerHTML = html; // parsed inert: nothing loads or runs inside a template
  clean(tpl.content);
  return tpl.content;
}

function clean(parent: Node): void {
  for (const node of Array.from(parent.childNodes)) {
    if (node.nodeType == 3) continue; // text
    const el = node as Element;
    const tag = node.nodeType == 1 ? el.localName : "";
    const allowed = el.namespaceURI == "http://www.w3.org/1999/xhtml" ? ALLOWED[tag] : undefined;
    if (!allowed) {
      parent.removeChild(node); // comments, foreign (SVG/MathML) and unknown elements, with their content
      continue;
    }
    for (const attr of Array.from(el.attributes)) {
      const key = tag + "." + attr.name;
      const check = CHECKS[key];
      const ok =
        allowed.indexOf(attr.name) >= 0 &&
        (!check || check.test(attr.value)) &&
        (key != "a.href" && key != "img.src" || CLEAN.test(attr.value));
      if (!ok) el.removeAttribute(attr.name);
    }
    if (tag == "a") el.setAttribute("rel", LINK_REL);
    clean(el);
  }
}
