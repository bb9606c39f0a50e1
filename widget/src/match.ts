/**
 * Finding a quoted passage again in an article's text, which may have changed since the quote was
 * taken (anchor.js; bench/anchoring.py runs it on its own through `window.kibitzMatch`).
 *
 * A selector is the W3C Web Annotation text-quote selector plus a text position (DESIGN.md §3 `anchor`):
 * the passage (`exact`), up to 32 characters before and after it (`prefix`, `suffix`), where it was
 * (`start`, `end`) and a hash of the whole text it was taken from. All anchors of a page are placed
 * together, in three steps, and a doubtful place is never taken: a comment shown "on an earlier version
 * of this article" is better than one pinned to the wrong sentence.
 *
 * 1. The passage is where it was, with the same prefix and suffix around it: done. (The stored hash
 *    says whether the whole text is unchanged; locating needs no more than this, and hashing a long
 *    article at every page load would cost more than the check.)
 * 2. The passage occurs as it was: where its context (prefix and suffix) agrees best, if it agrees
 *    enough (CONTEXT) — even a single long occurrence, which may be the other copy of a repeated
 *    sentence whose own copy was edited away; equal contexts are told apart by the position.
 * 3. Otherwise an approximate search (Myers' bit-parallel edit distance, in blocks of 32 characters)
 *    near where the passage should be now: its old position moved by the shift of the nearest anchor
 *    found unchanged (first just after the stored prefix and before the suffix, then around exact hits
 *    of the quote's k + 1 pieces, one of which an occurrence with k errors must keep). At most one edit per five characters of the quote (ERRORS), for quotes of 12
 *    characters or more, and the context must agree too (CONTEXT).
 *
 * Why these bounds: a reader's correction of a passage ("lightly edited": a word replaced, a typo
 * fixed, a number updated) changes well under a fifth of its characters, while two unrelated English
 * sentences are about half their length apart in edit distance, so 20 % errors finds edited passages
 * and stays far from chance. The context check is what keeps a near-copy elsewhere (the same sentence
 * repeated, a pull quote) from taking an anchor: unrelated context is about 0.4–0.5 similar by
 * chance, a context with a word changed 0.75 or more, hence 0.6.
 */

export interface Selector {
  exact: string;
  prefix?: string;
  suffix?: string;
  start?: number | null;
  end?: number | null;
  hash?: string | null;
}

export interface Place {
  start: number;
  end: number;
}

export const ERRORS = 0.2; // edits allowed per character of the quote, in the approximate search
export const SHORT = 12; // quotes shorter than this are found exactly or not at all
export const CONTEXT = 0.6; // how alike the context must be (0–1) wherever context decides
const WINDOW = 600; // the approximate search looks this far (characters) either side of where expected
const MAX_HITS = 100;

/** FNV-1a (32 bits) of the text, as 8 hex digits: "has the article changed?", not a secret. */
export function hash(text: string): string {
  let x = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) x = Math.imul(x ^ text.charCodeAt(i), 0x01000193);
  return (x >>> 0).toString(16).padStart(8, "0");
}

/** Levenshtein distance (two rows, reused). */
let rows = new Int32Array(0);
function lev(a: string, b: string): number {
  const n = b.length;
  if (rows.length < 2 * (n + 1)) rows = new Int32Array(2 * (n + 1));
  let row = 0;
  let next = n + 1;
  for (let j = 0; j <= n; j++) rows[j] = j;
  for (let i = 1; i <= a.length; i++) {
    rows[next] = i;
    const c = a.charCodeAt(i - 1);
    for (let j = 1; j <= n; j++) {
      const sub = rows[row + j - 1]! + (c == b.charCodeAt(j - 1) ? 0 : 1);
      rows[next + j] = Math.min(rows[row + j]! + 1, rows[next + j - 1]! + 1, sub);
    }
    [row, next] = [next, row];
  }
  return rows[row + n]!;
}

/** 1 when `got` is `want`, down to 0 the more edits it takes (the usual case, unchanged, costs nothing). */
const alike = (want: string, got: string) => (want == got ? 1 : want.length ? 1 - lev(want, got) / want.length : 1);

/** How alike (0–1) the text around [s, e) is to the selector's prefix and suffix. */
function context(text: string, s: number, e: number, sel: Selector): number {
  const p = sel.prefix || "";
  const q = sel.suffix || "";
  // An empty prefix or suffix means the passage began or ended the text.
  const before = p ? alike(p, text.slice(Math.max(0, s - p.length), s)) : s == 0 ? 1 : 0.5;
  const after = q ? alike(q, text.slice(e, e + q.length)) : e == text.length ? 1 : 0.5;
  return (before + after) / 2;
}

/**
 * Approximate occurrences of `p` in text[from, to): [end, errors] of each best end within a quote's
 * length, errors ≤ k. With `anchored`, occurrences must begin at `from` (used backwards to find a start).
 */
