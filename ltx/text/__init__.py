"""Text conditioning: Gemma-3 (a folder, LTX-2.0 / 2.3) or Gemma-4 (LTX-2.5's with-proj file) + the feature
extractor and connectors (LTX-2), T5 (LTX-Video), tokenisation and the prompt-embeddings cache."""

from ltx.text.encoder import TextEncoder, check_gemma_version, load_prompt_embeddings, save_prompt_embeddings
from ltx.text.gemma import Gemma
from ltx.text.gemma4 import Gemma4
from ltx.text.processor import PromptEmbeddings, TextProcessor, load_text_processor, text_config
from ltx.text.t5 import T5
from ltx.text.tokenizer import JsonTokenizer, SentencePieceTokenizer

__all__ = [
    "Gemma",
    "Gemma4",
    "JsonTokenizer",
    "PromptEmbeddings",
    "SentencePieceTokenizer",
    "T5",
    "TextEncoder",
    "TextProcessor",
    "check_gemma_version",
    "load_prompt_embeddings",
    "load_text_processor",
    "save_prompt_embeddings",
    "text_config",
]
