"""lextune: fine-tune open language models on a legal team's own documents, privately."""

__version__ = "0.1.0"
