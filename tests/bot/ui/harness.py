"""A stand-in for Discord itself, for driving the real discord.py dispatch in tests.

Two directions, each at the boundary where discord.py talks to the network:

* Into the bot, gateway events go through the client's connection state exactly as the
  websocket would hand them over (``ConnectionState.parsers[EVENT](payload)``): a READY, then
  INTERACTION_CREATE payloads shaped like Discord's, for slash commands and button clicks.
* Out of the bot, every HTTP request is answered here and recorded at the last step before
  the network, ``aiohttp.ClientSession._request`` (see ``wire``): bot-token REST calls,
  interaction responses, followups and edits of ``@original`` all pass through discord.py's
  own HTTP client and webhook adapter first, with their rate-limit handling and retries.
  ``FakeDiscord.fail`` scripts 429s and 5xx answers to exercise those.

Nothing reaches the network, and nothing of pickloop is replaced: the bot under test is the
production ``PickloopBot``.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any

import discord
from discord.http import Route
from multidict import CIMultiDict

BOT_USER_ID = 900_000_000_000_000_001
APPLICATION_ID = 900_000_000_000_000_002
GUILD_ID = 900_000_000_000_000_003
CHANNEL_ID = 900_000_000_000_000_004
UPLOAD_LIMIT = 10 * 1024 * 1024
# A person's DM channel with the bot: its id, made from theirs so that it is stable.
DM_CHANNEL_OFFSET = 950_000_000_000_000_000
EPHEMERAL = 64

_snowflakes = itertools.count(1_100_000_000_000_000_000)


def snowflake() -> int:
    return next(_snowflakes)


@dataclass(frozen=True)
class Upload:
    filename: str
    data: bytes


CDN = "https://cdn.discordapp.com/attachments/"


@dataclass(frozen=True)
class Attached:
    """A file a person attached to a slash command: Discord sends its description (name, size,
    type, URL) with the command and keeps the bytes on its CDN, where the bot fetches them."""

    id: int
    filename: str
    size: int
    content_type: str | None

    @property
    def url(self) -> str:
        return f"{CDN}{CHANNEL_ID}/{self.id}/{self.filename}"

    def resolved(self) -> dict[str, Any]:
        described: dict[str, Any] = {
            "id": str(self.id),
            "filename": self.filename,
            "size": self.size,
            "url": self.url,
            "proxy_url": self.url.replace("cdn.discordapp.com", "media.discordapp.net"),
        }
        if self.content_type is not None:
            described["content_type"] = self.content_type
        return described


@dataclass
class Call:
    """One HTTP request the bot made, as Discord would have received it."""

    method: str
    path: str
    json: dict[str, Any] | list[Any] | None
    files: list[Upload] = field(default_factory=list)
    answer: Any = None
    # What Discord answered: 200, or the error status of a refusal or a scripted failure.
    status: int = 200
    # When Discord received it (time.perf_counter), for latency benchmarks.
    at: float = field(default_factory=time.perf_counter)

    @property
    def custom_ids(self) -> list[str]:
        body = self.json if isinstance(self.json, dict) else {}
        return [
            component["custom_id"]
            for row in body.get("components") or []
            for component in row.get("components", [])
            if "custom_id" in component
        ]

    @property
    def flags(self) -> int:
        body = self.json if isinstance(self.json, dict) else {}
        data = body.get("data") if "type" in body and "data" in body else body
        return int((data or {}).get("flags") or 0)


@dataclass(frozen=True)
class _Response:
    """The two things discord.py reads from an HTTP response to describe an error."""

    status: int
    reason: str


def _user(user_id: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {
        "id": str(user_id),
        "username": name,
        "global_name": name,
        "discriminator": "0",
        "avatar": None,
        "bot": bot,
    }


class FakeDiscord:
    """Answers the bot's requests like Discord's API does, and remembers each one."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self._changed = asyncio.Event()
        # Messages Discord holds, by interaction token (the @original) and by message id.
        self.originals: dict[str, dict[str, Any]] = {}
        self.messages: dict[int, dict[str, Any]] = {}
        # Modals the bot opened, by the token of the interaction that opened them.
        self.modals: dict[str, dict[str, Any]] = {}
        # As for a token that was reset or mistyped: every bot-token request is refused.
        self.rejects_token = False
        # As if each job ran past the interaction token's 15 minutes: once an interaction is
        # acknowledged, its token is refused.
        self.tokens_expire_at_once = False
        self.expired: set[str] = set()
        self._failures: list[Failure] = []
        # Channels someone deleted: posting there is refused (Unknown Channel).
        self.deleted_channels: set[int] = set()
        # Attachments' bytes, by URL, as Discord's CDN serves them.
        self.cdn: dict[str, bytes] = {}

    def attach(
        self, filename: str, data: bytes, content_type: str | None = "image/png"
    ) -> Attached:
        """A file as a person attaches it; ``content_type`` is what Discord guessed."""
        attached = Attached(snowflake(), filename, len(data), content_type)
        self.cdn[attached.url] = data
        return attached

    # --- what the bot sent -------------------------------------------------------------------

    def calls_for(self, token: str) -> list[Call]:
        return [call for call in self.calls if f"/{token}" in call.path]

    async def wait_for(self, condition: Callable[[], Any], within: float = 60.0) -> Any:
        """Wait until ``condition()`` is truthy (checked after every request); return it."""
        async with asyncio.timeout(within):
            while not (result := condition()):
                self._changed.clear()
                await self._changed.wait()
        return result

    # --- scripted trouble ----------------------------------------------------------------------

    def delete_original(self, token: str) -> None:
        """As a moderator deleting the message an interaction answered with."""
        message = self.originals.pop(token)
        self.messages.pop(int(message["id"]), None)

    def fail(
        self,
        status: int,
        matches: Callable[[str, str], bool],
        *,
        times: int = 1,
        retry_after: float = 0.05,
    ) -> None:
        """Answer the next ``times`` requests that ``matches(method, path)`` with ``status``:
        a 429 (rate limited, retry after ``retry_after`` seconds) or a 5xx."""
        if status == 429:
            body = {"message": "You are being rate limited.", "retry_after": retry_after}
            body["global"] = False
        else:
            body = {"message": HTTPStatus(status).phrase, "code": 0}
        self._failures.append(Failure(status, body, matches, times))

    def _scripted(self, method: str, path: str) -> Failure | None:
        for index, failure in enumerate(self._failures):
            if failure.matches(method, path):
                if failure.times <= 1:
                    del self._failures[index]
                else:
                    self._failures[index] = dataclasses.replace(failure, times=failure.times - 1)
                return failure
        return None

    # --- answering -----------------------------------------------------------------------------

    def answer_wire(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[Any] | None,
        uploads: list[Upload],
    ) -> WireResponse:
        """One HTTP exchange as it crosses the wire: a status, headers and a JSON body (the
        bytes of a file, from the CDN)."""
        if path.startswith(CDN):
            self.calls.append(Call(method, path, body, uploads))
            found = self.cdn.get(path)
            return WireResponse(200 if found is not None else 404, None, raw=found)
        failure = self._scripted(method, path)
        if failure is not None:
            self.calls.append(Call(method, path, body, uploads, status=failure.status))
            self._changed.set()
            # Discord's real rate-limit answers come through its proxy; discord.py checks.
            headers = {"Via": "1.1 google"} if failure.status == 429 else {}
            return WireResponse(failure.status, failure.body, headers)
        try:
            answer = self.answer(method, path, body, uploads)
        except discord.HTTPException as refusal:
            self.calls[-1].status = refusal.status
            return WireResponse(refusal.status, {"code": refusal.code, "message": refusal.text})
        if answer is None:
            return WireResponse(204, None)
        return WireResponse(200, answer)

    def answer(
        self,
        method: str,
        path: str,
        body: dict[str, Any] | list[Any] | None,
        uploads: list[Upload],
    ) -> Any:
        call = Call(method, path, body, uploads)
        self.calls.append(call)
        self._changed.set()
        call.answer = self._respond(call)
        return call.answer

    def _respond(self, call: Call) -> Any:
        parts = call.path.strip("/").split("/")
        body = call.json if isinstance(call.json, dict) else {}
        if call.path == "/users/@me" and self.rejects_token:
            raise discord.HTTPException(_Response(401, "Unauthorized"), "401: Unauthorized")
        if call.path == "/users/@me":
            return _user(BOT_USER_ID, "pickloop", bot=True)
        if call.path == "/oauth2/applications/@me":
            return {
                "id": str(APPLICATION_ID),
                "name": "pickloop",
                "description": "",
                "icon": None,
                "bot_public": True,
                "bot_require_code_grant": False,
                "owner": _user(1, "operator"),
                "verify_key": "0" * 64,
                "flags": 0,
            }
        if parts[0] == "applications" and parts[-1] == "commands" and call.method == "PUT":
            return [
                dict(command, id=str(snowflake()), application_id=str(APPLICATION_ID), version="1")
                for command in call.json or []
            ]
        if parts[0] == "interactions" and parts[-1] == "callback":
            answer = self._callback(parts[2], body)
            if self.tokens_expire_at_once:
                self.expired.add(parts[2])
            return answer
        if parts[0] == "webhooks":
            token = parts[2]
            if token in self.expired:
                raise discord.HTTPException(
                    _Response(401, "Unauthorized"),
                    {"code": 50027, "message": "Invalid Webhook Token"},
                )
            if parts[-1] == "@original":
                if call.method == "DELETE":
                    self.originals.pop(token, None)
                    return None
                if token not in self.originals:
                    refusal = {"code": 10008, "message": "Unknown Message"}
                    raise discord.NotFound(_Response(404, "Not Found"), refusal)
                if call.method == "PATCH":
                    self.originals[token] = self._message(
                        body, call.files, self.originals.get(token)
                    )
                return self.originals[token]
            if call.method == "POST":  # a followup message
                return self._message(body, call.files, None)
            if call.method == "PATCH" and parts[-2] == "messages":  # a followup, edited
                message_id = int(parts[-1])
                return self._message(body, call.files, self.messages[message_id])
        if call.path == "/users/@me/channels" and call.method == "POST":
            recipient = int(body["recipient_id"])
            return {
                "id": str(DM_CHANNEL_OFFSET + recipient % 10**12),
                "type": 1,
                "recipients": [_user(recipient, "someone")],
                "last_message_id": None,
            }
        if parts[0] == "channels" and parts[2] == "messages" and len(parts) == 4:
            message_id = int(parts[3])
            if call.method == "DELETE":
                del self.messages[message_id]
                return None
            if message_id not in self.messages:
                refusal = {"code": 10008, "message": "Unknown Message"}
                raise discord.NotFound(_Response(404, "Not Found"), refusal)
            return self.messages[message_id]
        if parts[0] == "channels" and int(parts[1]) in self.deleted_channels:
            refusal = {"code": 10003, "message": "Unknown Channel"}
            raise discord.NotFound(_Response(404, "Not Found"), refusal)
        if parts[0] == "channels" and parts[-1] == "messages" and call.method == "POST":
            return self._message(body, call.files, None, channel_id=int(parts[1]))
        raise AssertionError(f"the fake Discord does not know {call.method} {call.path}")

    def _callback(self, token: str, body: dict[str, Any]) -> dict[str, Any]:
        kind = body["type"]
        data = body.get("data") or {}
        ephemeral = bool(int(data.get("flags") or 0) & EPHEMERAL)
        answer: dict[str, Any] = {
            "interaction": {
                "id": str(snowflake()),
                "type": 2,
                "response_message_loading": kind == 5,
                "response_message_ephemeral": ephemeral,
            },
            "resource": {"type": kind},
        }
        if kind in (4, 5):  # a message: the answer itself, or "pickloop is thinking…"
            message = self._message(data, [], None)
            self.originals[token] = message
            answer["interaction"]["response_message_id"] = message["id"]
            answer["resource"]["message"] = message
        if kind == 9:  # a modal, opened for the person who clicked
            self.modals[token] = data
        if kind == 7:  # a click edits the message its button is on
            message = self._message(data, [], self.originals[token])
            self.originals[token] = message
            answer["resource"]["message"] = message
        return answer

    def _message(
        self,
        body: dict[str, Any],
        uploads: list[Upload],
        previous: dict[str, Any] | None,
        channel_id: int = CHANNEL_ID,
    ) -> dict[str, Any]:
        message: dict[str, Any] = (
            dict(previous)
            if previous
            else {
                "id": str(snowflake()),
                "channel_id": str(channel_id),
                "author": _user(BOT_USER_ID, "pickloop", bot=True),
                "content": "",
                "timestamp": datetime.now(UTC).isoformat(),
                "edited_timestamp": None,
                "tts": False,
                "mention_everyone": False,
                "mentions": [],
                "mention_roles": [],
                "attachments": [],
                "embeds": [],
                "pinned": False,
                "type": 0,
                "flags": 0,
                "components": [],
                "webhook_id": str(APPLICATION_ID),
            }
        )
        for key in ("content", "components", "embeds", "flags"):
            if key in body:
                message[key] = body[key] if body[key] is not None else message[key]
        if uploads:
            message["attachments"] = [
                {
                    "id": str(snowflake()),
                    "filename": upload.filename,
                    "size": len(upload.data),
                    "url": f"https://cdn.discordapp.invalid/{upload.filename}",
                    "proxy_url": f"https://media.discordapp.invalid/{upload.filename}",
                    "content_type": "image/png",
                }
                for upload in uploads
            ]
        if previous:
            message["edited_timestamp"] = datetime.now(UTC).isoformat()
        self.messages[int(message["id"])] = message
        return message


