/** The one DOM builder: text goes in as text nodes, never as markup. */

export type Attrs = Record<string, string | number | boolean | null | undefined>;
export type Child = Node | string | null | undefined | false;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs?: Attrs | null,
  ...children: (Child | Child[])[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const k in attrs) {
    const v = attrs[k];
    if (v === true) el.setAttribute(k, "");
    else if (v != null && v !== false) el.setAttribute(k, String(v));
  }
  add(el, children);
  return el;
}

function add(el: Node, children: (Child | Child[])[]): void {
  for (const c of children) {
    if (Array.isArray(c)) add(el, c);
    else if (c || c === "") el.appendChild(typeof c == "string" ? document.createTextNode(c) : c);
  }
}

/** A small inline icon (a triangle pointing up or down) for the vote buttons. */
export function arrow(up: boolean): SVGSVGElement {
  const ns = "http://www.w3.org/2000/svg";
  const svg = document.createElementNS(ns, "svg");
  const path = document.createElementNS(ns, "path");
  svg.setAttribute("viewBox", "0 0 16 16");
  svg.setAttribute("aria-hidden", "true");
  path.setAttribute("d", up ? "M8 3l6 8H2z" : "M8 13L2 5h12z");
  svg.appendChild(path);
  return svg;
}
