"""Credentials out of every text that leaves the process: one redaction path for all outputs.

:func:`redact` hides credentials in a text, :func:`redact_value` in a JSON-like value
(manifests, step results, descriptors, metadata), :class:`RedactingFilter` in log records.
Every output boundary calls one of them: the CLI's error line and ``--debug`` tracebacks,
error payloads, run manifests, :class:`~dataflows_factory.adapters.results.StepResult`
(Airflow XCom, Prefect task results), published descriptors, log records, Prefect
artifacts and Dagster metadata.

Credentials are found by their shape, never by parsing the URL they sit in: a URL that no
parser accepts (a scheme typo, a raw ``@`` in the password) is exactly the one whose
password ends up in an error message. Scheme and host stay visible:

>>> redact("cannot use engine 'postgresql+psycopg2//user:p@ss@db/shop'")
"cannot use engine 'postgresql+psycopg2//***@db/shop'"
>>> redact("host=db user=etl password='se cret' dbname=shop")
"host=db user=etl password='***' dbname=shop"

Where a text is ambiguous the rules hide too much rather than too little: in a URL with a
password, everything up to the last ``@`` followed by a host name is taken as the user and
password (a password may hold ``@``, ``/``, ``?`` or ``#``), so an ``@`` later in that URL's
path or query hides its host too.

Every rule is linear in the length of the text (possessive quantifiers, bounded lengths, a
scanner that reads each token once): error texts can be long and are not trusted.
"""

from __future__ import annotations

import bisect
import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any, TypeVar, cast

__all__ = ["MASK", "RedactingFilter", "redact", "redact_value", "redacting_logs"]

MASK = "***"
_T = TypeVar("_T")
_LONGEST = 1024  # the longest credential value looked for: longer runs are cut there

# -- credentials that name themselves ----------------------------------------------------

_PRIVATE_KEY = re.compile(
    r"(-----BEGIN (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----)[^-]*+"
    r"(-----END (?:[A-Z0-9]+ ){0,4}PRIVATE KEY-----)?")
_AUTHORIZATION = re.compile(
    r"(?i)(?<![\w-])((?:proxy-)?authorization\\?[\"']?[ \t]{0,8}+[:=][ \t]{0,8}+\\?[\"']?"
    r"(?:(?:bearer|basic|digest|token|negotiate|ntlm|aws4-hmac-sha256|sharedkey)[ \t]++)?)"
    r"[^\s'\"\\,]++")
_BEARER = re.compile(
    r"(?i)(?<![\w-])(bearer[ \t]++)(?=[^\s'\"]{0,1024}?[\d._~+/=-])[\w.~+/=-]{8,1024}+")
# Tokens whose prefix says what they are (GitHub, GitLab, Slack, Stripe, AWS key ids,
# Google API keys, JSON Web Tokens): hidden wherever they stand, even without a key name.
_KNOWN_TOKENS = re.compile(
    r"(?<![\w-])(?:gh[pousr]_[A-Za-z0-9]{20,255}+|github_pat_\w{20,255}+|glpat-[\w-]{20,}+"
    r"|xox[abposr]-[\w-]{10,}+|[rs]k_(?:live|test)_\w{10,}+|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|AIza[\w-]{35}|eyJ[\w-]{8,}+\.eyJ[\w-]{8,}+\.[\w-]{8,}+)(?![\w-])")

# -- user:password@ in URLs (and URL-like strings no parser would accept) -----------------

# A scheme and what follows it, typos included: ``s://``, ``s:/``, ``s:``, ``s//``, ``s:\\``,
# or a scheme-relative ``//``.
_TRIGGER = re.compile(
    r"(?<![\w+.-])(?P<scheme>[A-Za-z][\w+.-]{0,63}+)(?P<sep>:[/\\]{0,3}+|[/\\]{2,3}+)"
    r"|(?<![\w:/\\])(?P<relative>//)")
# Where a URL ends in running text: white space, quotes, angle brackets, or an escape
# sequence of JSON or a Python repr (``\n``, ``\"``).
_TOKEN_END = re.compile(r"[\s'\"`<>]|\\[nrt\"'\\]")
_MARKS = re.compile(r"[@:/?#\\;]")
# What a URL parser would take for the host part: ``host``, ``host:port``, ``[::1]:5432``,
# MongoDB's ``h1:27017,h2:27017``. Text like this before the first ``/`` is no password.
_HOSTS = re.compile(
    r"(?:\[[\w:.%]*+\]|[\w.-]++)(?::\d{1,5}+)?(?:,(?:\[[\w:.%]*+\]|[\w.-]++)(?::\d{1,5}+)?)*+")
