"""OpenAI Chat Completions wire types (the surface ``claude2chat`` presents), shared by routes.

Output structs follow what openai-python parses (``types/chat/chat_completion.py`` and
``chat_completion_chunk.py``): fields the SDK always finds (``content``, ``refusal``,
``finish_reason``, ``logprobs``) are always written, ``null`` included; optional fields are
omitted when absent (``omit_defaults``).

Two fields are not OpenAI's but the de facto extension of OpenAI-compatible servers for models
that think (LiteLLM, DeepSeek; read by the OpenAI Agents SDK and LangChain's provider classes):

* ``reasoning_content``: the thinking text, on the message and in deltas;
* ``thinking_blocks``: the thinking blocks a client must send back, in order, on the assistant
  message (``[{"type": "thinking", "thinking", "signature"} | {"type": "redacted_thinking",
  "data"}]``). In a stream each entry carries ``index`` (the block's position), so openai-python's
  ``accumulate_delta`` merges the text fragments of one block and the ``signature`` that closes
  it, exactly as the Agents SDK's stream handler folds them.
"""

from __future__ import annotations

from typing import Literal

import msgspec

__all__ = [
    "ChatCompletion",
    "Choice",
    "Chunk",
    "ChunkChoice",
    "CompletionTokensDetails",
    "Delta",
    "FinishReason",
    "FunctionCall",
    "FunctionDelta",
    "Message",
    "PromptTokensDetails",
    "RedactedThinkingBlock",
    "ThinkingBlock",
    "ThinkingEntry",
    "ToolCall",
    "ToolCallDelta",
    "Usage",
]

FinishReason = Literal["stop", "length", "tool_calls", "content_filter"]


class _Thinking(msgspec.Struct, tag_field="type", omit_defaults=True, gc=False):
    pass


class ThinkingBlock(_Thinking, tag="thinking"):
    thinking: str
    signature: str | None = None
    #: Stream deltas only: which thinking block of the message the fragment belongs to.
    index: int | None = None


class RedactedThinkingBlock(_Thinking, tag="redacted_thinking"):
    data: str
    index: int | None = None


ThinkingEntry = ThinkingBlock | RedactedThinkingBlock


class FunctionCall(msgspec.Struct, gc=False):
    name: str
    arguments: str


class ToolCall(msgspec.Struct, gc=False):
    id: str
    function: FunctionCall
    type: str = "function"


class Message(msgspec.Struct, omit_defaults=True, gc=False):
    role: str
    content: str | None
    refusal: str | None
    tool_calls: list[ToolCall] | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[ThinkingEntry] | None = None


class Choice(msgspec.Struct, gc=False):
    index: int
    message: Message
    finish_reason: FinishReason
    logprobs: None = None


class PromptTokensDetails(msgspec.Struct, gc=False):
    cached_tokens: int
    #: Not OpenAI's (it has no cache writes); Anthropic bills them apart.
    cache_write_tokens: int


class CompletionTokensDetails(msgspec.Struct, gc=False):
    reasoning_tokens: int


class Usage(msgspec.Struct, gc=False):
    """``prompt_tokens`` counts cache reads and writes; ``reasoning_tokens`` are part of
    ``completion_tokens``."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    prompt_tokens_details: PromptTokensDetails
    completion_tokens_details: CompletionTokensDetails


class ChatCompletion(msgspec.Struct, gc=False):
    id: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None
    object: str = "chat.completion"


# -- streaming -------------------------------------------------------------------------------


class FunctionDelta(msgspec.Struct, omit_defaults=True, gc=False):
    name: str | None = None
    arguments: str | None = None


class ToolCallDelta(msgspec.Struct, omit_defaults=True, gc=False):
    """The first delta of a call carries ``id``, ``type`` and ``function.name`` (with
    ``arguments: ""``); later ones only ``index`` and argument fragments."""

    index: int
    id: str | None = None
    type: str | None = None
    function: FunctionDelta | None = None


class Delta(msgspec.Struct, omit_defaults=True, gc=False):
    role: str | None = None
    content: str | None = None
    refusal: str | None = None
    reasoning_content: str | None = None
    thinking_blocks: list[ThinkingEntry] | None = None
    tool_calls: list[ToolCallDelta] | None = None


class ChunkChoice(msgspec.Struct, gc=False):
    index: int
    delta: Delta
    finish_reason: FinishReason | None = None
    logprobs: None = None


class Chunk(msgspec.Struct, omit_defaults=True, gc=False):
    """``choices`` is empty in the final usage chunk (``stream_options.include_usage``)."""

    id: str
    object: str  # "chat.completion.chunk" (omit_defaults would drop a default)
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None = None
