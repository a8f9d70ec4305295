/// The Python side of the parity tests: builds the Hugging Face `tokenizers` reference from the same
/// vocabulary our Swift code loads, and reports its ids and decodings. Run with the packages that
/// `make setup` installs into .deps/py (tokenizers 0.23.3, gguf).
enum ReferenceScript {
    static let source = #"""
import sys, json
import gguf
from tokenizers import Tokenizer, AddedToken, Regex, models, trainers
from tokenizers import pre_tokenizers as pt, decoders as dec, normalizers as nm, processors as pp

LLAMA3 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
QWEN2 = r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"
LLAMA3_PRE = ("llama3", "llama-v3", "llama-bpe", "falcon3", "pixtral")

def reader(path):
    r = gguf.GGUFReader(path)
    def get(key, default=None):
        f = r.fields.get(key)
        return default if f is None else f.contents()
    return get

def generate_merges(vocab, vocab_scores, skip_tokens):
    # transformers' convert_slow_tokenizer.generate_merges (SentencePiece BPE -> HF merges).
    skip_tokens = set(skip_tokens)
    vocab_scores = dict(vocab_scores)
    merges = []
    for merge, piece_score in vocab_scores.items():
        if merge in skip_tokens:
            continue
        local = []
        for index in range(1, len(merge)):
            piece_l, piece_r = merge[:index], merge[index:]
            if piece_l in skip_tokens or piece_r in skip_tokens:
                continue
            if piece_l in vocab and piece_r in vocab:
                local.append((piece_l, piece_r, piece_score))
        local = sorted(local, key=lambda x: (vocab[x[0]], vocab[x[1]]))
        merges.extend(local)
    merges = sorted(merges, key=lambda val: (val[2], len(val[0]), len(val[1])), reverse=True)
    return [(val[0], val[1]) for val in merges]

def split(pattern):
    return pt.Sequence([pt.Split(Regex(pattern), behavior="isolated", invert=False),
                        pt.ByteLevel(add_prefix_space=False, use_regex=False)])

def from_gguf(path):
    get = reader(path)
    tokens = get("tokenizer.ggml.tokens")
    types = get("tokenizer.ggml.token_type") or [1] * len(tokens)
    model = get("tokenizer.ggml.model")
    vocab = {t: i for i, t in enumerate(tokens)}
    default_bos = False
    if model == "gpt2":
        pre = get("tokenizer.ggml.pre", "default")
        merges = [tuple(m.split(" ", 1)) for m in get("tokenizer.ggml.merges")]
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, byte_fallback=False, ignore_merges=pre in LLAMA3_PRE))
        if pre == "smollm":
            tok.pre_tokenizer = pt.Sequence([pt.Digits(individual_digits=True), pt.ByteLevel(add_prefix_space=False, use_regex=True)])
        elif pre == "qwen2":
            tok.pre_tokenizer = split(QWEN2)
        elif pre in LLAMA3_PRE:
            tok.pre_tokenizer = split(LLAMA3)
            default_bos = True
        elif pre in ("default", "gpt2"):
            tok.pre_tokenizer = pt.ByteLevel(add_prefix_space=False, use_regex=True)
        else:
            raise SystemExit("reference: unhandled pre " + pre)
        tok.decoder = dec.ByteLevel()
    elif model == "llama":
        scores = get("tokenizer.ggml.scores")
        add_space = get("tokenizer.ggml.add_space_prefix", True)
        skip = [t for t, ty in zip(tokens, types) if ty in (2, 3, 4, 5)]
        merges = generate_merges(vocab, list(zip(tokens, scores)), skip)
        unk = get("tokenizer.ggml.unknown_token_id")
        tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token=None if unk is None else tokens[unk],
                                   fuse_unk=True, byte_fallback=True))
        replace = nm.Replace(" ", "\u2581")
        tok.normalizer = nm.Sequence([nm.Prepend("\u2581"), replace]) if add_space else replace
        steps = [dec.Replace("\u2581", " "), dec.ByteFallback(), dec.Fuse()]
        if add_space:
            steps.append(dec.Strip(" ", 1, 0))
        tok.decoder = dec.Sequence(steps)
        default_bos = True
    else:
        raise SystemExit("reference: unhandled model " + model)
    tok.add_special_tokens([AddedToken(tokens[i], special=True, normalized=False) for i, ty in enumerate(types) if ty in (2, 3)])
    tok.add_tokens([AddedToken(tokens[i], special=False, normalized=False) for i, ty in enumerate(types) if ty == 4])
    bos, eos = get("tokenizer.ggml.bos_token_id"), get("tokenizer.ggml.eos_token_id")
    add_bos = get("tokenizer.ggml.add_bos_token", default_bos) and bos is not None
    add_eos = get("tokenizer.ggml.add_eos_token", False) and eos is not None
    if add_bos or add_eos:
        parts, specials = [], []
        if add_bos:
            parts.append(tokens[bos]); specials.append((tokens[bos], bos))
        parts.append("$A")
        if add_eos:
            parts.append(tokens[eos]); specials.append((tokens[eos], eos))
        tok.post_processor = pp.TemplateProcessing(single=" ".join(parts), special_tokens=specials)
    return tok

