// Sums a V8 heap snapshot's objects: the size of what is reachable on the heap, exactly, where
// `heapUsed` after forced GCs moves by a few hundred KB from one reading to the next, and without
// the compiled code, which moves as V8 compiles and flushes.
import { readFile } from 'node:fs/promises';

/** What a heap snapshot holds, by kind of node. */
export interface HeapCensus {
  /** Self sizes of the app's data: every node but `code` and `native` ones, bytes. */
  data: number;
  /**
   * Self sizes of the `code` nodes: bytecode, compiled code and their metadata, which grow and
   * shrink with what V8 compiles and flushes, bytes.
   */
  code: number;
  /** Self sizes of the `native` nodes (ArrayBuffer backing stores …: off the heap), bytes. */
  native: number;
  nodes: number;
}

/**
 * Reads a `.heapsnapshot` file and sums its nodes' self sizes by kind. Scans the `nodes` array as
 * bytes (a JSON.parse of the file would take the bench process hundreds of MB).
 */
export async function heapCensus(file: string): Promise<HeapCensus> {
  const buffer = await readFile(file);
  const key = buffer.indexOf('"nodes":[');
  if (key < 0) throw new Error(`${file}: no nodes in the heap snapshot`);
  const head = buffer.subarray(0, key).toString('utf8');
  // `{"snapshot":{…},` up to the nodes: the meta object tells the fields of a node.
  const meta = JSON.parse(`${head.slice(0, head.lastIndexOf(',')).trimEnd()}}`) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  };
  const fields = meta.snapshot.meta.node_fields;
  const width = fields.length;
  const typeField = fields.indexOf('type');
  const sizeField = fields.indexOf('self_size');
  const types = meta.snapshot.meta.node_types[0];
  const native = types.indexOf('native');
  const code = types.indexOf('code');
  const census: HeapCensus = { data: 0, code: 0, native: 0, nodes: 0 };
  let field = 0;
  let value = 0;
  let digits = false;
  let type = -1;
  for (let i = key + '"nodes":['.length; i < buffer.length; i++) {
    const c = buffer[i];
    if (c >= 0x30 && c <= 0x39) {
      value = value * 10 + (c - 0x30);
      digits = true;
      continue;
    }
    if (digits) {
      if (field === typeField) type = value;
      else if (field === sizeField) {
        if (type === native) census.native += value;
        else if (type === code) census.code += value;
        else census.data += value;
        census.nodes += 1;
      }
      field = (field + 1) % width;
      value = 0;
      digits = false;
    }
    if (c === 0x5d) break; // the array's `]`
  }
  return census;
}
