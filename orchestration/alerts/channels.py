"""Where taskline's messages go: Slack-compatible and generic JSON webhooks, set in the environment.

Light on purpose (no Dagster, no dbt): `make serve` checks these settings before it starts anything.
"""

import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from orchestration import settings


class NotifyError(Exception):
    """A channel's setting cannot be used; the message names it (never its value)."""


@dataclass(frozen=True)
class Channel:
    """A place messages go: a setting's URL (a default channel), or one owner's URL in an owners' setting."""

    name: str
    setting: str
    label: str
    kind: str  # slack or webhook: the payload it takes
    owner: str | None = None

    def url(self) -> str:
        given = settings.value(self.setting)
        return owner_urls(self.setting, given)[self.owner] if self.owner else given

    def payload(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.kind == "slack":
            return {"text": f"{slack_escaped(message['text'])} <{message['link']}|Open in Dagster>"}
        return {"source": "taskline", **message}


CHANNELS = (
    Channel("slack", settings.SLACK_WEBHOOK_URL, "Slack incoming webhook", "slack"),
    Channel("webhook", settings.WEBHOOK_URL, "JSON webhook", "webhook"),
)
OWNER_CHANNELS = (
    (settings.OWNER_SLACK_WEBHOOK_URLS, "Slack incoming webhook", "slack"),
    (settings.OWNER_WEBHOOK_URLS, "JSON webhook", "webhook"),
)
OWNER_NAME = re.compile(r"[A-Za-z0-9_-]+")


def slack_escaped(text: str) -> str:
    """Slack reads &, < and > as markup: escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def owner_urls(setting: str, given: str) -> dict[str, str]:
    """`owner=URL owner2=URL2` as {owner: URL}; a malformed entry is one sentence naming the owner, never a URL."""
    urls = {}
    for position, entry in enumerate(given.split(), start=1):
        owner, equals, url = entry.partition("=")
        if not equals or not OWNER_NAME.fullmatch(owner):
            raise NotifyError(
                f"{setting}: entry {position} is not `owner=URL` (an owner is letters, digits, - and _, as "
                "seed task_owners names it)."
            )
        if not is_http_url(url):
            raise NotifyError(f"{setting}: the URL of owner `{owner}` is not an http(s) URL.")
        urls[owner] = url
    return urls


def configured_channels(environ: dict[str, str]) -> list[Channel]:
    """The channels whose setting is set, each an http(s) URL (the defaults, then every owner's); a
    malformed one is one sentence naming it."""
    channels = []
    for channel in CHANNELS:
        given = settings.read(channel.setting, environ)
        if not given:
            continue
        if not is_http_url(given):
            raise NotifyError(
                f"{channel.setting} is not an http(s) URL: set it to the {channel.label}'s address, as its "
                "service gives it."
            )
        channels.append(channel)
    for setting, label, kind in OWNER_CHANNELS:
        for owner in owner_urls(setting, settings.read(setting, environ) or ""):
            channels.append(Channel(f"{kind}:{owner}", setting, label, kind, owner))
    return channels


def channels_for(owner: str | None, channels: list[Channel]) -> list[Channel]:
    """Where a message about `owner`'s task goes: the owner's channels, or the default ones when it has none."""
    own = [channel for channel in channels if owner and channel.owner == owner]
    return own or [channel for channel in channels if channel.owner is None]


# a DNS name or an IPv4 address; an IPv6 one is checked by urlsplit inside its brackets
HOST_NAME = re.compile(
    r"[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*\.?"
)


def is_http_url(given: str) -> bool:
    try:
        parts = urlsplit(given)
        host = parts.hostname or ""
        return (
            parts.scheme in ("http", "https")
            and (":" in host or HOST_NAME.fullmatch(host) is not None)
            and parts.port != 0
            and not any(character.isspace() for character in given)
        )
    except ValueError:  # a port that is not a number, a broken [IPv6] host
        return False


def ui_url(environ: dict[str, str]) -> str:
    given = settings.read(settings.UI_URL, environ)
    if given:
        return given.rstrip("/")
    return f"http://{settings.value(settings.HOST, environ)}:{settings.value(settings.PORT, environ)}"