function approx(p: string, text: string, from: number, to: number, k: number, anchored = false): [number, number][] {
  const m = p.length;
  const W = (m + 31) >> 5;
  const peq = new Map<number, Int32Array>();
  for (let i = 0; i < m; i++) {
    const c = p.charCodeAt(i);
    let v = peq.get(c);
    if (!v) peq.set(c, (v = new Int32Array(W)));
    v[i >> 5]! |= 1 << (i & 31);
  }
  const none = new Int32Array(W);
  const P = new Int32Array(W).fill(-1);
  const M = new Int32Array(W);
  const top = 1 << ((m - 1) & 31);
  let score = m;
  const out: [number, number][] = [];
  for (let j = from; j < to; j++) {
    const eq = peq.get(text.charCodeAt(j)) || none;
    let hin = anchored ? 1 : 0; // the top row: 0 everywhere (search), or j (anchored at `from`)
    for (let b = 0; b < W; b++) {
      let Eq = eq[b]!;
      const Pv = P[b]!;
      const Mv = M[b]!;
      const Xv = Eq | Mv;
      if (hin < 0) Eq |= 1;
      const Xh = ((((Eq & Pv) + Pv) | 0) ^ Pv) | Eq;
      let Ph = Mv | ~(Xh | Pv);
      let Mh = Pv & Xh;
      const high = b == W - 1 ? top : 1 << 31;
      const hout = Ph & high ? 1 : Mh & high ? -1 : 0;
      Ph <<= 1;
      Mh <<= 1;
      if (hin < 0) Mh |= 1;
      else if (hin > 0) Ph |= 1;
      P[b] = Mh | ~(Xv | Ph);
      M[b] = Ph & Xv;
      hin = hout;
    }
    score += hin;
    if (score > k) continue;
    const last = out[out.length - 1];
    // Ends close together are one occurrence: keep its best (the first of equals).
    if (last && j + 1 - last[0] < m / 2) {
      if (score < last[1]) out[out.length - 1] = [j + 1, score];
    } else out.push([j + 1, score]);
  }
  return out;
}

const reverse = (s: string) => s.split("").reverse().join("");

/** Where an approximate occurrence ending at `end` with `errors` begins. */
function startOf(exact: string, text: string, end: number, errors: number): number {
  const from = Math.max(0, end - exact.length - errors);
  const back = reverse(text.slice(from, end));
  const hits = approx(reverse(exact), back, 0, back.length, errors, true);
  let best: [number, number] | undefined;
  for (const hit of hits) if (!best || hit[1] < best[1]) best = hit;
  return best ? end - best[0] : end - exact.length;
}

interface Candidate extends Place {
  score: number; // context agreement, 0–1
  errors: number;
}

/** The one candidate to take, or null when none is sure enough (see the top of this file). */
function choose(found: Candidate[], expect: number | null, m: number): Place | null {
  if (!found.length) return null;
  found.sort((a, b) => b.score - a.score || a.errors - b.errors);
  const best = found[0]!;
  if (best.score < CONTEXT) return null;
  const rivals = found.filter((c) => best.score - c.score < 0.05 && c.errors == best.errors);
  if (rivals.length == 1) return best;
  // As alike as each other: the one nearest to where the passage should be, if that is clear.
  if (expect == null) return null;
  rivals.sort((a, b) => Math.abs(a.start - expect) - Math.abs(b.start - expect));
  const [a, b] = rivals as [Candidate, Candidate];
  return Math.abs(b.start - expect) - Math.abs(a.start - expect) > m / 2 ? a : null;
}

function exactly(text: string, sel: Selector, expect: number | null): Place | null | undefined {
  const found: Candidate[] = [];
  const m = sel.exact.length;
  for (let i = text.indexOf(sel.exact); i >= 0 && found.length < MAX_HITS; i = text.indexOf(sel.exact, i + 1)) {
    found.push({ start: i, end: i + m, score: context(text, i, i + m, sel), errors: 0 });
  }
  // Not there as it was: perhaps edited (undefined), unless there it is but in doubt (null).
  return found.length ? choose(found, expect, m) : undefined;
}

function fuzzily(text: string, sel: Selector, expect: number | null): Place | null {
  const m = sel.exact.length;
  if (m < SHORT) return null;
  const k = Math.floor(m * ERRORS);
  const from = expect == null ? 0 : Math.max(0, expect - WINDOW - k);
  const to = expect == null ? text.length : Math.min(text.length, expect + m + WINDOW + k);
  // First just where the stored context still is (cheap), then the whole window.
  const near: number[] = [];
  const p = (sel.prefix || "").slice(-16);
  const q = (sel.suffix || "").slice(0, 16);
  for (let i = p.length < 8 ? -1 : text.indexOf(p, from); i >= 0 && i < to && near.length < 8; i = text.indexOf(p, i + 1)) {
    near.push(i + p.length);
  }
  for (let i = q.length < 8 ? -1 : text.indexOf(q, from); i >= 0 && i < to && near.length < 16; i = text.indexOf(q, i + 1)) {
    near.push(i - m);
  }
  const found: Candidate[] = [];
  for (const at of near) search(text, sel, k, Math.max(from, at - k - 16), Math.min(to, at + m + k + 16), found);
  const chosen = choose(found, expect, m);
  if (chosen) return chosen;
  found.length = 0;
  for (const [a, b] of pieces(text, sel.exact, k, from, to)) search(text, sel, k, a, b, found);
  return choose(found, expect, m);
}

