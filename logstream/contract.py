"""The event contract: what a valid log and action are. The only definition.

Imported by the producer (400 at once), the stream agent (re-checks what any producer wrote to
the raw topic) and the query API (response models).
"""

from __future__ import annotations

import functools
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Literal

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    StrictStr,
    Tag,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)
from pydantic_core import PydanticCustomError

from logstream.limits import MAX_ACTIONS_PER_LOG, properties_problem


class ActionType(StrEnum):
    CLICK = "CLICK"
    VIEW = "VIEW"
    NAVIGATE = "NAVIGATE"


ID_MAX_LENGTH = 256
# Outside these bounds a time is a client bug, and ClickHouse's DateTime64 could not hold it.
EARLIEST_TIME = datetime(2000, 1, 1, tzinfo=UTC)
LATEST_TIME = datetime(2100, 1, 1, tzinfo=UTC)
# How far past its reference (the server's clock when the log was received) an action's time may be.
# A deployment sets its own (LOGSTREAM_MAX_FUTURE_S); see `future_bound`.
MAX_FUTURE = timedelta(hours=24)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MILLISECOND = timedelta(milliseconds=1)


def epoch_millis(moment: datetime) -> int:
    """Exact UTC epoch milliseconds of an aware datetime (floats would lose some)."""
    return (moment - EPOCH) // MILLISECOND


# ---------------------------------------------------------------- field types


