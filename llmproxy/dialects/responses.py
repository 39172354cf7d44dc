"""OpenAI Responses wire types (the surface ``claude2codex`` presents), shared by routes.

Output structs are strict and complete: strongly typed clients reject objects that lack fields
their SDK marks required, so every item and event carries all of them. Fields that are omitted
when absent (``namespace``, ``encrypted_content``) are the only ones with defaults, and the
structs use ``omit_defaults``. Request-echo fields of ``Response`` are ``msgspec.Raw``: the
client's own bytes, returned untouched.

Event catalogue and order: protocol reference §3 (openai-python ``types/responses``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import msgspec

ItemStatus = Literal["in_progress", "completed", "incomplete"]


class _Out(msgspec.Struct, omit_defaults=True, tag_field="type", gc=False):
    pass


# -- content parts and items -------------------------------------------------------------------


class UrlCitation(_Out, tag="url_citation"):
    """A web source cited by a span of an ``output_text`` part (``start_index`` inclusive,
    ``end_index`` exclusive, in characters of that part's text)."""

    url: str
    title: str
    start_index: int
    end_index: int


class OutputText(_Out, tag="output_text"):
    text: str
    annotations: list[Any]
    logprobs: list[Any]


class Refusal(_Out, tag="refusal"):
    refusal: str


class SummaryText(_Out, tag="summary_text"):
    text: str


class MessageItem(_Out, tag="message"):
    id: str
    status: ItemStatus
    role: str
    content: list[OutputText | Refusal]


class ReasoningItem(_Out, tag="reasoning"):
    id: str
    summary: list[SummaryText]
    status: ItemStatus | None = None
    encrypted_content: str | None = None


class FunctionCallItem(_Out, tag="function_call"):
    id: str
    call_id: str
    name: str
    arguments: str
    status: ItemStatus
    namespace: str | None = None


class CustomToolCallItem(_Out, tag="custom_tool_call"):
    id: str
    call_id: str
    name: str
    input: str
    status: ItemStatus
    namespace: str | None = None


class WebSearchSource(msgspec.Struct, tag_field="type", tag="url", gc=False):
    url: str


class WebSearchAction(msgspec.Struct, tag_field="type", tag="search", omit_defaults=True, gc=False):
    """``action`` of a ``web_search_call``: the search that ran (``sources`` only when the client
    asked for ``include: ["web_search_call.action.sources"]``)."""

    query: str
    sources: list[WebSearchSource] | None = None


class WebSearchCallItem(_Out, tag="web_search_call"):
    id: str
    #: ``in_progress``, ``searching``, ``completed`` or ``failed``.
    status: str
    action: WebSearchAction


class ToolSearchCallItem(_Out, tag="tool_search_call"):
    """A client-executed tool search (Codex's ``tool_search`` with ``execution: "client"``)."""

    id: str
    call_id: str
    execution: str
    arguments: dict[str, Any]
    status: ItemStatus


class LocalShellAction(msgspec.Struct, tag_field="type", tag="exec", omit_defaults=True, gc=False):
    command: list[str]
    env: dict[str, str]
    timeout_ms: int | None = None
    working_directory: str | None = None
    user: str | None = None


class LocalShellCallItem(_Out, tag="local_shell_call"):
    id: str
    call_id: str
    status: ItemStatus
    action: LocalShellAction


OutputItem = (
    MessageItem
    | ReasoningItem
    | FunctionCallItem
    | CustomToolCallItem
    | WebSearchCallItem
    | ToolSearchCallItem
    | LocalShellCallItem
)


# -- the Response object ---------------------------------------------------------------------------


class InputTokensDetails(msgspec.Struct, gc=False):
    cached_tokens: int
    cache_write_tokens: int


class OutputTokensDetails(msgspec.Struct, gc=False):
    reasoning_tokens: int


class ResponseUsage(msgspec.Struct, gc=False):
    input_tokens: int
    input_tokens_details: InputTokensDetails
    output_tokens: int
    output_tokens_details: OutputTokensDetails
    total_tokens: int


class ResponseError(msgspec.Struct, gc=False):
    code: str
    message: str


class IncompleteDetails(msgspec.Struct, gc=False):
    reason: str


_NULL = msgspec.Raw(b"null")


class Response(msgspec.Struct, kw_only=True, gc=False):
    id: str
    object: str = "response"
    created_at: int
    status: str
    background: bool = False
    completed_at: int | None = None
    error: ResponseError | None = None
    incomplete_details: IncompleteDetails | None = None
    instructions: msgspec.Raw = _NULL
    max_output_tokens: int | None = None
    max_tool_calls: int | None = None
    model: str
    output: list[OutputItem]
    parallel_tool_calls: bool = True
    previous_response_id: str | None = None
    prompt_cache_key: str | None = None
    reasoning: msgspec.Raw = _NULL
    safety_identifier: str | None = None
    service_tier: str | None = None
    store: bool = False
    temperature: float | None = None
    text: msgspec.Raw = _NULL
    tool_choice: msgspec.Raw = msgspec.Raw(b'"auto"')
    tools: msgspec.Raw = msgspec.Raw(b"[]")
    top_logprobs: int | None = None
    top_p: float | None = None
    truncation: str = "disabled"
    usage: ResponseUsage | None = None
    user: str | None = None
    metadata: msgspec.Raw = msgspec.Raw(b"{}")


# -- stream events -------------------------------------------------------------------------------


class _Event(msgspec.Struct, tag_field="type", gc=False):
    sequence_number: int


class ResponseCreated(_Event, tag="response.created"):
    response: Response


class ResponseInProgress(_Event, tag="response.in_progress"):
    response: Response


class ResponseCompleted(_Event, tag="response.completed"):
    response: Response


class ResponseIncomplete(_Event, tag="response.incomplete"):
    response: Response


class ResponseFailed(_Event, tag="response.failed"):
    response: Response


class OutputItemAdded(_Event, tag="response.output_item.added"):
    output_index: int
    item: OutputItem


class OutputItemDone(_Event, tag="response.output_item.done"):
    output_index: int
    item: OutputItem


class ContentPartAdded(_Event, tag="response.content_part.added"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText | Refusal


class ContentPartDone(_Event, tag="response.content_part.done"):
    item_id: str
    output_index: int
    content_index: int
    part: OutputText | Refusal


class OutputTextDelta(_Event, tag="response.output_text.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str
    logprobs: list[Any]


class OutputTextDone(_Event, tag="response.output_text.done"):
    item_id: str
    output_index: int
    content_index: int
    text: str
    logprobs: list[Any]


class RefusalDelta(_Event, tag="response.refusal.delta"):
    item_id: str
    output_index: int
    content_index: int
    delta: str


class RefusalDone(_Event, tag="response.refusal.done"):
    item_id: str
    output_index: int
    content_index: int
    refusal: str


class OutputTextAnnotationAdded(_Event, tag="response.output_text.annotation.added"):
    item_id: str
    output_index: int
    content_index: int
    annotation_index: int
    annotation: UrlCitation


class WebSearchCallInProgress(_Event, tag="response.web_search_call.in_progress"):
    item_id: str
    output_index: int


class WebSearchCallSearching(_Event, tag="response.web_search_call.searching"):
    item_id: str
    output_index: int


class WebSearchCallCompleted(_Event, tag="response.web_search_call.completed"):
    item_id: str
    output_index: int


class FunctionCallArgumentsDelta(_Event, tag="response.function_call_arguments.delta"):
    item_id: str
    output_index: int
    delta: str


class FunctionCallArgumentsDone(_Event, tag="response.function_call_arguments.done"):
    item_id: str
    output_index: int
    name: str
    arguments: str


class CustomToolCallInputDelta(_Event, tag="response.custom_tool_call_input.delta"):
    item_id: str
    output_index: int
    delta: str


class CustomToolCallInputDone(_Event, tag="response.custom_tool_call_input.done"):
    item_id: str
    output_index: int
    input: str


class ReasoningSummaryPartAdded(_Event, tag="response.reasoning_summary_part.added"):
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ReasoningSummaryPartDone(_Event, tag="response.reasoning_summary_part.done"):
    item_id: str
    output_index: int
    summary_index: int
    part: SummaryText


class ReasoningSummaryTextDelta(_Event, tag="response.reasoning_summary_text.delta"):
    item_id: str
    output_index: int
    summary_index: int
    delta: str


class ReasoningSummaryTextDone(_Event, tag="response.reasoning_summary_text.done"):
    item_id: str
    output_index: int
    summary_index: int
    text: str


StreamEvent = (
    ResponseCreated
    | ResponseInProgress
    | ResponseCompleted
    | ResponseIncomplete
    | ResponseFailed
    | OutputItemAdded
    | OutputItemDone
    | ContentPartAdded
    | ContentPartDone
    | OutputTextDelta
    | OutputTextDone
    | OutputTextAnnotationAdded
    | WebSearchCallInProgress
    | WebSearchCallSearching
    | WebSearchCallCompleted
    | RefusalDelta
    | RefusalDone
    | FunctionCallArgumentsDelta
    | FunctionCallArgumentsDone
    | CustomToolCallInputDelta
    | CustomToolCallInputDone
    | ReasoningSummaryPartAdded
    | ReasoningSummaryPartDone
    | ReasoningSummaryTextDelta
    | ReasoningSummaryTextDone
)


# -- decoding: what a Responses provider sends (the upstream of codex2claude) ---------------------
#
# Lenient where the provider owns the schema: unknown fields are ignored, every field a
# translator can live without has a default, and items stay raw (``dict``) in the events so an
# unknown item type (``web_search_call``, ``mcp_call``, ...) never fails the event; ``item_in``
# decodes the item types a translator presents. Unknown event types are recognised through
# ``EVENT_TYPES_IN`` so a translator can skip and count them.


class UsageIn(msgspec.Struct, gc=False):
    """``usage``: ``input_tokens`` includes cached tokens; ``reasoning_tokens`` are part of
    ``output_tokens`` (reference §2.2)."""

    input_tokens: int = 0
    output_tokens: int = 0
    input_tokens_details: dict[str, Any] | None = None
    output_tokens_details: dict[str, Any] | None = None


class ErrorIn(msgspec.Struct, gc=False):
    code: str | None = None
    message: str | None = None


class IncompleteDetailsIn(msgspec.Struct, gc=False):
    reason: str | None = None


class ResponseIn(msgspec.Struct, gc=False):
    id: str = ""
    status: str | None = None
    model: str | None = None
    output: list[dict[str, Any]] = msgspec.field(default_factory=list)
    usage: UsageIn | None = None
    error: ErrorIn | None = None
    incomplete_details: IncompleteDetailsIn | None = None


class _In(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    sequence_number: int | None = None


class CreatedIn(_In, tag="response.created"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class QueuedIn(_In, tag="response.queued"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class InProgressIn(_In, tag="response.in_progress"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class CompletedIn(_In, tag="response.completed"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class IncompleteIn(_In, tag="response.incomplete"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class FailedIn(_In, tag="response.failed"):
    response: ResponseIn = msgspec.field(default_factory=ResponseIn)


class ItemAddedIn(_In, tag="response.output_item.added"):
    output_index: int = 0
    item: dict[str, Any] = msgspec.field(default_factory=dict)


class ItemDoneIn(_In, tag="response.output_item.done"):
    output_index: int = 0
    item: dict[str, Any] = msgspec.field(default_factory=dict)


class PartAddedIn(_In, tag="response.content_part.added"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: dict[str, Any] = msgspec.field(default_factory=dict)


class PartDoneIn(_In, tag="response.content_part.done"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    part: dict[str, Any] = msgspec.field(default_factory=dict)


class TextDeltaIn(_In, tag="response.output_text.delta"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class TextDoneIn(_In, tag="response.output_text.done"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str = ""


class RefusalDeltaIn(_In, tag="response.refusal.delta"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class RefusalDoneIn(_In, tag="response.refusal.done"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    refusal: str = ""


class ArgumentsDeltaIn(_In, tag="response.function_call_arguments.delta"):
    item_id: str = ""
    output_index: int = 0
    delta: str = ""


class ArgumentsDoneIn(_In, tag="response.function_call_arguments.done"):
    item_id: str = ""
    output_index: int = 0
    arguments: str = ""


class SummaryPartAddedIn(_In, tag="response.reasoning_summary_part.added"):
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0


class SummaryPartDoneIn(_In, tag="response.reasoning_summary_part.done"):
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0


class SummaryTextDeltaIn(_In, tag="response.reasoning_summary_text.delta"):
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    delta: str = ""


class SummaryTextDoneIn(_In, tag="response.reasoning_summary_text.done"):
    item_id: str = ""
    output_index: int = 0
    summary_index: int = 0
    text: str = ""


class ReasoningTextDeltaIn(_In, tag="response.reasoning_text.delta"):
    """Raw reasoning (open-weight models behind Responses servers); OpenAI's own models send
    summaries only."""

    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    delta: str = ""


class ReasoningTextDoneIn(_In, tag="response.reasoning_text.done"):
    item_id: str = ""
    output_index: int = 0
    content_index: int = 0
    text: str = ""


class ErrorEventIn(_In, tag="error"):
    """The top-level ``error`` event (``{type, code, message, param}``)."""

    code: str | None = None
    message: str | None = None
    param: str | None = None


StreamEventIn = (
    CreatedIn
    | QueuedIn
    | InProgressIn
    | CompletedIn
    | IncompleteIn
    | FailedIn
    | ItemAddedIn
    | ItemDoneIn
    | PartAddedIn
    | PartDoneIn
    | TextDeltaIn
    | TextDoneIn
    | RefusalDeltaIn
    | RefusalDoneIn
    | ArgumentsDeltaIn
    | ArgumentsDoneIn
    | SummaryPartAddedIn
    | SummaryPartDoneIn
    | SummaryTextDeltaIn
    | SummaryTextDoneIn
    | ReasoningTextDeltaIn
    | ReasoningTextDoneIn
    | ErrorEventIn
)

#: Event types ``decode_event_in`` knows; anything else is for the caller to skip and count.
EVENT_TYPES_IN: Final[frozenset[str]] = frozenset(
    cls.__struct_config__.tag for cls in get_args(StreamEventIn)
)

_event_in_decoder: Final = msgspec.json.Decoder(StreamEventIn)


def decode_event_in(data: str | bytes) -> StreamEventIn:
    """Decode one upstream SSE ``data`` payload. Raises ``msgspec.DecodeError`` or
    ``ValidationError`` (an unknown ``type`` included: check ``EVENT_TYPES_IN`` first)."""
    return _event_in_decoder.decode(data)


class _ItemIn(msgspec.Struct, tag_field="type", kw_only=True, gc=False):
    id: str = ""
    status: str | None = None


class MessageItemIn(_ItemIn, tag="message"):
    role: str = "assistant"
    #: ``output_text`` / ``refusal`` parts, raw.
    content: list[dict[str, Any]] = msgspec.field(default_factory=list)


class ReasoningItemIn(_ItemIn, tag="reasoning"):
    summary: list[dict[str, Any]] = msgspec.field(default_factory=list)
    content: list[dict[str, Any]] | None = None
    encrypted_content: str | None = None


class FunctionCallItemIn(_ItemIn, tag="function_call"):
    call_id: str = ""
    name: str = ""
    arguments: str = ""
    namespace: str | None = None


class CustomToolCallItemIn(_ItemIn, tag="custom_tool_call"):
    call_id: str = ""
    name: str = ""
    input: str = ""
    namespace: str | None = None


ItemIn = MessageItemIn | ReasoningItemIn | FunctionCallItemIn | CustomToolCallItemIn


def item_in(raw: Mapping[str, Any]) -> ItemIn | None:
    """A raw output item as a typed item, or None for a type this module does not model."""
    try:
        item: ItemIn = msgspec.convert(raw, ItemIn)
    except msgspec.ValidationError:
        return None
    return item
