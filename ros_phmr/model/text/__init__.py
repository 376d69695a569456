"""CLIP text tower (OpenCLIP layout) and tokenizer for PromptHMR text prompts."""
from ros_phmr.model.text.clip_text import ClipTextDims, ClipTextTransformer, QuickGELU
from ros_phmr.model.text.text_encoder import CachedTextEncoder
from ros_phmr.model.text.tokenizer import CONTEXT_LENGTH, ClipTokenizer

__all__ = ["CachedTextEncoder", "ClipTextDims", "ClipTextTransformer", "ClipTokenizer", "CONTEXT_LENGTH", "QuickGELU"]