def parse_time(value: Any) -> datetime:
    """ISO 8601 with an offset; the returned tzinfo keeps the offset as it was sent."""
    if not isinstance(value, str):
        raise PydanticCustomError("invalid_time", "time must be an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise PydanticCustomError("invalid_time", "time is not ISO 8601: {value}", {"value": value[:64]}) from None
    offset = parsed.utcoffset()
    if offset is None:
        raise PydanticCustomError("missing_offset", "time needs a UTC offset or Z, e.g. 2018-10-18T21:37:28-06:00")
    if offset % timedelta(minutes=1):
        raise PydanticCustomError("invalid_offset", "the UTC offset must be whole minutes")
    if not EARLIEST_TIME <= parsed < LATEST_TIME:
        raise PydanticCustomError("time_out_of_range", "time must be in [2000-01-01, 2100-01-01)")
    zulu = value.endswith(("Z", "z"))
    return parsed.replace(tzinfo=timezone(offset, "Z") if zulu else timezone(offset))


def _check_number(value: Any) -> Any:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise PydanticCustomError("wrong_type", "must be a number")
    return value


def _upper(value: Any) -> Any:
    return value.upper() if isinstance(value, str) else value


def _at_most_actions(value: Any) -> Any:
    # Checked before the actions are validated one by one, so a huge list costs nothing.
    if isinstance(value, list) and len(value) > MAX_ACTIONS_PER_LOG:
        raise PydanticCustomError("too_many_actions", "a log may have at most {limit} actions; send more logs",
                                  {"limit": MAX_ACTIONS_PER_LOG})
    return value


def _not_in_future(value: datetime, info: ValidationInfo) -> datetime:
    """Against the bound the caller passes (`latest` in the validation context), if any."""
    latest = info.context.get("latest") if info.context else None
    # to the millisecond, as times are stored (and as the fast path compares them)
    if latest is not None and epoch_millis(value) > epoch_millis(latest):
        raise PydanticCustomError("time_in_future", "time is more than the allowed skew ahead of when the log was "
                                  "received ({latest})", {"latest": latest.isoformat(timespec="seconds")})
    return value


SentTime = Annotated[datetime, BeforeValidator(parse_time)]
ActionTime = Annotated[SentTime, AfterValidator(_not_in_future)]
Number = Annotated[int | float, BeforeValidator(_check_number)]
Identifier = Annotated[StrictStr, Field(min_length=1, max_length=ID_MAX_LENGTH)]


def offset_text(sent: datetime) -> str:
    """The offset as it was sent: "Z" or "+HH:MM"/"-HH:MM"."""
    if sent.tzname() == "Z":
        return "Z"
    minutes = int(sent.utcoffset().total_seconds()) // 60  # type: ignore[union-attr]
    sign = "-" if minutes < 0 else "+"
    return f"{sign}{abs(minutes) // 60:02d}:{abs(minutes) % 60:02d}"


@functools.lru_cache(maxsize=256)
def offset_millis(offset: str) -> int:
    """An offset text ("Z", "+HH:MM", "-HH:MM") in milliseconds east of UTC."""
    if offset == "Z":
        return 0
    sign = -1 if offset[0] == "-" else 1
    return sign * (int(offset[1:3]) * 60 + int(offset[4:6])) * 60_000


@functools.lru_cache(maxsize=8192)
def _second_text(seconds: int) -> str:
    """Seconds since the epoch as wall-clock text; cached, since the times rendered together share few
    seconds (strftime per action was a tenth of the stream worker's main thread)."""
    return (EPOCH + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S")


def render_millis(ms: int, offset: str, *, always_millis: bool = False) -> str:
    """A stored (UTC epoch milliseconds, offset text) pair rendered as the client sent it:
    2018-10-18T21:37:28-06:00 (the milliseconds only when not 0, unless `always_millis`)."""
    seconds, millis = divmod(ms + offset_millis(offset), 1000)
    if millis or always_millis:
        return f"{_second_text(seconds)}.{millis:03d}{offset}"
    return _second_text(seconds) + offset


def render_time(utc: datetime, offset: str) -> str:
    """A stored (UTC, offset text) pair rendered as the client sent it: 2018-10-18T21:37:28-06:00."""
    return render_millis((utc - EPOCH) // MILLISECOND, offset)


# ---------------------------------------------------------------- the log


class _Properties(BaseModel):
    # Keys beyond the required ones are kept as sent.
    model_config = ConfigDict(extra="allow", strict=True)

    @model_validator(mode="before")
    @classmethod
    def _within_limits(cls, data: Any) -> Any:
        if isinstance(data, dict):
            problem = properties_problem(data)
            if problem is not None:
                code, message, at = problem
                raise PydanticCustomError(code, message, {"at": at})
        return data


class ClickProperties(_Properties):
    locationX: Number
    locationY: Number


class ViewProperties(_Properties):
    viewedId: StrictStr


class NavigateProperties(_Properties):
    pageFrom: StrictStr
    pageTo: StrictStr


class _Action(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")
    time: ActionTime


class ClickAction(_Action):
    type: Annotated[Literal[ActionType.CLICK], BeforeValidator(_upper)]
    properties: ClickProperties


class ViewAction(_Action):
    type: Annotated[Literal[ActionType.VIEW], BeforeValidator(_upper)]
    properties: ViewProperties


class NavigateAction(_Action):
    type: Annotated[Literal[ActionType.NAVIGATE], BeforeValidator(_upper)]
    properties: NavigateProperties


def _action_tag(value: Any) -> str | None:
    kind = value.get("type") if isinstance(value, dict) else getattr(value, "type", None)
    return kind.upper() if isinstance(kind, str) else None


Action = Annotated[
    Annotated[ClickAction, Tag(ActionType.CLICK)]
    | Annotated[ViewAction, Tag(ActionType.VIEW)]
    | Annotated[NavigateAction, Tag(ActionType.NAVIGATE)],
    Discriminator(_action_tag),
]


class AsSentAction(_Action):
    """An action under the `as-sent` property rules (PROPERTIES_AS_SENT): a known type and a time as
    always, and properties any JSON object within the limits, none required (seed 002's route)."""

    type: Annotated[Literal[ActionType.CLICK, ActionType.VIEW, ActionType.NAVIGATE], BeforeValidator(_upper)]
    properties: _Properties


class LogIn(BaseModel):
    """One session's log, as clients send it."""

    model_config = ConfigDict(
        strict=True,
        extra="ignore",
        json_schema_extra={
            "examples": [
                {
                    "userId": "ABC123XYZ",
                    "sessionId": "XYZ456ABC",
                    "actions": [
                        {
                            "time": "2018-10-18T21:37:28-06:00",
                            "type": "CLICK",
                            "properties": {"locationX": 52, "locationY": 11},
                        },
                        {
                            "time": "2018-10-18T21:37:30-06:00",
                            "type": "VIEW",
                            "properties": {"viewedId": "FDJKLHSLD"},
                        },
                        {
                            "time": "2018-10-18T21:37:30-06:00",
                            "type": "NAVIGATE",
                            "properties": {"pageFrom": "communities", "pageTo": "inventory"},
                        },
                    ],
                }
            ]
        },
    )
    userId: Identifier
    sessionId: Identifier
    actions: Annotated[list[Action], BeforeValidator(_at_most_actions),
                       Field(min_length=1, max_length=MAX_ACTIONS_PER_LOG)]


# A log's property rules, named in its raw record's `propertyRules` (absent: the contract's, per type).
PROPERTIES_AS_SENT = "as-sent"


class AsSentLogIn(LogIn):
    """A log whose actions' properties are kept as sent, none required (AsSentAction)."""

    actions: Annotated[list[AsSentAction], BeforeValidator(_at_most_actions),  # type: ignore[assignment]
                       Field(min_length=1, max_length=MAX_ACTIONS_PER_LOG)]


class LogRecord(LogIn):
    """A record of the raw topic: a log plus what the producer added.

    Other producers may omit both; the stream then derives them from the Kafka record.
    `propertyRules: "as-sent"` (set by the producer on seed 002's route) validates its actions as
    AsSentAction instead (see validate_record).
    """

    eventId: uuid.UUID | None = None
    receivedAt: SentTime | None = None
    propertyRules: Literal["as-sent"] | None = None

    @model_validator(mode="before")
    @classmethod
    def _future_bound(cls, data: Any, info: ValidationInfo) -> Any:
        """A record's actions are bounded relative to its own receivedAt (or the Kafka timestamp the
        caller gives as `reference`), so re-validating it later (a replay) gives the same answer."""
        context = info.context
        if context is not None and context.get("max_future") is not None and isinstance(data, dict):
            reference = context.get("reference")
            received = data.get("receivedAt")
            if received is not None:
                try:
                    reference = parse_time(received)
                except PydanticCustomError:
                    reference = None  # receivedAt's own problem is reported; no bound without it
            context["latest"] = reference + context["max_future"] if reference is not None else None
        return data


class AsSentLogRecord(LogRecord):
    actions: Annotated[list[AsSentAction], BeforeValidator(_at_most_actions),  # type: ignore[assignment]
                       Field(min_length=1, max_length=MAX_ACTIONS_PER_LOG)]


# ---------------------------------------------------------------- responses


class ActionOut(BaseModel):
    actionId: uuid.UUID
    eventId: uuid.UUID
    userId: str
    sessionId: str
    type: ActionType
    time: str = Field(description="ISO 8601, rendered with the UTC offset it was sent with")
    properties: dict[str, Any]


# ---------------------------------------------------------------- validation


@dataclass(frozen=True, slots=True)
class Problem:
    path: str
    code: str
    message: str

    def as_dict(self) -> dict[str, str]:
        return {"path": self.path, "code": self.code, "message": self.message}


class InvalidLogError(ValueError):
    """Raised by the validators; carries every problem found."""

    def __init__(self, problems: list[Problem]):
        super().__init__("; ".join(f"{p.path or '$'}: {p.code}" for p in problems[:5]))
        self.problems = problems


_LOG = TypeAdapter(LogIn)
_RECORD = TypeAdapter(LogRecord)
_LOGS = TypeAdapter(Annotated[list[LogIn], Field(min_length=1)])
_AS_SENT_LOG = TypeAdapter(AsSentLogIn)
_AS_SENT_RECORD = TypeAdapter(AsSentLogRecord)

_TAGS = frozenset(ActionType)
_WRONG_TYPE = frozenset(
    {"string_type", "int_type", "float_type", "list_type", "dict_type", "model_type",
     "model_attributes_type", "uuid_type", "uuid_parsing", "datetime_type"}
)
_CODES = {
    "string_too_short": "empty",
    "too_short": "empty",
    "string_too_long": "too_long",
    "too_long": "too_long",
    "union_tag_invalid": "unknown_action_type",
    "literal_error": "unknown_action_type",
    "json_invalid": "invalid_json",
}


def _path(loc: tuple[int | str, ...]) -> str:
    text = ""
    for i, part in enumerate(loc):
        if isinstance(part, int):
            text += f"[{part}]"
        elif part in _TAGS and i and isinstance(loc[i - 1], int):
            continue  # the discriminated union's branch name is not part of the document
        else:
            text += f".{part}" if text else str(part)
    return text


def _problem(error: Any) -> Problem:
    loc = tuple(error["loc"])
    kind = error["type"]
    at = (error.get("ctx") or {}).get("at")
    if at is not None:  # a limit of the properties, found below them
        return Problem(_path(loc) + at, kind, error["msg"])
    if kind == "union_tag_not_found":
        return Problem(_path((*loc, "type")), "missing_field", "an action needs a type")
    if kind == "missing":
        code = "missing_property" if "properties" in loc[:-1] else "missing_field"
    elif kind in _WRONG_TYPE:
        code = "wrong_type"
    else:
        code = _CODES.get(kind, kind)
    if kind == "union_tag_invalid":
        return Problem(_path((*loc, "type")), code, "type must be one of CLICK, VIEW, NAVIGATE")
    if kind == "literal_error" and loc[-1:] == ("propertyRules",):
        return Problem(_path(loc), "invalid_value", "propertyRules must be as-sent, null or absent")
    if kind == "literal_error" and loc[-1:] == ("type",):
        return Problem(_path(loc), code, "type must be one of CLICK, VIEW, NAVIGATE")
    return Problem(_path(loc), code, error["msg"])


def problems_of(error: ValidationError) -> list[Problem]:
    return [_problem(e) for e in error.errors(include_url=False, include_input=False)]


def future_bound(reference: datetime, max_future: timedelta = MAX_FUTURE) -> datetime:
    """The latest action time accepted in a log received at `reference` (the server's clock)."""
    return reference + max_future


def validate_logs(document: Any, *, latest: datetime | None = None, properties_as_sent: bool = False) -> list[LogIn]:
    """One log object or a non-empty array of them, already parsed from JSON. With `latest`
    (`future_bound(now)`), an action dated after it is refused (time_in_future). With
    `properties_as_sent`, one log object under the as-sent property rules (AsSentLogIn)."""
    context = {"latest": latest}
    try:
        if properties_as_sent and isinstance(document, dict):
            return [_AS_SENT_LOG.validate_python(document, context=context)]
        if isinstance(document, list):
            return _LOGS.validate_python(document, context=context)
        if isinstance(document, dict):
            return [_LOG.validate_python(document, context=context)]
    except ValidationError as exc:
        raise InvalidLogError(problems_of(exc)) from None
    raise InvalidLogError([Problem("", "wrong_type", "the body must be a log object or an array of logs")])


def validate_record(payload: bytes, *, max_future: timedelta | None = None,
                    reference: datetime | None = None) -> LogRecord:
    """A raw-topic record, straight from its bytes. With `max_future`, its actions may be dated at most
    that far past its receivedAt, or, for a record without one, past `reference` (its Kafka timestamp)."""
    adapter = _AS_SENT_RECORD if properties_as_sent(payload) else _RECORD
    try:
        return adapter.validate_json(payload, context={"max_future": max_future, "reference": reference})
    except ValidationError as exc:
        raise InvalidLogError(problems_of(exc)) from None


def properties_as_sent(payload: bytes) -> bool:
    """Whether a raw record declares `"propertyRules": "as-sent"` (it is then validated as AsSentLogRecord,
    which also requires the value to be exactly that)."""
    if b'"propertyRules"' not in payload:
        return False
    try:
        document = orjson.loads(payload)
    except orjson.JSONDecodeError:
        return False
    return isinstance(document, dict) and document.get("propertyRules") == PROPERTIES_AS_SENT