/**
 * Where in text[from, to) an occurrence with at most k errors can be: split into k + 1 pieces, the
 * quote keeps at least one of them unedited (pigeonhole), so only around exact hits of a piece.
 * Pieces found too often to help: the whole range.
 */
function pieces(text: string, exact: string, k: number, from: number, to: number): [number, number][] {
  const m = exact.length;
  const len = Math.floor(m / (k + 1));
  const spans: [number, number][] = [];
  for (let i = 0; i <= k; i++) {
    const o = i * len;
    const piece = exact.slice(o, i == k ? m : o + len);
    for (let j = text.indexOf(piece, Math.max(0, from - m)); j >= 0 && j < to; j = text.indexOf(piece, j + 1)) {
      if (spans.length >= 4 * (k + 1)) return [[from, to]];
      spans.push([Math.max(from, j - o - k), Math.min(to, j - o + m + 2 * k)]);
    }
  }
  spans.sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const span of spans) {
    const last = merged[merged.length - 1];
    if (last && span[0] <= last[1]) last[1] = Math.max(last[1], span[1]);
    else merged.push(span);
  }
  return merged;
}

/** Adds the approximate occurrences of the quote in text[from, to) to `found`. */
function search(text: string, sel: Selector, k: number, from: number, to: number, found: Candidate[]): void {
  const { exact } = sel;
  for (const [e, d] of approx(exact, text, from, to, k)) {
    const s0 = startOf(exact, text, e, d);
    let start = s0;
    let end = e;
    let errors = d;
    // The fewest errors may fall short of an edited passage's real ends ("…open in ear|ly summer"):
    // where the stored context begins nearby, the passage ends there, and must still be close enough.
    const q = (sel.suffix || "").slice(0, 8);
    const p = (sel.prefix || "").slice(-8);
    const after = q.length < 4 ? -1 : text.indexOf(q, end - k - 8);
    if (after >= 0 && after != end && after <= end + k + 16) end = after;
    const before = p.length < 4 ? -1 : text.lastIndexOf(p, start + k + 8 - p.length);
    if (before >= 0 && before + p.length != start && before + p.length >= start - k - 16) start = before + p.length;
    if (end != e || start != s0) errors = lev(exact, text.slice(start, end));
    if (errors <= k && end > start && !found.some((c) => c.start == start && c.end == end)) {
      found.push({ start, end, errors, score: context(text, start, end, sel) });
    }
  }
}

/** Where each selector's passage is in `text` now, or null (an earlier version's passage). */
export function locate(text: string, sels: Selector[]): (Place | null)[] {
  const out: (Place | null | undefined)[] = sels.map((sel) => {
    const { exact, start } = sel;
    if (!exact) return null;
    // Still where it was, with the same text around it: nothing to look for (and no need to hash the
    // whole text to know, which costs more than this on a long article).
    const p = sel.prefix || "";
    const end = start == null ? 0 : start + exact.length;
    if (start != null && start >= p.length && text.startsWith(exact, start) && text.startsWith(p, start - p.length)) {
      if (text.startsWith(sel.suffix || "", end)) return { start, end };
    }
    // Doubtful (null) is decided again below, once the shifts are known.
    return exactly(text, sel, null) || undefined;
  });
  // How far the text moved around each passage found unchanged, by old position.
  const shifts: [number, number][] = [];
  sels.forEach((sel, i) => {
    const at = out[i];
    if (at && sel.start != null) shifts.push([sel.start, at.start - sel.start]);
  });
  shifts.sort((a, b) => a[0] - b[0]);
  const expected = (old: number | null | undefined): number | null => {
    if (old == null || !shifts.length) return null; // then the whole text is searched
    let lo = 0;
    let hi = shifts.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (shifts[mid]![0] < old) lo = mid + 1;
      else hi = mid;
    }
    const near = [shifts[lo - 1], shifts[lo]].filter(Boolean) as [number, number][];
    near.sort((a, b) => Math.abs(a[0] - old) - Math.abs(b[0] - old));
    return old + near[0]![1];
  };
  return sels.map((sel, i) => {
    const at = out[i];
    if (at !== undefined) return at;
    const expect = expected(sel.start);
    // Present as it was but in doubt: an edited copy near where it belongs may still be the one.
    return exactly(text, sel, expect) || fuzzily(text, sel, expect);
  });
}