# What closes a URL that follows one of these characters; after anything else, white space.
_WHITE = " \t\r\n\f\v\\"
_CLOSERS = {"'": "'" + _WHITE, '"': '"' + _WHITE, "`": "`" + _WHITE, "<": ">" + _WHITE}
_AFTER_TOKEN = 256  # how far past its token a password holding a space or a quote may run
_LOOKED_AT = 16  # how many ``@`` of one credential are tried, from the last


class _Token:
    """A run of text without white space or quotes, read once: where its ``@``, ``:`` and
    path characters (``/?#\\;``) are, so each URL starting in it costs a few bisections."""

    def __init__(self, text: str, start: int) -> None:
        found = _TOKEN_END.search(text, start)
        self.start, self.end = start, found.start() if found else len(text)
        self.ats: list[int] = []
        self.colons: list[int] = []
        self.paths: list[int] = []
        for mark in _MARKS.finditer(text, start, self.end):
            char = mark.group()
            (self.ats if char == "@" else self.colons if char == ":" else self.paths).append(
                mark.start())

    def first(self, marks: list[int], start: int, stop: int) -> int:
        """The first position of ``marks`` in ``[start, stop)``, or ``stop``."""
        index = bisect.bisect_left(marks, start)
        return marks[index] if index < len(marks) and marks[index] < stop else stop

    def last_at(self, text: str, start: int, stop: int) -> int:
        """The last ``@`` in ``(start, stop)`` followed by a host name, or -1."""
        low = bisect.bisect_right(self.ats, start)
        high = bisect.bisect_left(self.ats, stop)
        for index in range(high - 1, max(low, high - _LOOKED_AT) - 1, -1):
            if _host_follows(text, self.ats[index]):
                return self.ats[index]
        return -1


def _host_follows(text: str, at: int) -> bool:
    return at + 1 < len(text) and (text[at + 1].isalnum() or text[at + 1] in "[_")


def _userinfo_end(text: str, token: _Token, start: int, bare: bool, opener: str) -> int:
    """Where the user and password of the URL part starting at ``start`` end (its ``@``),
    or -1 when that part holds none; ``opener`` is the character before the URL."""
    limit = min(token.end, start + _LONGEST)
    cut = token.first(token.paths, start, limit)  # where a parser would see the path start
    at = token.last_at(text, start, cut)  # plain userinfo, raw ``@`` in the password included
    if bare:  # ``user:password@host`` without slashes holds no path character
        return at
    # Does the URL really end where its token does (white space, its closing quote)?
    closed = token.end == len(text) or text[token.end] in _CLOSERS.get(opener, _WHITE)
    first_at = token.first(token.ats, start, cut)
    if at >= 0 and _host_part(text, token, at + 1, cut, closed):
        # ``user:p@ss/w?rd@host`` or ``user:pw@host/path?to=ada@example.com``: hiding too
        # much is the safe reading, so a ``user:`` start takes the last ``@`` of the URL.
        later = token.last_at(text, cut, limit)
        return later if later >= 0 and token.first(token.colons, start, first_at) < first_at \
            else at
    # No host after the ``@`` (``ada@example.com:pa#ss@host``), or no ``@`` before the path
    # and a ``user:`` start (``user:pa/ss@host``, ``user:pa ss@host``): the password holds
    # ``/?#;``, a space or a quote, and ends at a later ``@``.
    if at < 0 and (token.first(token.colons, start, cut) == cut
                   or _host_part(text, token, start, cut, closed)):
        return -1
    later = token.last_at(text, cut, limit)
    later = later if later >= 0 else _after_token(text, token)
    return later if later >= 0 else at


def _host_part(text: str, token: _Token, begin: int, end: int, closed: bool) -> bool:
    """Whether ``text[begin:end]`` reads as the host part of a URL ending or going on there."""
    if _HOSTS.fullmatch(text, begin, end) is None:
        return False
    if end == token.end:
        return closed
    # ``host:5432/db``; but ``user:12?ab`` or ``user:12#ab`` is a password, not a port.
    return text[end] in "/\\" or token.first(token.colons, begin, end) == end


def _after_token(text: str, token: _Token) -> int:
    """The first ``@`` followed by a host after ``token``, on its line and close to it, or -1."""
    stop = min(len(text), token.end + _AFTER_TOKEN)
    newline = text.find("\n", token.end, stop)
    stop = stop if newline < 0 else newline
    at = text.find("@", token.end, stop)
    while at >= 0 and not _host_follows(text, at):
        at = text.find("@", at + 1, stop)
    return at