@dataclass(frozen=True)
class Failure:
    """A scripted error Discord answers instead of the real response (a 429, a 5xx, ...)."""

    status: int
    body: dict[str, Any]
    matches: Callable[[str, str], bool]
    times: int


# Discord describes every route's rate limit in each answer; without these headers discord.py
# assumes one request at a time per route. Generous: only scripted 429s slow the bot down.
RATE_LIMIT_HEADERS = {
    "X-RateLimit-Limit": "50",
    "X-RateLimit-Remaining": "49",
    "X-RateLimit-Reset-After": "1.000",
    "X-RateLimit-Bucket": "pickloop-tests",
}


class WireResponse:
    """What discord.py reads of an aiohttp response: status, reason, headers and the body."""

    def __init__(
        self,
        status: int,
        body: Any,
        headers: dict[str, str] | None = None,
        *,
        raw: bytes | None = None,
    ) -> None:
        self.status = status
        self._raw = raw
        self.reason = HTTPStatus(status).phrase
        json_type = {"content-type": "application/json"} if body is not None else {}
        self.headers = CIMultiDict({**json_type, **RATE_LIMIT_HEADERS, **(headers or {})})
        self._text = json.dumps(body) if body is not None else ""

    async def text(self, encoding: str = "utf-8") -> str:
        return self._text

    async def read(self) -> bytes:
        return self._raw if self._raw is not None else self._text.encode()

    async def __aenter__(self) -> WireResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None

    def release(self) -> None:
        return None


