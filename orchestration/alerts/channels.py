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
    name: str
    setting: str
    label: str

    def url(self) -> str:
        return settings.value(self.setting)

    def payload(self, message: dict[str, Any]) -> dict[str, Any]:
        if self.name == "slack":
            return {"text": f"{slack_escaped(message['text'])} <{message['link']}|Open in Dagster>"}
        return {"source": "taskline", **message}


CHANNELS = (
    Channel("slack", settings.SLACK_WEBHOOK_URL, "Slack incoming webhook"),
    Channel("webhook", settings.WEBHOOK_URL, "JSON webhook"),
)


def slack_escaped(text: str) -> str:
    """Slack reads &, < and > as markup: escaped as its docs ask."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def configured_channels(environ: dict[str, str]) -> list[Channel]:
    """The channels whose setting is set, each an http(s) URL; a malformed one is one sentence naming it."""
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
    return channels


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
