/**
 * The header's count, exact whatever order answers and live events arrive in: the server's last count
 * plus the reader's own writes (a post, a delete) that count does not include yet.
 *
 * A count from the server includes an own write when it was read after the write committed: a thread
 * read (GET) issued after the write's answer, a stream that opened after it, or a stream batch after
 * the stream's own event about that comment. Each own write is kept with the clock (`now`) of its
 * answer until a count includes it; a GET's count is dropped when a stream count arrived meanwhile
 * (the stream's may be newer). Pending comments are never counted (the server does not count them).
 */

let clock = 0;
let base = 0;
let streamAt = 0; // the clock when the last stream count arrived
// Comment id → [clock of the own post's answer, clock of the own delete's answer]; 0: none, or counted.
const own: Record<string, [number, number]> = {};
// Comment id → what the stream last showed of it: "c" (there) or "d" (deleted or hidden).
const seen: Record<string, string> = {};

/** The clock: a new value each call. */
export const now = () => ++clock;

export function total(): number {
  let n = base;
  for (const id in own) {
    const [posted, deleted] = own[id]!;
    n += (posted ? 1 : 0) - (deleted ? 1 : 0);
  }
  return Math.max(0, n);
}

/**
 * The server's count `n`, which includes every own write answered before `since`. `issued`: for a
 * thread read, when it was asked for (ignored when a stream count arrived since); none for the stream.
 * False when ignored.
 */
export function counted(n: number, since: number, issued?: number): boolean {
  if (issued === undefined) streamAt = now();
  else if (streamAt > issued) return false;
  base = n;
  for (const id in own) {
    const entry = own[id]!;
    if (entry[0] < since) entry[0] = 0;
    if (entry[1] < since) entry[1] = 0;
    if (!entry[0] && !entry[1]) delete own[id];
  }
  return true;
}

/** The stream showed comment `id` there (created, restored, edited) or, with `gone`, deleted or hidden. */
export function saw(id: string, gone: boolean): void {
  seen[id] = gone ? "d" : "c";
  const entry = own[id];
  if (!entry) return;
  // The batch's count (next) includes the post; after a deletion, the deletion too.
  entry[0] = 0;
  if (gone) delete own[id];
}

/** The reader's own post of `id` (approved) or, with `gone`, their delete of it was answered. */
export function mine(id: string, gone: boolean): void {
  if (gone ? seen[id] == "d" : seen[id]) return; // the stream was first: its count has it
  const entry = (own[id] ||= [0, 0]);
  entry[gone ? 1 : 0] = now();
}