def _decode(data: Any) -> tuple[dict[str, Any] | list[Any] | None, list[Upload]]:
    """The JSON body and the uploaded files of a request, as discord.py encoded them."""
    if data is None:
        return None, []
    if isinstance(data, str | bytes):
        return json.loads(data), []
    body: dict[str, Any] | list[Any] | None = None
    uploads: list[Upload] = []
    # aiohttp.FormData keeps its parts as (options, headers, value); discord.py names the
    # JSON part payload_json and gives each file a filename.
    for options, _headers, value in data._fields:
        if options["name"] == "payload_json":
            body = json.loads(value)
        else:
            uploads.append(Upload(options["filename"], value.read()))
    return body, uploads


def wire(fake: FakeDiscord) -> Callable[..., Awaitable[WireResponse]]:
    """A stand-in for ``aiohttp.ClientSession._request``, the last step before the network.

    Everything above it is discord.py's own: its HTTP client with its rate-limit buckets and
    retries, the webhook adapter interactions use, multipart encoding of files.
    """

    async def request(
        session: Any, method: str, url: Any, *, data: Any = None, **_: Any
    ) -> WireResponse:
        path = str(url).removeprefix(Route.BASE).split("?")[0]
        body, uploads = _decode(data)
        # A real request always waits on the socket at least once, letting other tasks run;
        # an answer with no wait at all would serialise what runs concurrently in production.
        await asyncio.sleep(0)
        return fake.answer_wire(method, path, body, uploads)

    return request


