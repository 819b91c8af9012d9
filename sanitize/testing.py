"""Tiny models built in memory for tests and dry runs: no download, no package data.

`tiny_tokenizer()` is a byte-level tokenizer (256 byte tokens + ChatML specials) with the
ChatML chat template and pad = eos = <|im_end|>, like the embedded SmolLM2.
`tiny_lm()` is a randomly initialised 2-layer Llama over it.
"""
from __future__ import annotations

from .encoding import CHATML_TEMPLATE
from .models import LoadedLM

SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]


def tiny_tokenizer():
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    # alphabet() comes from a Rust HashSet, in a different order on every call: sort it, or
    # token ids (and so every tiny-model result) change from one tiny_tokenizer() to the next.
    byte_vocab = {ch: i for i, ch in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    tok = Tokenizer(models.BPE(vocab=byte_vocab, merges=[]))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.add_special_tokens(SPECIALS)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<|endoftext|>",
                                   eos_token="<|im_end|>", pad_token="<|im_end|>",
                                   unk_token="<|endoftext|>")
    fast.chat_template = CHATML_TEMPLATE
    return fast


def tiny_lm(seed: int = 0, hidden: int = 64, layers: int = 2) -> LoadedLM:
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = tiny_tokenizer()
    torch.manual_seed(seed)
    config = LlamaConfig(vocab_size=len(tok), hidden_size=hidden, intermediate_size=hidden * 2,
                         num_hidden_layers=layers, num_attention_heads=4, num_key_value_heads=4,
                         max_position_embeddings=1024, tie_word_embeddings=True,
                         bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                         pad_token_id=tok.pad_token_id)
    model = LlamaForCausalLM(config).eval()
    return LoadedLM(model, tok, "tiny-random-llama", "memory")