def _redact_userinfo(text: str) -> str:
    if "@" not in text:
        return text
    pieces: list[str] = []
    done = 0  # text[:done] is settled
    token = _Token(text, len(text))
    for match in _TRIGGER.finditer(text):
        start = match.end()
        if match.start() < done:
            continue
        if not token.start <= start < token.end:
            token = _Token(text, start)
        bare = match.group("sep") == ":"
        if bare and match.group("scheme").lower() == "mailto":
            continue
        opener = text[match.start() - 1] if match.start() else ""
        at = _userinfo_end(text, token, start, bare, opener)
        if at > start:
            pieces += [text[done:start], MASK]
            done = at
    return "".join(pieces) + text[done:] if pieces else text


# -- key=value, key: value, "key": "value" ------------------------------------------------

_KEY = re.compile(
    r"(?<![\w.-])(?P<key>-{0,2}+[A-Za-z_][\w.-]{0,99}+)(?P<quoted>\\?[\"'])?[ \t]{0,8}+"
    r"(?P<sep>=(?!=)|:(?!/))[ \t]{0,8}+")
_VALUE = re.compile(
    r"\\\"(?P<escaped>(?:(?!\\\")[^\n]){0,1024}+)\\\""
    r"|[bBrRuU]{0,2}+(?P<quote>[\"'])"
    r"(?P<quoted>(?:(?!(?P=quote))[^\\\n]|\\[^\n]){0,1024}+)(?P=quote)"
    r"|\{(?P<braced>[^}\n]{0,1024}+)\}"
    r"|(?P<bare>[^\s&;,'\"<>)\]}\\]{1,1024}+)"
    r"|\\?[\"'](?P<unclosed>[^\s'\"\\]{1,1024}+)")  # a quote cut off (a truncated line)
# Key names (lower case, without ``_``, ``-``, ``.``) holding a secret: containing one of
# these words (``DB_PASSWORD``, ``client_secret``, ``X-Amz-Security-Token``, ``api_key``) ...
_SECRET_WORDS = ("password", "passwd", "passphrase", "pwd", "secret", "apikey", "accesskey",
                 "accountkey", "privatekey", "sessionkey", "credential", "token", "signature")
# ... or exactly one of these (``?sig=`` of an Azure SAS URL).
_SECRET_NAMES = frozenset({"pass", "pw", "sig", "sas", "auth"})
# Words that also name ordinary things ("unexpected token: ')'", "no credentials: ..."):
# with ``:``, only when the key is quoted (JSON, a dict repr).
_COMMON_NAMES = frozenset({"token", "tokens", "signature", "sig", "sas", "auth", "pass",
                           "credential", "credentials", "secret", "secrets"})
# Exception names are not keys: ``NoCredentialsError: Unable to locate credentials``,
# ``InvalidSignature: ...`` (with ``:``, a CamelCase key is taken for a class name).
_EXCEPTION_SUFFIXES = ("error", "exception", "warning")
_CLASS_NAME = re.compile(r"[A-Z][a-z0-9]++[A-Z][A-Za-z0-9]*+")
_NOT_SECRET = frozenset({MASK, "null", "None", "true", "false", "True", "False"})


def _secret_key(key: str, colon: bool, quoted: bool) -> bool:
    name = re.sub(r"[-_.]", "", key.lower())
    if name.endswith(_EXCEPTION_SUFFIXES):
        return False
    if colon and not quoted and (name in _COMMON_NAMES
                                 or _CLASS_NAME.fullmatch(key.rsplit(".", 1)[-1])):
        return False
    return name in _SECRET_NAMES or any(word in name for word in _SECRET_WORDS)


def _redact_values(text: str) -> str:
    pieces: list[str] = []
    done = 0
    for match in _KEY.finditer(text):
        if match.start() < done or not _secret_key(match.group("key"), match.group("sep") == ":",
                                                   match.group("quoted") is not None):
            continue
        value = _VALUE.match(text, match.end())
        if value is None:
            continue
        group = next(name for name in ("escaped", "quoted", "braced", "bare", "unclosed")
                     if value.group(name) is not None)
        start, end = value.span(group)
        if end > start and text[start:end] not in _NOT_SECRET:
            pieces += [text[done:start], MASK]
            done = end
    return "".join(pieces) + text[done:] if pieces else text


# -- the one path --------------------------------------------------------------------------


# Something every rule needs: without any of these, a text holds no credential it finds.
_CANDIDATE = re.compile(r"[@=:]|(?i:bearer)|PRIVATE KEY|gh[pousr]_|github_pat_|glpat-"
                        r"|xox[abposr]-|k_live_|k_test_|AKIA|ASIA|AIza|eyJ")


