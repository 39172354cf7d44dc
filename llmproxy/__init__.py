"""LLMProxy: a stateless protocol-translation gateway for LLM APIs."""

__version__ = "0.1.0"
