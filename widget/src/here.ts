/** actions.js's view of the widget: embed.js's host (types.ts ActHost) and the strings of words.ts. */

import { setBase } from "./api";
import type { ActHost } from "./types";
import { wordsFor, type Words } from "./words";

export let H: ActHost;
export let w: Words;

export function init(host: ActHost): void {
  H = host;
  w = wordsFor(host.lang);
  setBase(host.base);
}

export const enc = encodeURIComponent;

/** The trimmed value of a form's field `name` ("" when the form has none). */
export const value = (form: HTMLFormElement, name: string) =>
  ((form.elements.namedItem(name) as HTMLInputElement | null)?.value || "").trim();

/** The element with the keyboard focus, inside the widget's shadow root or outside it. */
export const focused = () => ((H.root.getRootNode() as ShadowRoot).activeElement || document.activeElement) as HTMLElement | null;