def _private_key(match: re.Match[str]) -> str:
    return f"{match.group(1)}{MASK}{match.group(2) or ''}"


def redact(text: str) -> str:
    """``text`` with every credential replaced by ``***``; scheme, host and key names kept.

    >>> redact("s3://KEY:SECRET@bucket/prefix?X-Amz-Signature=abc123")
    's3://***@bucket/prefix?X-Amz-Signature=***'
    >>> redact("mail ada@example.com at 12:30 about /srv/data, a,b,c")
    'mail ada@example.com at 12:30 about /srv/data, a,b,c'
    """
    if _CANDIDATE.search(text) is None:  # most texts: one scan, nothing to hide
        return text
    if "-----BEGIN" in text:
        text = _PRIVATE_KEY.sub(_private_key, text)
    text = _AUTHORIZATION.sub(rf"\1{MASK}", text)
    text = _redact_userinfo(text)
    text = _redact_values(text)
    text = _BEARER.sub(rf"\1{MASK}", text)
    return _KNOWN_TOKENS.sub(MASK, text)


def redact_value(value: _T) -> _T:
    """``value`` with :func:`redact` applied to every string in it (dict keys included),
    through dicts, lists and tuples; other values are returned as they are.

    >>> redact_value({"source": "https://u:pw@host/x.csv", "rows": [1, 2]})
    {'source': 'https://***@host/x.csv', 'rows': [1, 2]}
    """
    return cast(_T, _redacted(value))


def _redacted(value: Any) -> Any:
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {_redacted(key): _redacted(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_redacted(item) for item in value]
    if isinstance(value, tuple):
        items = [_redacted(item) for item in value]
        return tuple(items) if type(value) is tuple else type(value)(*items)
    return value


# -- log records ----------------------------------------------------------------------------

_STANDARD_ATTRIBUTES = frozenset(vars(logging.makeLogRecord({}))) | {"message", "asctime"}
_FORMATTER = logging.Formatter()


class RedactingFilter(logging.Filter):
    """Redacts a record in place: message (arguments merged in), traceback, stack, extras.

    A filter on a *handler*, because records leave a process through handlers (a filter on
    a logger sees only that logger's own records, not those propagated to it). The
    traceback is formatted, redacted and appended to the message, and ``exc_info`` dropped:
    handlers that render an exception themselves (Rich, structlog) would otherwise print
    its unredacted messages and chained causes.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "dff_redacted", False):
            return True
        try:
            message = record.getMessage()
        except Exception:  # arguments that do not fit the format: show both, redacted
            message = f"{record.msg} {record.args}"
        if record.exc_info and not record.exc_text:
            record.exc_text = _FORMATTER.formatException(record.exc_info)
        if record.exc_text:
            message = f"{message}\n{record.exc_text}"
        record.msg, record.args = redact(message), None
        record.exc_info, record.exc_text = None, None
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        for name, value in list(vars(record).items()):
            if name not in _STANDARD_ATTRIBUTES and isinstance(value, str | dict | list | tuple):
                setattr(record, name, redact_value(value))
        if "message" in vars(record):
            record.message = record.msg
        record.dff_redacted = True
        return True


_INSTALLED: dict[str, Any] = {"depth": 0, "handlers": set()}
_INSTALL_LOCK = threading.Lock()
_FILTER = RedactingFilter()


def _every_handler() -> set[logging.Handler]:
    # list() copies in one C call: loggers other threads create meanwhile do not matter.
    known = list(logging.Logger.manager.loggerDict.values())
    loggers = [logging.getLogger(), *(item for item in known if isinstance(item, logging.Logger))]
    return {handler for logger in loggers for handler in list(logger.handlers)}


@contextlib.contextmanager
def redacting_logs() -> Iterator[None]:
    """While the block runs, every log handler of this process redacts what it emits.

    For steps run in the host's own process (Airflow and Dagster tasks, thread steps):
    their records (ours, dataflows', SQLAlchemy's) go to handlers the host installed (the
    task log, the event log, the console), so the filter goes on those handlers, for the
    duration of the step. Nested and concurrent blocks share one installation.
    """
    with _INSTALL_LOCK:
        handlers = _every_handler()
        for handler in handlers - _INSTALLED["handlers"]:
            handler.addFilter(_FILTER)
        _INSTALLED["handlers"] |= handlers
        _INSTALLED["depth"] += 1
    try:
        yield
    finally:
        with _INSTALL_LOCK:
            _INSTALLED["depth"] -= 1
            if _INSTALLED["depth"] == 0:
                for handler in _INSTALLED["handlers"]:
                    handler.removeFilter(_FILTER)
                _INSTALLED["handlers"] = set()
