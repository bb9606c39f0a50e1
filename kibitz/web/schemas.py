"""Request and response shapes at the HTTP edge (pydantic); strict, unknown fields refused."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from kibitz import inputs


def _clean(value: str) -> str:
    """Refuse NUL and lone surrogates at the edge, alike on SQLite and PostgreSQL."""
    if "\x00" in value:
        raise ValueError("must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("must be valid Unicode (no lone surrogates)") from None
    return value


Str = Annotated[str, AfterValidator(_clean)]
CommentId = Annotated[str, StringConstraints(pattern=r"^[1-9][0-9]{0,17}$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)


class AuthorIn(Strict):
    name: Annotated[Str, Field(max_length=inputs.MAX_NAME)]
    email: Annotated[Str, Field(max_length=inputs.MAX_EMAIL)] | None = None
    url: Annotated[Str, Field(max_length=inputs.MAX_URL)] | None = None


class AnchorIn(Strict):
    exact: Annotated[Str, Field(min_length=1, max_length=500)]
    prefix: Annotated[Str, Field(max_length=64)] | None = None
    suffix: Annotated[Str, Field(max_length=64)] | None = None
    start: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    end: Annotated[int, Field(ge=0, le=10_000_000)] | None = None
    hash: Annotated[Str, Field(max_length=64)] | None = None


class PostIn(Strict):
    page: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_PAGE)]
    title: Annotated[Str, Field(max_length=inputs.MAX_TITLE)] | None = None
    url: Annotated[Str, Field(max_length=inputs.MAX_URL)] | None = None
    parent: CommentId | None = None
    text: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_TEXT)]
    author: AuthorIn
    notify: Literal["none", "replies", "all", "updates"] | None = "none"
    digest: Literal["instant", "daily"] | None = "instant"
    anchor: AnchorIn | None = None
    # Anti-automation (QUALITY T33): the widget's hidden field, and its form token.
    hp: Annotated[Str, Field(max_length=200)] | None = None
    form: Annotated[Str, Field(max_length=200)] | None = None


class FormOut(BaseModel):
    form: str


class PreviewIn(Strict):
    text: Annotated[Str, Field(max_length=inputs.MAX_TEXT)]


class EditIn(Strict):
    text: Annotated[Str, Field(min_length=1, max_length=inputs.MAX_TEXT)]


def _exact_int(value: object) -> object:
    """A Literal of ints alone takes ``true`` for 1 and ``1.0`` for 1: only JSON integers may vote."""
    if type(value) is not int:
        raise ValueError("must be the integer 1, 0 or -1")
    return value


class VoteIn(Strict):
    value: Annotated[Literal[1, 0, -1], BeforeValidator(_exact_int)]


class FlagIn(Strict):
    reason: Annotated[Str, Field(min_length=1, max_length=500)]


# -- responses (for the OpenAPI description; handlers write the bytes with orjson) ------------------


class AuthorOut(BaseModel):
    name: str
    avatar: str | None
    url: str | None
    badges: list[str] = Field(
        default_factory=list,
        description="A signed-in author's: staff, moderator, verified; author on the stories the publisher "
        "says they wrote",
    )


class AnchorOut(BaseModel):
    exact: str
    prefix: str
    suffix: str
    start: int | None = None
    end: int | None = None
    hash: str | None = None


class CommentOut(BaseModel):
    id: str
    parent: str | None
    author: AuthorOut
    html: str
    created: str
    edited: str | None
    score: int
    up: int
    down: int
    replies: list[CommentOut]
    reply_count: int
    anchor: AnchorOut | None
    pinned: bool
    featured: bool
    edited_by_moderator: bool
    deleted: bool
    status: str


class ThreadOut(BaseModel):
    site: str
    page: str
    title: str
    url: str | None
    count: int
    closed: bool


class UpdateOut(BaseModel):
    """A story update (a correction, update or follow-up staff posted; §3b "Story updates")."""

    id: str
    kind: Literal["correction", "update", "follow-up"]
    title: str
    html: str
    url: str | None
    created: str


class ThreadPageOut(BaseModel):
    thread: ThreadOut
    comments: list[CommentOut]
    next: str | None
    updates: list[UpdateOut] = Field(
        default_factory=list, description="The story's latest updates, newest first"
    )


class RepliesOut(BaseModel):
    comments: list[CommentOut]
    next: str | None


class PostedOut(BaseModel):
    comment: CommentOut
    token: str
    reader: str | None = None
    status: str | None = None


class CommentEnvelope(BaseModel):
    comment: CommentOut


class VoteOut(BaseModel):
    score: int
    up: int
    down: int
    value: int


class PreviewOut(BaseModel):
    html: str


class CountsOut(BaseModel):
    counts: dict[str, int]


class FieldProblem(BaseModel):
    field: str
    message: str


class Problem(BaseModel):
    type: str
    status: int
    code: str
    title: str
    detail: str
    errors: list[FieldProblem] = []
