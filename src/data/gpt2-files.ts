/**
 * gpt2-files.ts — the GPT-2 tokenizer files (vocab.json, merges.txt) rebuilt from the ranks that
 * js-tiktoken ships, so a checkpoint saved from a preset carries a tokenizer transformers can load,
 * with nothing downloaded. vocab.json maps byte-level BPE strings (GPT-2's bytes_to_unicode) to
 * ids; merges.txt lists, for each merged token in rank order, the two tokens BPE joins to make it
 * (found by running BPE on the token's bytes with only the lower ranks). A test checks the result
 * is byte-identical to the files transformers wrote for tiny-gpt2.
 */
import gpt2Ranks from 'js-tiktoken/ranks/gpt2';

/** GPT-2's reversible map from bytes to printable unicode characters (openai/gpt-2 encoder.py). */
export function bytesToUnicode(): string[] {
  const bs: number[] = [];
  for (let b = '!'.charCodeAt(0); b <= '~'.charCodeAt(0); b++) bs.push(b);
  for (let b = '¡'.charCodeAt(0); b <= '¬'.charCodeAt(0); b++) bs.push(b);
  for (let b = '®'.charCodeAt(0); b <= 'ÿ'.charCodeAt(0); b++) bs.push(b);
  const cs = [...bs];
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const out = new Array<string>(256);
  bs.forEach((b, i) => (out[b] = String.fromCharCode(cs[i] as number)));
  return out;
}

let cached: { vocabJson: string; mergesTxt: string } | undefined;

export function gpt2TokenizerFiles(): { vocabJson: string; mergesTxt: string } {
  if (cached) return cached;
  const ranks = new Map<string, number>(); // token bytes as a latin1 string -> rank
  const byRank: string[] = [];
  for (const line of (gpt2Ranks as { bpe_ranks: string }).bpe_ranks.split('\n')) {
    if (!line) continue;
    const [, offsetStr, ...tokens] = line.split(' ');
    const offset = Number.parseInt(offsetStr as string, 10);
    tokens.forEach((t, i) => {
      const bytes = Buffer.from(t, 'base64').toString('latin1');
      ranks.set(bytes, offset + i);
      byRank[offset + i] = bytes;
    });
  }
  const u = bytesToUnicode();
  const show = (bytes: string) => Array.from(bytes, (c) => u[c.charCodeAt(0)]).join('');
  const vocab: Record<string, number> = {};
  byRank.forEach((bytes, rank) => (vocab[show(bytes)] = rank));
  vocab['<|endoftext|>'] = 50256;

  const merges: string[] = [];
  for (let rank = 0; rank < byRank.length; rank++) {
    const token = byRank[rank] as string;
    if (token.length < 2) continue;
    // BPE on the token's bytes with the merges learnt before it: it must end in exactly two parts.
    let parts = Array.from(token);
    while (parts.length > 2) {
      let best = -1;
      let bestRank = Infinity;
      for (let i = 0; i < parts.length - 1; i++) {
        const r = ranks.get((parts[i] as string) + (parts[i + 1] as string));
        if (r !== undefined && r < rank && r < bestRank) {
          bestRank = r;
          best = i;
        }
      }
      if (best < 0) break;
      parts = [...parts.slice(0, best), (parts[best] as string) + (parts[best + 1] as string), ...parts.slice(best + 2)];
    }
    if (parts.length !== 2) throw new Error(`cannot rebuild the merge for GPT-2 token ${rank}`);
    merges.push(`${show(parts[0] as string)} ${show(parts[1] as string)}`);
  }
  cached = { vocabJson: JSON.stringify(vocab), mergesTxt: `#version: 0.2\n${merges.join('\n')}\n` };
  return cached;
}

/** tokenizer_config.json and special_tokens_map.json as transformers writes them for GPT-2. */
export function gpt2TokenizerConfigs(maxLength: number): Record<string, string> {
  const eos = '<|endoftext|>';
  return {
    'tokenizer_config.json': `${JSON.stringify({ add_prefix_space: false, bos_token: eos, eos_token: eos, unk_token: eos, pad_token: eos, model_max_length: maxLength, tokenizer_class: 'GPT2Tokenizer' }, null, 2)}\n`,
    'special_tokens_map.json': `${JSON.stringify({ bos_token: eos, eos_token: eos, unk_token: eos, pad_token: eos }, null, 2)}\n`,
  };
}