# A member's usual permissions in a channel: send messages, add reactions, use commands, ...
MEMBER_PERMISSIONS = 2248473465835073
MANAGE_GUILD = 1 << 5


@dataclass(frozen=True)
class Person:
    id: int
    name: str
    # Holds the Manage Server permission (what pickloop's admin commands ask for).
    manages_server: bool = False

    def member(self) -> dict[str, Any]:
        permissions = MEMBER_PERMISSIONS | (MANAGE_GUILD if self.manages_server else 0)
        return {
            "user": _user(self.id, self.name),
            "roles": [],
            "joined_at": "2026-01-01T00:00:00+00:00",
            "deaf": False,
            "mute": False,
            "flags": 0,
            "permissions": str(permissions),
        }


@dataclass(frozen=True)
class Sent:
    """An interaction Discord delivered to the bot; its token names its webhook calls."""

    id: int
    token: str


class Gateway:
    """Delivers gateway events to a client as its websocket would."""

    def __init__(self, client: discord.Client, fake: FakeDiscord) -> None:
        self.client = client
        self.fake = fake
        self.state = client._connection
        # What Discord allows this server's uploads to weigh; sent with every interaction.
        self.upload_limit = UPLOAD_LIMIT

    def ready(self) -> None:
        # No guilds are announced, so the library waits for none before READY is dispatched.
        self.state.guild_ready_timeout = 0
        self.state.parsers["READY"](
            {
                "v": 10,
                "user": _user(BOT_USER_ID, "pickloop", bot=True),
                "guilds": [],
                "session_id": "test-session",
                "resume_gateway_url": "wss://gateway.discord.invalid",
                "application": {"id": str(APPLICATION_ID), "flags": 0},
            }
        )

    def _interaction(
        self,
        kind: int,
        person: Person,
        data: dict[str, Any],
        message: dict[str, Any] | None = None,
    ) -> Sent:
        sent = Sent(snowflake(), f"token-{snowflake()}")
        extra: dict[str, Any] = {}
        if message is not None:
            # A click's interaction token edits the message the button is on.
            self.fake.originals[sent.token] = message
            extra["message"] = message
        payload = {
            "id": str(sent.id),
            "application_id": str(APPLICATION_ID),
            "type": kind,
            "data": data,
            "guild_id": str(GUILD_ID),
            "channel_id": str(CHANNEL_ID),
            "channel": {
                "id": str(CHANNEL_ID),
                "type": 0,
                "guild_id": str(GUILD_ID),
                "name": "art",
                "position": 0,
                "permission_overwrites": [],
                "nsfw": False,
                "parent_id": None,
                "rate_limit_per_user": 0,
                "flags": 0,
                "topic": None,
                "last_message_id": None,
            },
            "member": person.member(),
            "token": sent.token,
            "version": 1,
            "locale": "en-US",
            "guild_locale": "en-US",
            "app_permissions": "2248473465835073",
            "entitlements": [],
            "authorizing_integration_owners": {"0": str(GUILD_ID)},
            "context": 0,
            "attachment_size_limit": self.upload_limit,
            **extra,
        }
        self.state.parsers["INTERACTION_CREATE"](payload)
        return sent

    def react(self, person: Person, message: dict[str, Any], emoji: str) -> None:
        """MESSAGE_REACTION_ADD, as a guild member adding ``emoji`` to ``message``."""
        self.state.parsers["MESSAGE_REACTION_ADD"](
            {
                "user_id": str(person.id),
                "channel_id": message["channel_id"],
                "message_id": message["id"],
                "guild_id": str(GUILD_ID),
                "member": person.member(),
                "emoji": {"id": None, "name": emoji},
                "message_author_id": message["author"]["id"],
                "burst": False,
                "burst_colors": [],
                "type": 0,
            }
        )

    def slash(self, person: Person, name: str, *subcommands: str, **options: OptionValue) -> Sent:
        """A slash command: ``slash(p, "imagine", prompt=...)``, ``slash(p, "admin", "block",
        user=BOB)`` for a subcommand (a group, then its subcommand, when there are two)."""
        resolved: dict[str, dict[str, Any]] = {}
        typed = [_option(key, value, resolved) for key, value in options.items()]
        # The innermost subcommand holds the options; each level up wraps the one below.
        for depth, sub in reversed(list(enumerate(subcommands))):
            kind = 1 if depth == len(subcommands) - 1 else 2
            typed = [{"name": sub, "type": kind, "options": typed}]
        data: dict[str, Any] = {"id": str(snowflake()), "name": name, "type": 1, "options": typed}
        if resolved:
            data["resolved"] = resolved
        return self._interaction(2, person, data)

    def click(self, person: Person, message: dict[str, Any], custom_id: str) -> Sent:
        # Discord only sends clicks on buttons a message has; discord.py ignores any other.
        on_message = [
            component.get("custom_id")
            for row in message["components"]
            for component in row.get("components", [])
        ]
        assert custom_id in on_message, f"{custom_id} is not a button of that message"
        return self._interaction(
            3,
            person,
            {"custom_id": custom_id, "component_type": 2},
            message=message,
        )

    def select(
        self, person: Person, message: dict[str, Any], custom_id: str, values: list[str]
    ) -> Sent:
        """A choice in a select menu of ``message``: the options' values chosen."""
        menu = next(
            component
            for row in message["components"]
            for component in row.get("components", [])
            if component.get("custom_id") == custom_id
        )
        offered = {option["value"] for option in menu["options"]}
        assert set(values) <= offered, f"{values} are not all options of {custom_id}"
        data = {"custom_id": custom_id, "component_type": 3, "values": values}
        return self._interaction(3, person, data, message=message)

    def submit(self, person: Person, modal: dict[str, Any], *answers: str) -> Sent:
        """A modal sent back with ``answers`` in its text fields, in their order."""
        fields = [
            component["custom_id"]
            for row in modal["components"]
            for component in row.get("components", [])
        ]
        assert len(answers) == len(fields), f"the modal has {len(fields)} fields"
        rows = [
            {"type": 1, "components": [{"type": 4, "custom_id": field, "value": answer}]}
            for field, answer in zip(fields, answers, strict=True)
        ]
        return self._interaction(5, person, {"custom_id": modal["custom_id"], "components": rows})


OptionValue = str | bool | int | float | Person | Attached


def _option(name: str, value: OptionValue, resolved: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """One command option as Discord types it; a person also goes into ``resolved``."""
    if isinstance(value, Person):
        member = {key: item for key, item in value.member().items() if key != "user"}
        resolved.setdefault("users", {})[str(value.id)] = _user(value.id, value.name)
        resolved.setdefault("members", {})[str(value.id)] = member
        return {"name": name, "type": 6, "value": str(value.id)}
    if isinstance(value, Attached):
        resolved.setdefault("attachments", {})[str(value.id)] = value.resolved()
        return {"name": name, "type": 11, "value": str(value.id)}
    # bool before int: a bool is an int to Python.
    kind = 5 if isinstance(value, bool) else 4 if isinstance(value, int) else 10
    if isinstance(value, str):
        kind = 3
    return {"name": name, "type": kind, "value": value}


def iter_uploads(calls: list[Call]) -> Iterator[Upload]:
    for call in calls:
        yield from call.files
