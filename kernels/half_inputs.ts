/**
 * The mixed-precision variant of a float32 kernel, derived from its source: the named read-only operands
 * become float16 storage (`array<f16>`, `array<vec4<f16>>` for a vec4 view) and each read of them converts
 * to f32 where it loads, so products, accumulators and outputs stay f32 (f16 operands with f32
 * accumulation, as AMP's GEMMs). Deriving the variant keeps one source per kernel: tiles, edges and
 * epilogues are those of the float32 kernel, which the audit already checks.
 */

/** End of the bracket expression opened at `open` (the index of its '['). */
function closing(src: string, open: number, name: string): number {
  let depth = 0;
  for (let i = open; i < src.length; i++) {
    if (src[i] === '[') depth++;
    else if (src[i] === ']' && --depth === 0) return i;
  }
  throw new Error(`half inputs: unbalanced '[' after '${name}'`);
}

/** `source` with `names` read as f16 (binding declarations and every indexed read); `enable f16;` first. */
export function withHalfInputs(source: string, names: readonly string[], kernel: string): string {
  // Comments go first: they may show indexing that is not code.
  let src = source.replace(/\/\/[^\n]*/g, '');
  for (const name of names) {
    const decl = new RegExp(`(var<storage,\\s*read>\\s+${name}\\s*:\\s*array<)(vec4<f32>|f32)>`);
    const m = decl.exec(src);
    if (!m) throw new Error(`kernel '${kernel}': no read-only f32 binding '${name}' to read as f16`);
    const vec = m[2] === 'vec4<f32>';
    src = src.replace(decl, `$1${vec ? 'vec4<f16>' : 'f16'}>`);
    const use = new RegExp(`(?<![\\w.])${name}\\s*\\[`, 'g');
    let out = '';
    let at = 0;
    for (let u = use.exec(src); u; u = use.exec(src)) {
      const open = u.index + u[0].length - 1;
      const end = closing(src, open, name);
      out += `${src.slice(at, u.index)}${vec ? 'vec4<f32>' : 'f32'}(${src.slice(u.index, end + 1)})`;
      at = end + 1;
      use.lastIndex = end + 1;
    }
    src = out + src.slice(at);
  }
  return `enable f16;\n${src}`;
}
