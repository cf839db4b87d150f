// Parses YAML (and JSON, which is YAML) keeping a map back to source lines,
// so every error can name the line of the node it is about.
import { LineCounter, isAlias, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import type { Issue, PathSegments } from './errors.js';

export type ParsedSource =
  | { ok: true; data: unknown; lineOf: (issue: Issue) => number | undefined }
  | { ok: false; issues: Issue[] };

export function parseSource(text: string): ParsedSource {
  const lineCounter = new LineCounter();
  // prettyErrors: false keeps messages to one line; we add the line ourselves.
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineAt = (offset: number | undefined) => (offset === undefined ? undefined : lineCounter.linePos(offset).line);
  if (doc.errors.length > 0) {
    return { ok: false, issues: doc.errors.map((e) => ({ at: [], message: e.message, line: lineAt(e.pos[0]) })) };
  }
  let data: unknown;
  try {
    data = doc.toJS();
  } catch (e) {
    // An unresolved alias or an alias bomb over maxAliasCount; point at the first dangling alias if any.
    let offset: number | undefined;
    visit(doc, {
      Alias(_, node) {
        if (node.resolve(doc) !== undefined) return undefined;
        offset = startOf(node);
        return visit.BREAK;
      },
    });
    return { ok: false, issues: [{ at: [], message: (e as Error).message, line: lineAt(offset) }] };
  }
  return {
    ok: true,
    data: data ?? null,
    lineOf: (issue) => issue.line ?? lineAt(locate(doc, issue.at, issue.atKey === true)),
  };
}

function startOf(node: unknown): number | undefined {
  const range = (node as Node | null | undefined)?.range;
  return range ? range[0] : undefined;
}

/** Offset of the node at `path` (or of its key); the deepest existing ancestor when the path runs out. */
function locate(doc: Document, path: PathSegments, atKey: boolean): number | undefined {
  let node: unknown = doc.contents;
  let best = startOf(node) ?? 0;
  for (let i = 0; i < path.length; i++) {
    if (isAlias(node)) node = node.resolve(doc);
    const seg = path[i];
    if (isMap(node)) {
      const pair = node.items.find((p) => String(isScalar(p.key) ? p.key.value : p.key) === String(seg));
      if (!pair) return best;
      const keyPos = startOf(pair.key);
      if (i === path.length - 1 && atKey) return keyPos ?? best;
      node = pair.value;
      // An empty value (`admin:`) has no useful range: fall back to its key.
      best = startOf(node) ?? keyPos ?? best;
    } else if (isSeq(node) && typeof seg === 'number') {
      node = node.items[seg];
      best = startOf(node) ?? best;
    } else {
      return best;
    }
  }
  return best;
}
