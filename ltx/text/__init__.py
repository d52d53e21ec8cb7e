"""Text conditioning: Gemma-3 + the checkpoint's feature extractor and connectors (LTX-2), T5 (LTX-Video),
sentencepiece tokenisation and the prompt-embeddings cache."""

from ltx.text.encoder import TextEncoder, load_prompt_embeddings, save_prompt_embeddings
from ltx.text.gemma import Gemma
from ltx.text.processor import PromptEmbeddings, TextProcessor, load_text_processor, text_config
from ltx.text.t5 import T5
from ltx.text.tokenizer import SentencePieceTokenizer

__all__ = [
    "Gemma",
    "PromptEmbeddings",
    "SentencePieceTokenizer",
    "T5",
    "TextEncoder",
    "TextProcessor",
    "load_prompt_embeddings",
    "load_text_processor",
    "save_prompt_embeddings",
    "text_config",
]