def make_spm_gguf(job):
    # A SentencePiece-style vocabulary trained here: pieces ranked by score, "<0xNN>" byte tokens,
    # control and user-defined tokens, and some tied scores to exercise merge ordering.
    texts = json.load(open(job["corpus"]))
    trainer_tok = Tokenizer(models.BPE(unk_token="<unk>"))
    trainer_tok.normalizer = nm.Sequence([nm.Prepend("\u2581"), nm.Replace(" ", "\u2581")])
    trainer_tok.pre_tokenizer = pt.Metaspace(replacement="\u2581", prepend_scheme="never", split=True)
    trainer = trainers.BpeTrainer(vocab_size=job["vocab_size"], special_tokens=["<unk>"], limit_alphabet=job["alphabet"],
                                  show_progress=False)
    trainer_tok.train_from_iterator(texts, trainer)
    trained = sorted(trainer_tok.get_vocab().items(), key=lambda kv: kv[1])
    tokens, scores, types = ["<unk>", "<s>", "</s>"], [0.0, 0.0, 0.0], [2, 3, 3]
    for b in range(256):
        if b < job["byte_tokens"]:
            tokens.append("<0x%02X>" % b); scores.append(0.0); types.append(6)
    rank = 0
    for piece, _ in trained:
        if piece == "<unk>":
            continue
        tokens.append(piece)
        scores.append(-float(rank // 3) if job["tied_scores"] else -float(rank))
        types.append(1)
        rank += 1
    # Pieces spanning a "\u2581" (multi-word and space-run tokens, as real vocabularies have), ranked
    # first, so that merges cross word boundaries.
    for t in ("\u2581of\u2581the", "s\u2581", "\u2581\u2581", "\u2581\u2581\u2581\u2581", ".\u2581", "e\u2581a"):
        if t not in tokens:
            tokens.append(t); scores.append(1.0); types.append(1)
    for t, ty in (("<start_of_turn>", 3), ("<end_of_turn>", 3), ("<custom_tag>", 4)):
        tokens.append(t); scores.append(0.0); types.append(ty)
    w = gguf.GGUFWriter(job["path"], "llama")
    w.add_tokenizer_model("llama")
    w.add_token_list(tokens); w.add_token_scores(scores); w.add_token_types(types)
    w.add_unk_token_id(0); w.add_bos_token_id(1); w.add_eos_token_id(2)
    w.add_add_bos_token(True); w.add_add_space_prefix(job["add_space_prefix"])
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

def copy_gguf_tokenizer(job):
    # The tokenizer metadata of an existing file under another pre-tokenizer name (no tensors).
    get = reader(job["from"])
    w = gguf.GGUFWriter(job["path"], "llama")
    w.add_tokenizer_model("gpt2"); w.add_tokenizer_pre(job["pre"])
    w.add_token_list(get("tokenizer.ggml.tokens")); w.add_token_types(get("tokenizer.ggml.token_type"))
    w.add_token_merges(get("tokenizer.ggml.merges"))
    w.add_bos_token_id(job["bos"]); w.add_eos_token_id(job["eos"]); w.add_add_bos_token(True)
    w.write_header_to_file(); w.write_kv_data_to_file(); w.write_tensors_to_file(); w.close()

def override(tok, name):
    # Pipelines beyond what GGUF files describe, to exercise the tokenizer.json loader's other parts.
    M = "\u2581"
    if name == "metaspace-first":
        tok.normalizer = None
        tok.pre_tokenizer = pt.Metaspace(replacement=M, prepend_scheme="first", split=False)
        tok.decoder = dec.Sequence([dec.ByteFallback(), dec.Metaspace(replacement=M, prepend_scheme="first", split=False)])
    elif name == "metaspace-always-split":
        tok.normalizer = None
        tok.pre_tokenizer = pt.Metaspace(replacement=M, prepend_scheme="always", split=True)
        tok.decoder = dec.Sequence([dec.ByteFallback(), dec.Fuse(), dec.Metaspace(replacement=M, prepend_scheme="always", split=True)])
    elif name == "normalizers":
        tok.normalizer = nm.Sequence([nm.NFKC(), nm.Lowercase(), nm.Replace(Regex(r"[!?]{2,}"), "!"),
                                      nm.Replace("  ", " "), nm.Strip(left=True, right=False)])
    elif name == "nfc":
        tok.normalizer = nm.NFC()
    elif name == "split-behaviors":
        tok.pre_tokenizer = pt.Sequence([
            pt.Split(Regex(r"\d+"), behavior="merged_with_previous"),
            pt.Split(",", behavior="merged_with_next"),
            pt.Split(Regex(r"\s+"), behavior="contiguous", invert=True),
            pt.Split("ing", behavior="removed"),
            pt.Digits(individual_digits=False),
            pt.ByteLevel(add_prefix_space=True, use_regex=True)])
    elif name == "whitespace-split":
        tok.pre_tokenizer = pt.Sequence([pt.WhitespaceSplit(), pt.ByteLevel(add_prefix_space=False, use_regex=False)])
    else:
        raise SystemExit("reference: unknown pipeline " + name)

def run(job):
    if job["source"] == "gguf":
        tok = from_gguf(job["gguf"])
    else:
        tok = Tokenizer.from_file(job["json"])
    if job.get("pipeline"):
        override(tok, job["pipeline"])
    for t in job.get("extra_added", []):
        token = AddedToken(t["content"], special=t["special"], lstrip=t["lstrip"], rstrip=t["rstrip"],
                           single_word=t["single_word"], normalized=t["normalized"])
        (tok.add_special_tokens if t["special"] else tok.add_tokens)([token])
    if job.get("save"):
        tok.save(job["save"])
    strings = json.load(open(job["strings"]))
    out = {"vocab_size": tok.get_vocab_size(with_added_tokens=True)}
    out["ids"] = [e.ids for e in tok.encode_batch(strings, add_special_tokens=False)]
    out["ids_special"] = [e.ids for e in tok.encode_batch(strings, add_special_tokens=True)]
    tok.encode_special_tokens = True
    out["ids_literal"] = [e.ids for e in tok.encode_batch(strings, add_special_tokens=False)]
    tok.encode_special_tokens = False
    out["decoded"] = tok.decode_batch(out["ids"], skip_special_tokens=False)
    out["decoded_skip"] = tok.decode_batch(out["ids"], skip_special_tokens=True)
    out["random_decoded"] = tok.decode_batch(job.get("random_ids", []), skip_special_tokens=False)
    out["random_decoded_skip"] = tok.decode_batch(job.get("random_ids", []), skip_special_tokens=True)
    json.dump(out, open(job["out"], "w"))

job = json.load(open(sys.argv[1]))
{"run": run, "make_spm_gguf": make_spm_gguf, "copy_gguf_tokenizer": copy_gguf_tokenizer}[job["task"]](job)
"""#
}
