/** Relative times ("2 years ago") with the exact date for the tooltip, in the reader's language. */

import { lang } from "./i18n";

const STEPS: [Intl.RelativeTimeFormatUnit, number][] = [
  ["year", 31536e3],
  ["month", 2592e3],
  ["week", 604800],
  ["day", 86400],
  ["hour", 3600],
  ["minute", 60],
];
const relative: Record<string, Intl.RelativeTimeFormat> = {};
let dates: Intl.DateTimeFormat | undefined;
let waiting: [HTMLElement, string][] = [];

export function ago(iso: string): string {
  const secs = (Date.now() - Date.parse(iso)) / 1e3;
  for (const [unit, size] of STEPS) {
    if (secs >= size) return (relative.a ||= new Intl.RelativeTimeFormat(lang)).format(-Math.floor(secs / size), unit);
  }
  return (relative.n ||= new Intl.RelativeTimeFormat(lang, { numeric: "auto" })).format(0, "second");
}

/**
 * `el` with the exact date of `iso` as its tooltip. The first date formatter costs ~15 ms (calendar
 * and time zone data), so it is made once the first comments are on screen, which get theirs then.
 */
export function dated<E extends HTMLElement>(el: E, iso: string): E {
  if (dates) el.title = dates.format(new Date(iso));
  else if (waiting.push([el, iso]) == 1) {
    requestAnimationFrame(() =>
      setTimeout(() => {
        dates = new Intl.DateTimeFormat(lang, { dateStyle: "long", timeStyle: "short" });
        for (const [e, when] of waiting) dated(e, when);
        waiting = [];
      }),
    );
  }
  return el;
}
